package pgdist

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkCosine1536(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := make([]float32, 1536), make([]float32, 1536)
	for i := range x {
		x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	for b.Loop() {
		Cosine(x, y)
	}
}

func BenchmarkL21536(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := make([]float32, 1536), make([]float32, 1536)
	for i := range x {
		x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	for b.Loop() {
		L2(x, y)
	}
}
