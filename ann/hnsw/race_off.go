//go:build !race

package hnsw

// raceEnabled: built with -race (race_on.go).
const raceEnabled = false
