package ann

import (
	"context"
	"io"
)

// Result is one search hit.
type Result struct {
	Key      Key
	Distance float64 // in pgvector's units for the index's metric
}

// SearchOptions are per-query knobs. The zero value means defaults.
type SearchOptions struct {
	// EF is HNSW's candidate list size (hnsw.ef_search); 0 means the
	// index default (40). Raised to k when smaller.
	EF int
	// Probes is IVF's number of lists to visit (ivfflat.probes); 0 means
	// the index default (1).
	Probes int
	// Filter, when set, restricts results to keys for which it returns
	// true. It may be called concurrently and must not call the index.
	Filter func(Key) bool
	// Oversample multiplies the candidates taken from a quantised index
	// before the full-precision rerank (when the index keeps raw vectors);
	// 0 means the index default.
	Oversample float64
	// Farthest returns the k most dissimilar vectors instead of the
	// nearest (ORDER BY … DESC). Only exact indexes support it; others
	// return ErrUnsupported.
	Farthest bool
}

// Index is the contract of an in-memory vector index. All methods are safe
// for concurrent use: many searches may run with writers.
type Index interface {
	// Metric returns the index's distance.
	Metric() Metric
	// Dims returns the dimension of the vectors the index accepts.
	Dims() int
	// Add inserts vec under key, or replaces the vector if key is present.
	Add(key Key, vec []float32) error
	// Delete removes key; it reports whether the key was present.
	Delete(key Key) bool
	// Search returns up to k results ordered by ascending distance.
	Search(ctx context.Context, query []float32, k int, opts SearchOptions) ([]Result, error)
	// Len returns the number of live keys.
	Len() int
	// MemoryBytes estimates the heap bytes the index holds.
	MemoryBytes() int64
	// Save writes the index in its versioned, checksummed file format.
	// The matching Load function lives in the implementation's package.
	Save(w io.Writer) error
}
