package hnsw

import (
	"slices"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
)

// Vector returns a copy of the vector stored under key: as given for L2, inner product and L1,
// normalised for cosine (which ranks the same). It reports false when the key is absent or the
// index keeps only quantised codes.
func (x *Index) Vector(key ann.Key) ([]float32, bool) { return x.VectorInto(nil, key) }

// VectorInto is Vector into dst's storage (grown when short), for callers that read many.
func (x *Index) VectorInto(dst []float32, key ann.Key) ([]float32, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.raw {
		return nil, false
	}
	x.allocMu.Lock()
	id, ok := x.lookup(key)
	x.allocMu.Unlock()
	if !ok || atomic.LoadUint32(&x.dead[id]) != 0 {
		return nil, false
	}
	v := slices.Grow(dst[:0], x.cfg.Dims)[:x.cfg.Dims]
	if got := x.exactVec(&query{vbuf: v}, id); &got[0] != &v[0] {
		copy(v, got)
	}
	return v, true
}

// Originals reports whether Vector returns the vectors as they were inserted (an index that
// keeps vectors; for cosine, one not read from a file of the older format, which held them
// normalised).
func (x *Index) Originals() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.raw && !x.normalised
}
