package live

import (
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/replication"
)

// Sparse twins: a sparsevec(n) column's sparsevec_*_ops index gets a twin that holds each row
// expanded to its n dense float32 values (the zeros written out), so the engine ranks it as a
// vector: the same distances up to the summation order (a zero adds nothing), which the
// planner's near-tie rules cover as for vectors. Distances and the column's values are not
// printed from memory (Sparse: pgvector sums over the non-zero elements). A column of more
// than maxSparseDims dimensions (vocabularies of tens of thousands: SPLADE, BM25) gets no twin:
// its dense rows would cost 4 bytes per dimension each, past the engine's ann.MaxDims.

// maxSparseDims bounds the sparsevec columns that get a twin.
const maxSparseDims = ann.MaxDims

// Sparse reports whether the twin is of a sparsevec column.
func (ix *Index) Sparse() bool { return ix.sparse }

// denseValues expands a sparse value to its dense float32 values.
func denseValues(v replication.Vector) []float32 {
	out := make([]float32, v.Dim)
	for i, at := range v.Indices {
		if int(at) < len(out) && i < len(v.Values) {
			out[at] = v.Values[i]
		}
	}
	return out
}

// sparseTwin reports whether t is a sparsevec column that can have twins.
func sparseTwin(t replication.TargetInfo) bool {
	return t.Kind == catalog.TypeSparsevec && t.Dims > 0 && t.Dims <= maxSparseDims
}
