package vecmath_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/vecmath"
)

func TestCosineFromPartsClamps(t *testing.T) {
	if d := vecmath.CosineFromParts(1.0000001, 1, 1); d != 0 {
		t.Errorf("similarity not clamped above: %v", d)
	}
	if d := vecmath.CosineFromParts(-1.0000001, 1, 1); d != 2 {
		t.Errorf("similarity not clamped below: %v", d)
	}
	if d := vecmath.CosineFromParts(0, 0, 1); !math.IsNaN(d) {
		t.Errorf("zero norm = %v, want NaN", d)
	}
}

func TestNormalize(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{1, 3, 16, 17, 384, 1536} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 10)
		}
		orig := append([]float32(nil), v...)
		vecmath.Normalize(v)
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		if math.Abs(s-1) > 1e-5 {
			t.Errorf("n=%d: |v|² = %v after Normalize", n, s)
		}
		// Same direction: cosine distance to the original is ~0.
		if d := vecmath.Cosine(orig, v); d > 1e-6 {
			t.Errorf("n=%d: direction changed, cosine distance %v", n, d)
		}
		if inv := vecmath.InvNorm(v); math.Abs(float64(inv)-1) > 1e-5 {
			t.Errorf("n=%d: InvNorm of a unit vector = %v", n, inv)
		}
	}
	z := []float32{0, 0, 0}
	vecmath.Normalize(z)
	if z[0] != 0 || z[1] != 0 || z[2] != 0 {
		t.Errorf("zero vector changed: %v", z)
	}
	if inv := vecmath.InvNorm(z); inv != 0 {
		t.Errorf("InvNorm(0) = %v, want 0", inv)
	}
	if inv := vecmath.InvNorm([]float32{3, 4}); math.Abs(float64(inv)-0.2) > 1e-7 {
		t.Errorf("InvNorm([3,4]) = %v, want 0.2", inv)
	}
}
