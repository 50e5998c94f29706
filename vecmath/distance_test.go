package vecmath_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/vecmath"
)

// kernelSets returns every kernel set this build and CPU can run: the
// portable one, the active one, and AVX2 when present.
func kernelSets() []vecmath.Kernels {
	ks := []vecmath.Kernels{vecmath.Portable}
	if a := vecmath.Active(); a.Name != "portable" {
		ks = append(ks, a)
	}
	if a, ok := vecmath.AVX2(); ok && vecmath.Active().Name != "avx2" {
		ks = append(ks, a)
	}
	return ks
}

func TestImplReported(t *testing.T) {
	t.Logf("distance kernels: %s", vecmath.Impl())
	if vecmath.Impl() == "" {
		t.Fatal("empty Impl")
	}
}

// One table for every kernel set.
func TestKernelsTable(t *testing.T) {
	type fcase struct {
		name        string
		a, b        []float32
		l2, dot, l1 float32
	}
	fcases := []fcase{
		{"empty", nil, nil, 0, 0, 0},
		{"one", []float32{3}, []float32{-1}, 16, -3, 4},
		{"three", []float32{1, 2, 3}, []float32{4, 5, 6}, 27, 32, 9},
		{"zero", make([]float32, 17), make([]float32, 17), 0, 0, 0},
	}
	// Lengths around every vector width and tail.
	for _, n := range []int{5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 128, 1536} {
		a := make([]float32, n)
		b := make([]float32, n)
		var l2, dot, l1 float64
		for i := range a {
			a[i] = float32(i%7) - 3
			b[i] = float32(i%5) * 0.5
			d := float64(a[i] - b[i])
			l2 += d * d
			dot += float64(a[i]) * float64(b[i])
			l1 += math.Abs(d)
		}
		fcases = append(fcases, fcase{fmt.Sprintf("n%d", n), a, b, float32(l2), float32(dot), float32(l1)})
	}
	for _, k := range kernelSets() {
		for _, c := range fcases {
			t.Run(k.Name+"/"+c.name, func(t *testing.T) {
				if got := k.L2Squared(c.a, c.b); !close32(got, c.l2) {
					t.Errorf("L2Squared = %v, want %v", got, c.l2)
				}
				if got := k.Dot(c.a, c.b); !close32(got, c.dot) {
					t.Errorf("Dot = %v, want %v", got, c.dot)
				}
				if got := k.L1(c.a, c.b); !close32(got, c.l1) {
					t.Errorf("L1 = %v, want %v", got, c.l1)
				}
			})
		}
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 100, 1536} {
			t.Run(fmt.Sprintf("%s/codes%d", k.Name, n), func(t *testing.T) {
				a8, b8 := make([]int8, n), make([]int8, n)
				u8, v8 := make([]uint8, n), make([]uint8, n)
				var di, li int32
				var du, lu uint32
				for i := range n {
					a8[i], b8[i] = int8(i*37-128), int8(127-i*11)
					if i%3 == 0 {
						a8[i], b8[i] = -128, 127
					}
					u8[i], v8[i] = uint8(i*37), uint8(255-i*13)
					if i%4 == 0 {
						u8[i], v8[i] = 0, 255
					}
					di += int32(a8[i]) * int32(b8[i])
					d := int32(a8[i]) - int32(b8[i])
					li += d * d
					du += uint32(u8[i]) * uint32(v8[i])
					e := int32(u8[i]) - int32(v8[i])
					lu += uint32(e * e)
				}
				if got := k.DotInt8(a8, b8); got != di {
					t.Errorf("DotInt8 = %d, want %d", got, di)
				}
				if got := k.L2SquaredInt8(a8, b8); got != li {
					t.Errorf("L2SquaredInt8 = %d, want %d", got, li)
				}
				if got := k.DotUint8(u8, v8); got != du {
					t.Errorf("DotUint8 = %d, want %d", got, du)
				}
				if got := k.L2SquaredUint8(u8, v8); got != lu {
					t.Errorf("L2SquaredUint8 = %d, want %d", got, lu)
				}
			})
		}
		for _, n := range []int{0, 1, 7, 8, 9, 24, 25} {
			a, b := make([]uint64, n), make([]uint64, n)
			want := 0
			for i := range n {
				a[i] = uint64(i) * 0x9E3779B97F4A7C15
				b[i] = ^uint64(i)
				for x := a[i] ^ b[i]; x != 0; x &= x - 1 {
					want++
				}
			}
			if got := k.Hamming(a, b); got != want {
				t.Errorf("%s Hamming n=%d = %d, want %d", k.Name, n, got, want)
			}
		}
	}
}

func TestCosine(t *testing.T) {
	if d := vecmath.Cosine([]float32{1, 0}, []float32{0, 1}); math.Abs(d-1) > 1e-7 {
		t.Errorf("orthogonal cosine = %v", d)
	}
	if d := vecmath.Cosine([]float32{1, 2}, []float32{2, 4}); math.Abs(d) > 1e-7 {
		t.Errorf("parallel cosine = %v", d)
	}
	if d := vecmath.Cosine([]float32{0, 0}, []float32{1, 1}); !math.IsNaN(d) {
		t.Errorf("zero-vector cosine = %v, want NaN (pgvector)", d)
	}
}

func close32(got, want float32) bool {
	return math.Abs(float64(got-want)) <= 1e-4*math.Max(1, math.Abs(float64(want)))
}

// FuzzKernelsAgree checks that every kernel set agrees with the portable one
// within float tolerance (exactly for integer kernels).
func FuzzKernelsAgree(f *testing.F) {
	f.Add(uint64(1), uint16(17))
	f.Add(uint64(2), uint16(1536))
	f.Add(uint64(3), uint16(0))
	f.Add(uint64(4), uint16(33))
	f.Fuzz(func(t *testing.T, seed uint64, n16 uint16) {
		n := int(n16 % 2049)
		r := rand.New(rand.NewPCG(seed, 7))
		a, b := make([]float32, n), make([]float32, n)
		var absSum, sqSum float64
		for i := range a {
			a[i] = float32(r.NormFloat64() * 10)
			b[i] = float32(r.NormFloat64() * 10)
			absSum += math.Abs(float64(a[i]*b[i])) + math.Abs(float64(a[i]-b[i]))
			sqSum += float64((a[i] - b[i]) * (a[i] - b[i]))
		}
		a8, b8 := make([]int8, n), make([]int8, n)
		u8, v8 := make([]uint8, n), make([]uint8, n)
		for i := range a8 {
			a8[i], b8[i] = int8(r.Uint32()), int8(r.Uint32())
			u8[i], v8[i] = uint8(r.Uint32()), uint8(r.Uint32())
		}
		w := n / 64
		h1, h2 := make([]uint64, w), make([]uint64, w)
		for i := range h1 {
			h1[i], h2[i] = r.Uint64(), r.Uint64()
		}
		p := vecmath.Portable
		tol := 1e-5*(absSum+sqSum) + 1e-6
		for _, k := range kernelSets() {
			if d := math.Abs(float64(k.Dot(a, b) - p.Dot(a, b))); d > tol {
				t.Errorf("%s Dot differs by %g", k.Name, d)
			}
			if d := math.Abs(float64(k.L2Squared(a, b) - p.L2Squared(a, b))); d > tol {
				t.Errorf("%s L2Squared differs by %g", k.Name, d)
			}
			if d := math.Abs(float64(k.L1(a, b) - p.L1(a, b))); d > tol {
				t.Errorf("%s L1 differs by %g", k.Name, d)
			}
			if k.DotInt8(a8, b8) != p.DotInt8(a8, b8) || k.L2SquaredInt8(a8, b8) != p.L2SquaredInt8(a8, b8) {
				t.Errorf("%s int8 kernels differ", k.Name)
			}
			if k.DotUint8(u8, v8) != p.DotUint8(u8, v8) || k.L2SquaredUint8(u8, v8) != p.L2SquaredUint8(u8, v8) {
				t.Errorf("%s uint8 kernels differ", k.Name)
			}
			if k.Hamming(h1, h2) != p.Hamming(h1, h2) {
				t.Errorf("%s Hamming differs", k.Name)
			}
		}
	})
}

func benchVecs(n int) ([]float32, []float32) {
	r := rand.New(rand.NewPCG(1, 2))
	a, b := make([]float32, n), make([]float32, n)
	for i := range a {
		a[i], b[i] = r.Float32(), r.Float32()
	}
	return a, b
}

var sink float32

func BenchmarkFloat(b *testing.B) {
	for _, n := range []int{128, 768, 1536} {
		x, y := benchVecs(n)
		for _, k := range kernelSets() {
			b.Run(fmt.Sprintf("dot/%s/%d", k.Name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sink += k.Dot(x, y)
				}
			})
			b.Run(fmt.Sprintf("l2/%s/%d", k.Name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					sink += k.L2Squared(x, y)
				}
			})
		}
	}
}

var isink uint32

func BenchmarkCodes(b *testing.B) {
	for _, n := range []int{128, 1536} {
		u, v := make([]uint8, n), make([]uint8, n)
		for i := range u {
			u[i], v[i] = uint8(i), uint8(3*i)
		}
		h1, h2 := make([]uint64, n/64), make([]uint64, n/64)
		for _, k := range kernelSets() {
			b.Run(fmt.Sprintf("l2u8/%s/%d", k.Name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					isink += k.L2SquaredUint8(u, v)
				}
			})
			b.Run(fmt.Sprintf("dotu8/%s/%d", k.Name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					isink += k.DotUint8(u, v)
				}
			})
			b.Run(fmt.Sprintf("hamming/%s/%dbits", k.Name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					isink += uint32(k.Hamming(h1, h2))
				}
			})
		}
	}
}
