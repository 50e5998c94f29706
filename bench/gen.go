package bench

import (
	"math/rand/v2"

	"github.com/vecgate/vecgate/vecmath"
)

// GenConfig describes a synthetic clustered data set: Clusters Gaussian
// centres drawn from N(0, 1) per dimension, each point a centre plus
// N(0, Spread²) noise. Normalize scales every vector to unit length (for
// cosine / inner-product workloads, like embedding models produce).
type GenConfig struct {
	N, Dims   int
	Clusters  int     // default max(1, N/100)
	Spread    float64 // default 0.35
	Normalize bool
	Seed      uint64
}

// Clustered generates cfg.N rows of cfg.Dims floats, contiguously. The same
// config always yields the same data. Draw queries with ClusteredQueries
// and the same config: they come from the same centres but another random
// stream, so they follow the data without being data points.
func Clustered(cfg GenConfig) []float32 {
	return cfg.draw(cfg.N, rand.New(rand.NewPCG(cfg.Seed, 2)))
}

// QuerySeed is the seed of the query point stream derived from a data seed.
func QuerySeed(seed uint64) uint64 { return seed ^ 0x5bd1e995 }

// ClusteredQueries draws n query rows around the same centres as
// Clustered(cfg), from an independent stream.
func ClusteredQueries(cfg GenConfig, n int) []float32 {
	return cfg.draw(n, rand.New(rand.NewPCG(QuerySeed(cfg.Seed), 3)))
}

// draw returns n rows around cfg's centres, each picked and perturbed from pr.
func (cfg GenConfig) draw(n int, pr *rand.Rand) []float32 {
	if cfg.Clusters <= 0 {
		cfg.Clusters = max(1, cfg.N/100)
	}
	if cfg.Spread == 0 {
		cfg.Spread = 0.35
	}
	cr := rand.New(rand.NewPCG(cfg.Seed, 1))
	centres := make([]float32, cfg.Clusters*cfg.Dims)
	for i := range centres {
		centres[i] = float32(cr.NormFloat64())
	}
	out := make([]float32, n*cfg.Dims)
	for i := range n {
		c := pr.IntN(cfg.Clusters)
		row := out[i*cfg.Dims : (i+1)*cfg.Dims]
		for j := range row {
			row[j] = centres[c*cfg.Dims+j] + float32(pr.NormFloat64()*cfg.Spread)
		}
		if cfg.Normalize {
			vecmath.Normalize(row)
		}
	}
	return out
}

// Recall returns the mean over queries of |got[i][:k] ∩ truth[i][:k]| / k.
func Recall(got, truth [][]int32, k int) float64 {
	if len(got) == 0 || k <= 0 {
		return 0
	}
	var sum float64
	for i := range got {
		if i >= len(truth) {
			break
		}
		t := truth[i][:min(k, len(truth[i]))]
		set := make(map[int32]struct{}, len(t))
		for _, x := range t {
			set[x] = struct{}{}
		}
		hit := 0
		for _, x := range got[i][:min(k, len(got[i]))] {
			if _, ok := set[x]; ok {
				hit++
			}
		}
		sum += float64(hit) / float64(k)
	}
	return sum / float64(len(got))
}
