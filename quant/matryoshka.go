package quant

import (
	"fmt"

	"github.com/vecgate/vecgate/vecmath"
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
		vecmath.Normalize(out)
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
			vecmath.Normalize(out[start:])
		}
	}
	return out, nil
}
