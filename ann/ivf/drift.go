package ivf

import (
	"cmp"
	"math"
	"slices"

	"github.com/vecgate/vecgate/ann/internal/topk"
	"github.com/vecgate/vecgate/vecmath"
)

// Drift of codes. A codec keeps what it learnt from the rows it was trained on: SQ8 their range,
// PQ codebooks of their residuals, binary their per-dimension means. A row filed later far outside
// them gets codes that do not place it (clipped SQ8 components, a PQ code for a residual no
// codeword is near, the same sign bits as every other far row): such rows share codes, and a
// search for one can miss it. So a row of a quantised index is measured as it is filed, against a
// bound calibrated on the training rows, and a drifted row goes to the pending rows instead of its
// cell: those are scanned exactly (float32) by every search, beside the probed cells (as the rows
// of an untrained index are). A Retrain (live runs it for flat and SQ8 twins, retrain.go) files
// them again under its new codec; PQ and binary twins keep them pending until a reload.
//
// The measure: for SQ8 the share of the row's energy outside the codec's range
// (sq8.Codec.Clipped, bound sq8.Codec.DriftBound); for PQ and binary, whose codes are relative to
// the row's centroid or to the training means, the row's squared distance to its centroid, past
// driftSpread times the 99.9th percentile of the training rows' (twice as far from every centroid
// as nearly all the training rows were). Sign bits say nothing of how far a row is, and on the
// unit sphere (cosine) rows from another orthant are barely farther from their centroid than the
// farthest training rows, yet share their bits: a binary row is drifted also when maxSameCode rows
// of its cell already have its very code (in the tests, rows ×50 in the positive orthant all had
// every bit set).

// maxWiden: a Retrain keeps its SQ8 codec when the one trained on the current rows has a range
// more than this many times wider (rows far outside the rest, ×50, would leave every other row a
// few dozen codes): those rows stay pending, exact (as hnsw.Index.Requantize does).
const maxWiden = 4

// driftSpread: a PQ or binary row is drifted when its squared distance to its centroid is more
// than this many times the 99.9th percentile of the training rows'.
const driftSpread = 4

// maxSameCode: a binary row is drifted when this many rows of its cell have its code.
const maxSameCode = 4

// driftBound calibrates the drift bound on the prepared training sample (after fit set the
// centroids and codec); 0 for flat cells.
func (x *Index) driftBound(sample []float32) float64 {
	d := x.cfg.Dims
	switch x.cfg.Codes {
	case CodesSQ8:
		return x.sq.DriftBound(sample)
	case CodesPQ, CodesBinary:
		n := len(sample) / d
		spreads := make([]float64, 0, n)
		for i := range n {
			v := sample[i*d : (i+1)*d]
			c, _ := x.assign(v)
			spreads = append(spreads, float64(x.spread(v, c)))
		}
		if len(spreads) == 0 {
			return 0
		}
		slices.Sort(spreads)
		q := spreads[min(len(spreads)-1, int(math.Ceil(0.999*float64(len(spreads)-1))))]
		if q <= 0 { // every training row on its centroid: any distance is far
			q = math.SmallestNonzeroFloat32
		}
		return driftSpread * q
	}
	return 0
}

// drifted reports whether a prepared row v, at squared distance spread from the centroid of its
// cell c, is drifted past the index's bound (never for flat cells or an unknown bound).
func (x *Index) drifted(v []float32, spread float32, c int) bool {
	if x.bound <= 0 {
		return false
	}
	switch x.cfg.Codes {
	case CodesSQ8:
		return x.sq.Clipped(v) > x.bound
	case CodesPQ:
		return float64(spread) > x.bound
	case CodesBinary:
		return float64(spread) > x.bound || x.sameCodes(v, c) >= maxSameCode
	}
	return false
}

// sameCodes counts the rows of cell c whose binary code is v's, up to maxSameCode.
func (x *Index) sameCodes(v []float32, c int) int {
	w := x.bin.Words()
	code := make([]uint64, w)
	x.bin.Encode(v, code)
	bits := x.cells[c].bits
	n := 0
	for i := 0; i+w <= len(bits) && n < maxSameCode; i += w {
		if slices.Equal(bits[i:i+w], code) {
			n++
		}
	}
	return n
}

// Drifted returns how many rows of a trained index are drifted past its codes and scanned
// exactly (0 for an untrained index, whose rows are all scanned so).
func (x *Index) Drifted() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.trained {
		return 0
	}
	return len(x.pendIDs)
}

// scanPendingBinary pushes a trained binary index's pending (drifted) rows into h in the units of
// its cells' rows, Hamming distances: each row's Hamming distance to the query plus, below 1, its
// place in the exact order of the pending rows. A drifted row thus competes with the cells' rows
// as its code would, and among rows that share a code the exact order decides (a Hamming
// distance on its own would leave them tied; an exact distance on its own is in other units).
func (x *Index) scanPendingBinary(q *qprep, h *topk.Max, kk int, accept func(uint32) bool) {
	d := x.cfg.Dims
	w := x.bin.Words()
	code := make([]uint64, w)
	type row struct {
		id    uint32
		ham   int
		exact float32
	}
	rows := make([]row, 0, len(x.pendIDs))
	for i, id := range x.pendIDs {
		if accept != nil && !accept(id) {
			continue
		}
		v := x.prep(x.pendVecs[i*d:(i+1)*d], nil)
		x.bin.Encode(v, code)
		rows = append(rows, row{id: id, ham: vecmath.Hamming(q.bits, code), exact: x.flatRank(q.v, v)})
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.exact, b.exact) })
	for i, r := range rows {
		h.PushBounded(topk.Item{Dist: float32(r.ham) + float32(i)/float32(len(rows)+1), ID: r.id}, kk)
	}
}
