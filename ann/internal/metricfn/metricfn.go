// Package metricfn turns a metric into the two functions indexes need: a
// fast ranking distance (smaller is better, monotone in pgvector's distance)
// and the exact pgvector distance reported in results.
package metricfn

import (
	"math"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/vecmath"
)

// Rank returns m's ranking distance between q and v: squared L2 for L2,
// -dot for inner product, 1 - cos (from the inverse norms) for cosine, L1 for
// L1. qInv and vInv are only read for cosine.
func Rank(m ann.Metric, q, v []float32, qInv, vInv float32) float32 {
	switch m {
	case ann.L2:
		return vecmath.L2Squared(q, v)
	case ann.InnerProduct:
		return -vecmath.Dot(q, v)
	case ann.Cosine:
		return 1 - vecmath.Dot(q, v)*qInv*vInv
	default:
		return vecmath.L1(q, v)
	}
}

// Exact returns pgvector's distance between q and v under m.
func Exact(m ann.Metric, q, v []float32) float64 {
	switch m {
	case ann.L2:
		return math.Sqrt(float64(vecmath.L2Squared(q, v)))
	case ann.InnerProduct:
		return -float64(vecmath.Dot(q, v))
	case ann.Cosine:
		return vecmath.CosineFromParts(float64(vecmath.Dot(q, v)),
			float64(vecmath.SquaredNorm(q)), float64(vecmath.SquaredNorm(v)))
	default:
		return float64(vecmath.L1(q, v))
	}
}

// FromRank converts a ranking distance to pgvector's units without the
// vectors (for indexes that keep only codes; approximate for cosine).
func FromRank(m ann.Metric, r float32) float64 {
	switch m {
	case ann.L2:
		if r < 0 {
			r = 0
		}
		return math.Sqrt(float64(r))
	case ann.Cosine:
		return math.Max(0, math.Min(2, float64(r)))
	}
	return float64(r)
}
