package quant

import (
	"fmt"
	"math"
)

// Truncate returns the first dims components of v in a new slice, rescaled
// to unit length when renormalize is set (what Matryoshka-trained embedding
// models expect for cosine and inner product). A zero prefix is returned
// as is.
func Truncate(v []float32, dims int, renormalize bool) ([]float32, error) {
	if dims <= 0 || dims > len(v) {
		return nil, fmt.Errorf("quant: truncate %d-dim vector to %d dims: out of range", len(v), dims)
	}
	out := append([]float32(nil), v[:dims]...)
	if renormalize {
		Normalize(out)
	}
	return out, nil
}

// TruncateRows truncates contiguous rows of from dims to rows of to dims.
func TruncateRows(data []float32, from, to int, renormalize bool) ([]float32, error) {
	if from <= 0 || len(data)%from != 0 || to <= 0 || to > from {
		return nil, fmt.Errorf("quant: truncate rows of %d dims to %d: out of range", from, to)
	}
	n := len(data) / from
	out := make([]float32, 0, n*to)
	for i := range n {
		row := data[i*from : i*from+to]
		start := len(out)
		out = append(out, row...)
		if renormalize {
			Normalize(out[start:])
		}
	}
	return out, nil
}

// Normalize scales v in place to unit length; a zero vector is left alone.
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
