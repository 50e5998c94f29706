package vecmath

import "math"

// Normalize scales v in place to unit length; a zero vector is left alone.
//
// The squared norm is summed in float64 in index order, not with the
// float32 kernels: the result does not depend on the kernel set the CPU
// picked, so an index built (and saved) on one machine holds the same unit
// vectors as one built on another.
func Normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	f := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= f
	}
}

// InvNorm returns 1/|v| (the squared norm summed by the active Dot kernel),
// or 0 for a zero vector.
func InvNorm(v []float32) float32 {
	n := math.Sqrt(float64(SquaredNorm(v)))
	if n == 0 {
		return 0
	}
	return float32(1 / n)
}

// CosineFromParts turns a dot product and two squared norms into pgvector's
// cosine distance: 1 - dot/sqrt(na*nb), similarity clamped to [-1, 1], NaN
// when either norm is zero.
func CosineFromParts(dot, na, nb float64) float64 {
	sim := dot / math.Sqrt(na*nb)
	if math.IsNaN(sim) {
		return math.NaN()
	}
	if sim > 1 {
		sim = 1
	} else if sim < -1 {
		sim = -1
	}
	return 1 - sim
}
