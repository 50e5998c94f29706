// Package flat is vecgate's exact index: every query scans every (allowed)
// vector. It is the answer for small tables, for selective filters, for
// ORDER BY … DESC (the most dissimilar rows, [ann.SearchOptions.Farthest]),
// and the ground-truth generator of the benchmarks ([GroundTruth]).
//
// The scan is blocked and parallel (the "chunkdot" technique): the rows are
// cut into blocks sized to stay in cache, worker goroutines (one per core by
// default) take blocks from a shared counter and keep a running top-k per
// query, and the per-worker heaps are merged at the end. Batch searches keep
// their scratch memory (per-worker heaps for a group of queries) under
// Config.MemoryBudget by processing queries in groups. Long scans report
// progress through a callback.
//
// Invariants: vectors are stored contiguously (row i at vecs[i*dims:]) with
// no holes — Delete moves the last row into the freed slot, so memory really
// shrinks; keys[i] is row i's key and ids[keys[i]] == i. One RWMutex guards
// the store: searches share it, writers take it exclusively.
package flat
