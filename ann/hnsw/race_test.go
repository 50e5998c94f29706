//go:build race

package hnsw_test

// raceOn: the race detector is on (its tests build less).
const raceOn = true
