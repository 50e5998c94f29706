package vecmath_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/vecmath"
)

// pgFloats returns n random float32s starting off elements into their allocation and ending at
// its end: normal deviates times scale, or (scale 0) each of a random magnitude 1e-20..1e20, or
// (scale −1) random bits, every finite float32 alike.
func pgFloats(r *rand.Rand, n, off int, scale float64) []float32 {
	s := make([]float32, off+n)
	for i := range s {
		switch scale {
		case 0:
			s[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(41)-20)))
		case -1:
			s[i] = finite(r.Uint32())
		default:
			s[i] = float32(r.NormFloat64() * scale)
		}
	}
	return s[off:]
}

// finite returns the float32 of bits u, or 0 where that is infinite or NaN (pgvector's vectors
// hold finite numbers only).
func finite(u uint32) float32 {
	x := math.Float32frombits(u)
	if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
		return 0
	}
	return x
}

// pgSumNames names the sums pgSums returns.
var pgSumNames = [6]string{"PgL2Squared", "PgDot", "PgL1", "PgCosineSums dot", "PgCosineSums na", "PgCosineSums nb"}

// pgSums returns k's Pg sums of a and b.
func pgSums(k vecmath.Kernels, a, b []float32) [6]float32 {
	d, na, nb := k.PgCosineSums(a, b)
	return [6]float32{k.PgL2Squared(a, b), k.PgDot(a, b), k.PgL1(a, b), d, na, nb}
}

// same reports whether x and y have the same bits.
func same(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) }

// TestPgKernelsExact: every set's Pg kernels give the portable (reference) ones' bits, over
// every length 0..70 and embedding sizes, slices at every alignment, and magnitudes from
// 1e-20 (subnormal products and sums) to 1e20 (products and sums overflowing to ±Inf, inner
// products to NaN), alone and mixed within a vector, and random bits.
func TestPgKernelsExact(t *testing.T) {
	lengths := make([]int, 0, 80)
	for n := range 71 {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 100, 384, 768, 1536, 3072)
	scales := []float64{0, -1, 1, 1e-20, 1e-19, 1e-10, 1e10, 1e19, 1e20}
	p := vecmath.Portable
	sets := vecmath.Sets()[1:]
	if len(sets) == 0 {
		t.Skip("no kernel set but the portable one")
	}
	r := rand.New(rand.NewPCG(7, 8))
	var inf, nan, sub int
	for _, n := range lengths {
		for _, scale := range scales {
			for off := range 4 {
				a, b := pgFloats(r, n, off, scale), pgFloats(r, n, (off*3)%4, scale)
				want := pgSums(p, a, b)
				for _, w := range want {
					switch {
					case math.IsInf(float64(w), 0):
						inf++
					case math.IsNaN(float64(w)):
						nan++
					case w != 0 && math.Abs(float64(w)) < 0x1p-126:
						sub++
					}
				}
				for _, k := range sets {
					got := pgSums(k, a, b)
					for i, name := range pgSumNames {
						if !same(got[i], want[i]) {
							t.Errorf("%s %s n=%d scale=%g off=%d: %g (%#x), portable %g (%#x)", k.Name, name, n, scale, off,
								got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
						}
					}
				}
			}
		}
	}
	// The magnitudes must have reached the edges they are there for.
	if inf == 0 || nan == 0 || sub == 0 {
		t.Errorf("edges not reached: %d infinite, %d NaN, %d subnormal sums", inf, nan, sub)
	}
	t.Logf("%d infinite, %d NaN, %d subnormal sums", inf, nan, sub)
}

// pgRoundingCase returns a pair of n floats (n = 2 or n ≥ 9) whose cosine dot product ends in
// one FMA, (2²³−1)·2⁻⁹⁸ × (2²³+1)·2⁻⁹⁸ + (2²²+1)·2⁻¹⁴⁹, whose exact value
// 2⁻¹²⁷ + 3·2⁻¹⁵⁰ − 2⁻¹⁹⁶ rounds to a float64 exactly halfway between two float32 subnormals:
// rounding that again to float32 (ties to even: 2⁻¹²⁷ + 2⁻¹⁴⁸) is not rounding the exact value
// once (2⁻¹²⁷ + 2⁻¹⁴⁹), as a float32 FMA does.
func pgRoundingCase(n int) (a, b []float32) {
	a, b = make([]float32, n), make([]float32, n)
	a[0], b[0] = float32(math.Ldexp(1<<22+1, -75)), 0x1p-74
	i := 1
	if n > 8 {
		i = 8 // the same lane as element 0
	}
	a[i], b[i] = float32(math.Ldexp(1<<23-1, -98)), float32(math.Ldexp(1<<23+1, -98))
	return a, b
}

// TestPgCosineSubnormalFMA: the reference's float32 FMA rounds once where the result is a
// subnormal float32, as the assembly's VFMADD231SS/PS (and the server's) do.
func TestPgCosineSubnormalFMA(t *testing.T) {
	for _, n := range []int{2, 9, 16} {
		a, b := pgRoundingCase(n)
		for _, k := range vecmath.Sets() {
			if d, _, _ := k.PgCosineSums(a, b); d != 0x1p-127+0x1p-149 {
				t.Errorf("%s n=%d: dot %g (%#x), want 2⁻¹²⁷ + 2⁻¹⁴⁹", k.Name, n, d, math.Float32bits(d))
			}
		}
	}
}

// FuzzPgKernelsExact: every set's Pg kernels give the portable ones' bits over any finite
// floats (the input's bytes, 8 a pair of components).
func FuzzPgKernelsExact(f *testing.F) {
	f.Add([]byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40})
	f.Add(make([]byte, 8*13))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / 8
		a, b := make([]float32, n), make([]float32, n)
		for i := range a {
			a[i] = finite(binary.LittleEndian.Uint32(data[8*i:]))
			b[i] = finite(binary.LittleEndian.Uint32(data[8*i+4:]))
		}
		want := pgSums(vecmath.Portable, a, b)
		for _, k := range vecmath.Sets()[1:] {
			got := pgSums(k, a, b)
			for i, name := range pgSumNames {
				if !same(got[i], want[i]) {
					t.Errorf("%s %s n=%d: %#x, portable %#x", k.Name, name, n, math.Float32bits(got[i]), math.Float32bits(want[i]))
				}
			}
		}
	})
}

func BenchmarkPg(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := pgFloats(r, 1536, 0, 1), pgFloats(r, 1536, 0, 1)
	for _, k := range vecmath.Sets() {
		b.Run(k.Name+"/L2Squared", func(b *testing.B) {
			for b.Loop() {
				k.PgL2Squared(x, y)
			}
		})
		b.Run(k.Name+"/Dot", func(b *testing.B) {
			for b.Loop() {
				k.PgDot(x, y)
			}
		})
		b.Run(k.Name+"/CosineSums", func(b *testing.B) {
			for b.Loop() {
				k.PgCosineSums(x, y)
			}
		})
	}
}
