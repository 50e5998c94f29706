// Package kmeans trains codebooks: k-means++ initialisation (seeded) and
// Lloyd iterations with parallel assignment under squared L2. ann/ivf uses
// it for its coarse quantiser and quant/pq for its sub-vector codebooks.
package kmeans

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"

	"github.com/vecgate/vecgate/internal/parallel"
	"github.com/vecgate/vecgate/vecmath"
)

// Train clusters rows of data (dims floats each) into k centroids (fewer
// when there are fewer rows) with k-means++ initialisation and iters Lloyd
// iterations. With spherical set, centroids are renormalised (cosine /
// normalised data). threads 0 means GOMAXPROCS.
func Train(ctx context.Context, data []float32, dims, k, iters int, seed uint64, spherical bool, threads int) ([]float32, error) {
	n := len(data) / dims
	if n == 0 || k <= 0 {
		return nil, errors.New("kmeans: no data or k <= 0")
	}
	if k > n {
		k = n
	}
	r := rand.New(rand.NewPCG(seed, 0x6b6d65616e73))
	row := func(i int) []float32 { return data[i*dims : (i+1)*dims] }
	cent := make([]float32, 0, k*dims)
	// k-means++: first centre uniform, then proportional to D².
	cent = append(cent, row(r.IntN(n))...)
	d2 := make([]float64, n)
	for i := range n {
		d2[i] = float64(vecmath.L2Squared(row(i), cent[:dims]))
	}
	for c := 1; c < k; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var sum float64
		for _, v := range d2 {
			sum += v
		}
		pick := 0
		if sum > 0 {
			t := r.Float64() * sum
			for i, v := range d2 {
				t -= v
				if t <= 0 {
					pick = i
					break
				}
			}
		} else {
			pick = r.IntN(n)
		}
		cent = append(cent, row(pick)...)
		nc := cent[c*dims : (c+1)*dims]
		parallel.For(n, threads, 1024, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if d := float64(vecmath.L2Squared(row(i), nc)); d < d2[i] {
					d2[i] = d
				}
			}
		})
	}
	assign := make([]int32, n)
	for it := 0; it < iters; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		parallel.For(n, threads, 1024, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				assign[i] = int32(Nearest(cent, dims, row(i)))
			}
		})
		sums := make([]float64, k*dims)
		counts := make([]int, k)
		for i := range n {
			c := int(assign[i])
			counts[c]++
			s := sums[c*dims : (c+1)*dims]
			for j, v := range row(i) {
				s[j] += float64(v)
			}
		}
		for c := range k {
			dst := cent[c*dims : (c+1)*dims]
			if counts[c] == 0 {
				// Empty cell: restart it on a random point.
				copy(dst, row(r.IntN(n)))
				continue
			}
			for j := range dst {
				dst[j] = float32(sums[c*dims+j] / float64(counts[c]))
			}
			if spherical {
				vecmath.Normalize(dst)
			}
		}
	}
	return cent, nil
}

// Nearest returns the index of the centroid nearest v (squared L2).
func Nearest(cent []float32, dims int, v []float32) int {
	best, bd := 0, float32(math.MaxFloat32)
	if dims <= 16 {
		// Short vectors (PQ sub-spaces): a plain loop beats a kernel call.
		v = v[:dims:dims]
		for c := 0; (c+1)*dims <= len(cent); c++ {
			row := cent[c*dims : (c+1)*dims : (c+1)*dims]
			var d float32
			for i, x := range row {
				e := v[i] - x
				d += e * e
			}
			if d < bd {
				best, bd = c, d
			}
		}
		return best
	}
	for c := 0; c*dims < len(cent); c++ {
		if d := vecmath.L2Squared(v, cent[c*dims:(c+1)*dims]); d < bd {
			best, bd = c, d
		}
	}
	return best
}
