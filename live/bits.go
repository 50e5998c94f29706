package live

import (
	"math"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/replication"
)

// Hamming twins: of a bit column's bit_hamming_ops index, and of an index on
// `(binary_quantize(col)::bit(n))` of a vector column. The engine has no index over packed bits,
// so a twin holds each bit as a float32 0 or 1 and ranks by L2: the squared L2 distance of two
// such vectors is their Hamming distance, exactly (integers summed in float32, far below 2^24),
// so the order is Hamming's, ties included, and Search hands out the Hamming distance itself
// (hammingDistances). The cost is memory: 32 bits per bit, as much as a vector of that many
// dimensions. The twin's Metric is ann.Hamming (what the query path looks up); its engine's is
// L2 (engineMetric). bit_jaccard_ops indexes get no twin.

// hammingTwin reports whether ci on t is ranked by Hamming distance over bits.
func hammingTwin(t replication.TargetInfo, ci catalog.Index) bool {
	if ci.Expression {
		return ci.Expr == catalog.ExprBinaryQuantize
	}
	return t.Kind == catalog.TypeBit
}

// twinOf is the twin of the pgvector index ci (metric m) on t.
func twinOf(t replication.TargetInfo, ci catalog.Index, m ann.Metric, kf keyFields, opts Options) (*Index, error) {
	if t.Kind == catalog.TypeSparsevec {
		opts.SQ8MinDims = 0 // mostly zeros: float32, exact (sparse.go)
	}
	if m != ann.Hamming {
		return catalogTwin(t, ci, m, kf, opts)
	}
	opts.SQ8MinDims = 0 // bits: float32 0/1, ranked exactly
	ix, err := catalogTwin(t, ci, ann.L2, kf, opts)
	if err != nil {
		return nil, err
	}
	ix.Metric = ann.Hamming
	return ix, nil
}

// engineMetric is the metric an index of metric m ranks by in the engine.
func engineMetric(m ann.Metric) ann.Metric {
	if m == ann.Hamming {
		return ann.L2
	}
	return m
}

// bitValues returns a bit value's bits as float32 0 and 1, first bit first.
func bitValues(v replication.Vector) []float32 {
	out := make([]float32, v.Dim)
	for i := range out {
		if v.Bits[i/8]&(0x80>>(i%8)) != 0 {
			out[i] = 1
		}
	}
	return out
}

// quantizeBits maps v to binary_quantize's bits as float32 0 and 1: 1 where the value is
// positive (pgvector's binary_quantize: `ax[i] > 0`; NaN is not positive).
func quantizeBits(v []float32) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		if x > 0 {
			out[i] = 1
		}
	}
	return out
}

// hammingDistances turns the L2 distances of 0/1 vectors into Hamming distances (their squares,
// which are integers).
func hammingDistances(res []ann.Result) {
	for i := range res {
		res[i].Distance = math.Round(res[i].Distance * res[i].Distance)
	}
}
