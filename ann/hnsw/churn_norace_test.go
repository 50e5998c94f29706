//go:build !race

package hnsw

// churnPhases: TestChurnStaysExact's phases.
const churnPhases = 6

// churnSeeds: its seeds (each a metric in turn).
const churnSeeds = 8
