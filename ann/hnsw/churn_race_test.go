//go:build race

package hnsw

// churnPhases: TestChurnStaysExact's phases (fewer under the race detector, which is slower).
const churnPhases = 2

// churnSeeds: its seeds (each a metric in turn).
const churnSeeds = 2
