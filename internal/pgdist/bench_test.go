package pgdist

import (
	"math/rand/v2"
	"testing"
)

func benchPair() ([]float32, []float32) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := make([]float32, 1536), make([]float32, 1536)
	for i := range x {
		x[i], y[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	return x, y
}

func BenchmarkCosine1536(b *testing.B) {
	x, y := benchPair()
	for b.Loop() {
		Cosine(x, y)
	}
}

func BenchmarkL21536(b *testing.B) {
	x, y := benchPair()
	for b.Loop() {
		L2(x, y)
	}
}

func BenchmarkNegativeInnerProduct1536(b *testing.B) {
	x, y := benchPair()
	for b.Loop() {
		NegativeInnerProduct(x, y)
	}
}

func BenchmarkL11536(b *testing.B) {
	x, y := benchPair()
	for b.Loop() {
		L1(x, y)
	}
}
