//go:build race

package hnsw

// raceEnabled: built with -race. The race detector does not see atomic loads and stores on
// memory outside the Go heap as synchronisation, so under it the anonymous chunks (whose
// neighbour lists are read and written atomically) stay on the heap (offheap_unix.go).
const raceEnabled = true
