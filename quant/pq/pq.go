// Package pq is product quantisation: a vector is cut into M sub-vectors,
// each replaced by the index (one byte) of its nearest centroid in that
// sub-space's codebook of up to 256 centroids trained with k-means. A code is
// M bytes (e.g. 16-64× smaller than float32). Distances use asymmetric
// tables: per query, the distance of each query sub-vector to every centroid
// of its codebook, then one table lookup per byte.
package pq

import (
	"context"
	"fmt"

	"github.com/vecgate/vecgate/quant/kmeans"
	"github.com/vecgate/vecgate/vecmath"
)

// maxTrainRows bounds the rows the codebooks train on (FAISS uses a
// similar bound: 256 centroids x 39).
const maxTrainRows = 10000

// Codec is a trained product quantiser; immutable and safe for concurrent
// use.
type Codec struct {
	Dims, M int
	K       int       // centroids per codebook (<= 256)
	Bounds  []int     // M+1 sub-vector boundaries
	Books   []float32 // codebook s at [K*Bounds[s], K*Bounds[s+1]): K rows of the segment's width
}

// Train learns M codebooks from rows of data (dims floats each). Segments
// differ by at most one dimension when M does not divide dims.
func Train(ctx context.Context, data []float32, dims, m int, iters int, seed uint64, threads int) (*Codec, error) {
	if dims <= 0 || m <= 0 || m > dims || len(data) == 0 || len(data)%dims != 0 {
		return nil, fmt.Errorf("pq: train %d values as %d-dim rows in %d segments: bad shape", len(data), dims, m)
	}
	// Codebooks of 256 centroids need a few thousand rows, not all of
	// them: subsample (strided) to bound training time.
	if n := len(data) / dims; n > maxTrainRows {
		step := n / maxTrainRows
		sub := make([]float32, 0, maxTrainRows*dims+dims)
		for i := 0; i < n; i += step {
			sub = append(sub, data[i*dims:(i+1)*dims]...)
		}
		data = sub
	}
	n := len(data) / dims
	c := &Codec{Dims: dims, M: m, K: min(256, n), Bounds: make([]int, m+1)}
	for s := range m + 1 {
		c.Bounds[s] = s * dims / m
	}
	c.Books = make([]float32, c.K*dims)
	for s := range m {
		lo, hi := c.Bounds[s], c.Bounds[s+1]
		w := hi - lo
		sub := make([]float32, 0, n*w)
		for i := range n {
			sub = append(sub, data[i*dims+lo:i*dims+hi]...)
		}
		cent, err := kmeans.Train(ctx, sub, w, c.K, iters, seed+uint64(s), false, threads)
		if err != nil {
			return nil, fmt.Errorf("pq: train segment %d: %w", s, err)
		}
		copy(c.Books[c.K*lo:], cent)
	}
	return c, nil
}

func (c *Codec) book(s int) ([]float32, int) {
	lo, hi := c.Bounds[s], c.Bounds[s+1]
	return c.Books[c.K*lo : c.K*hi], hi - lo
}

// Encode writes v's M code bytes into dst.
func (c *Codec) Encode(v []float32, dst []uint8) {
	for s := range c.M {
		b, w := c.book(s)
		dst[s] = uint8(kmeans.Nearest(b, w, v[c.Bounds[s]:c.Bounds[s+1]]))
	}
}

// Decode writes the reconstruction of code into dst (Dims floats).
func (c *Codec) Decode(code []uint8, dst []float32) {
	for s := range c.M {
		b, w := c.book(s)
		j := int(code[s])
		copy(dst[c.Bounds[s]:c.Bounds[s+1]], b[j*w:(j+1)*w])
	}
}

// TableSize is the number of floats of a distance table.
func (c *Codec) TableSize() int { return c.M * 256 }

// L2Table fills table (TableSize) with the squared L2 distance of each
// query sub-vector to each centroid.
func (c *Codec) L2Table(q []float32, table []float32) { c.fillTable(q, table, false) }

// DotTable fills table with the dot product of each query sub-vector with
// each centroid.
func (c *Codec) DotTable(q []float32, table []float32) { c.fillTable(q, table, true) }

// fillTable fills table with the dot product (dot) or the squared L2 distance (!dot) of each
// query sub-vector and each centroid of its segment.
func (c *Codec) fillTable(q []float32, table []float32, dot bool) {
	for s := range c.M {
		b, w := c.book(s)
		qs := q[c.Bounds[s]:c.Bounds[s+1]]
		t := table[s*256 : s*256+256]
		for j := range c.K {
			row := b[j*w : (j+1)*w : (j+1)*w]
			switch { // short sub-vectors: a plain loop beats a kernel call each
			case w > 16 && dot:
				t[j] = vecmath.Dot(qs, row)
			case w > 16:
				t[j] = vecmath.L2Squared(qs, row)
			case dot:
				t[j] = dotShort(qs, row)
			default:
				t[j] = l2Short(qs, row)
			}
		}
	}
}

func dotShort(qs, row []float32) float32 {
	var sum float32
	for i, x := range row {
		sum += qs[i] * x
	}
	return sum
}

func l2Short(qs, row []float32) float32 {
	var sum float32
	for i, x := range row {
		d := qs[i] - x
		sum += d * d
	}
	return sum
}

// Lookup sums the table entries of a code: the asymmetric distance (or dot
// product) between the table's query and the code's reconstruction.
func (c *Codec) Lookup(table []float32, code []uint8) float32 {
	var s0, s1 float32
	m := c.M
	i := 0
	for ; i+1 < m; i += 2 {
		s0 += table[i*256+int(code[i])]
		s1 += table[(i+1)*256+int(code[i+1])]
	}
	if i < m {
		s0 += table[i*256+int(code[i])]
	}
	return s0 + s1
}
