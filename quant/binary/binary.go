package binary

import (
	"fmt"

	"github.com/vecgate/vecgate/vecmath"
)

// Codec packs sign bits. It is immutable after creation.
type Codec struct {
	Dims    int
	Offsets []float32 // per-dimension threshold; nil means 0
}

// New returns a codec thresholding at zero.
func New(dims int) (*Codec, error) {
	if dims <= 0 {
		return nil, fmt.Errorf("binary: dims %d must be positive", dims)
	}
	return &Codec{Dims: dims}, nil
}

// Train returns a codec thresholding each dimension at the mean of sample
// (rows of dims floats).
func Train(sample []float32, dims int) (*Codec, error) {
	if dims <= 0 || len(sample) == 0 || len(sample)%dims != 0 {
		return nil, fmt.Errorf("binary: train: %d values are not rows of %d", len(sample), dims)
	}
	n := len(sample) / dims
	sum := make([]float64, dims)
	for i := range n {
		for j, v := range sample[i*dims : (i+1)*dims] {
			sum[j] += float64(v)
		}
	}
	off := make([]float32, dims)
	for j := range off {
		off[j] = float32(sum[j] / float64(n))
	}
	return &Codec{Dims: dims, Offsets: off}, nil
}

// Words returns the number of uint64 words per code.
func (c *Codec) Words() int { return (c.Dims + 63) / 64 }

// BytesPerVector is the memory of one code.
func (c *Codec) BytesPerVector() int { return 8 * c.Words() }

// Encode writes v's bits into dst (len Words): bit i set when v[i] >
// offset[i].
func (c *Codec) Encode(v []float32, dst []uint64) {
	dst = dst[:c.Words()]
	clear(dst)
	for i, x := range v[:c.Dims] {
		t := float32(0)
		if c.Offsets != nil {
			t = c.Offsets[i]
		}
		if x > t {
			dst[i>>6] |= 1 << (uint(i) & 63)
		}
	}
}

// Distance returns the Hamming distance of two codes.
func (c *Codec) Distance(a, b []uint64) int { return vecmath.Hamming(a, b) }
