package vecmath_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/vecmath"
)

// kernelSets returns every kernel set this build and CPU can run: the portable
// one, the assembly ones, and with GOEXPERIMENT=simd the archsimd ones.
func kernelSets() []vecmath.Kernels { return vecmath.Sets() }

func TestImplReported(t *testing.T) {
	t.Logf("distance kernels: %s", vecmath.Impl())
	if vecmath.Impl() == "" {
		t.Fatal("empty Impl")
	}
	found := false
	for _, k := range vecmath.Sets() {
		t.Logf("available: %s", k.Name)
		found = found || k.Name == vecmath.Impl()
	}
	if !found {
		t.Errorf("active set %q is not among Sets()", vecmath.Impl())
	}
	if s := vecmath.Sets(); s[0].Name != "portable" {
		t.Errorf("Sets()[0] = %q, want portable", s[0].Name)
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

var (
	sink  float32
	isink uint32
)

// The benchmarks run every set on the same vectors: BenchmarkFloat/dot/avx512/1536 against
// BenchmarkFloat/dot/portable/1536 (and archsimd-avx512 with GOEXPERIMENT=simd) is the ratio.
func BenchmarkFloat(b *testing.B) {
	for _, n := range []int{8, 128, 784, 1536} {
		x, y := benchVecs(n)
		for _, k := range kernelSets() {
			for _, f := range []struct {
				name string
				fn   func(a, b []float32) float32
			}{{"dot", k.Dot}, {"l2", k.L2Squared}, {"l1", k.L1}} {
				b.Run(fmt.Sprintf("%s/%s/%d", f.name, k.Name, n), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						sink += f.fn(x, y)
					}
				})
			}
		}
	}
}

func BenchmarkCodes(b *testing.B) {
	for _, n := range []int{128, 784, 1536} {
		r := rand.New(rand.NewPCG(3, 4))
		u, v := codes[uint8](r, n, 0), codes[uint8](r, n, 0)
		s, t := codes[int8](r, n, 0), codes[int8](r, n, 0)
		h1, h2 := words(r, n/64, 0), words(r, n/64, 0)
		for _, k := range kernelSets() {
			for _, f := range []struct {
				name string
				fn   func() uint32
			}{
				{"l2u8", func() uint32 { return k.L2SquaredUint8(u, v) }},
				{"dotu8", func() uint32 { return k.DotUint8(u, v) }},
				{"l2i8", func() uint32 { return uint32(k.L2SquaredInt8(s, t)) }},
				{"doti8", func() uint32 { return uint32(k.DotInt8(s, t)) }},
			} {
				b.Run(fmt.Sprintf("%s/%s/%d", f.name, k.Name, n), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						isink += f.fn()
					}
				})
			}
			b.Run(fmt.Sprintf("hamming/%s/%dbits", k.Name, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					isink += uint32(k.Hamming(h1, h2))
				}
			})
		}
	}
}

// TestKernelsAgreeShapes compares every set with the portable one at every length from 0 to
// 70 and around the larger vector widths, with both slices starting at every offset of a
// 32-byte line (unaligned loads) and ending at the end of their allocation (a kernel that
// reads past the end would read a neighbour's bytes or fault).
func TestKernelsAgreeShapes(t *testing.T) {
	lengths := make([]int, 0, 100)
	for n := range 71 {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 95, 96, 97, 127, 128, 129, 255, 256, 257, 783, 784, 785, 1535, 1536, 1537)
	r := rand.New(rand.NewPCG(5, 6))
	p := vecmath.Portable
	for _, k := range kernelSets()[1:] {
		for _, n := range lengths {
			for off := range 8 {
				offB := (off * 3) % 8
				a := floats(r, n, off)
				b := floats(r, n, offB)
				var scale float64
				for i := range a {
					scale += math.Abs(float64(a[i]*b[i])) + float64((a[i]-b[i])*(a[i]-b[i])) + math.Abs(float64(a[i]-b[i]))
				}
				tol := 1e-5*scale + 1e-6
				if d := math.Abs(float64(k.Dot(a, b) - p.Dot(a, b))); d > tol {
					t.Errorf("%s Dot n=%d off=%d,%d differs by %g", k.Name, n, off, offB, d)
				}
				if d := math.Abs(float64(k.L2Squared(a, b) - p.L2Squared(a, b))); d > tol {
					t.Errorf("%s L2Squared n=%d off=%d,%d differs by %g", k.Name, n, off, offB, d)
				}
				if d := math.Abs(float64(k.L1(a, b) - p.L1(a, b))); d > tol {
					t.Errorf("%s L1 n=%d off=%d,%d differs by %g", k.Name, n, off, offB, d)
				}
				a8, b8 := codes[int8](r, n, 4*off), codes[int8](r, n, 4*offB)
				if got, want := k.DotInt8(a8, b8), p.DotInt8(a8, b8); got != want {
					t.Errorf("%s DotInt8 n=%d off=%d = %d, want %d", k.Name, n, off, got, want)
				}
				if got, want := k.L2SquaredInt8(a8, b8), p.L2SquaredInt8(a8, b8); got != want {
					t.Errorf("%s L2SquaredInt8 n=%d off=%d = %d, want %d", k.Name, n, off, got, want)
				}
				u8, v8 := codes[uint8](r, n, 4*off), codes[uint8](r, n, 4*offB)
				if got, want := k.DotUint8(u8, v8), p.DotUint8(u8, v8); got != want {
					t.Errorf("%s DotUint8 n=%d off=%d = %d, want %d", k.Name, n, off, got, want)
				}
				if got, want := k.L2SquaredUint8(u8, v8), p.L2SquaredUint8(u8, v8); got != want {
					t.Errorf("%s L2SquaredUint8 n=%d off=%d = %d, want %d", k.Name, n, off, got, want)
				}
				h1, h2 := words(r, n, off%4), words(r, n, offB%4)
				if got, want := k.Hamming(h1, h2), p.Hamming(h1, h2); got != want {
					t.Errorf("%s Hamming n=%d off=%d = %d, want %d", k.Name, n, off, got, want)
				}
			}
		}
	}
}

// floats returns n random float32s that start off elements into their allocation and end at
// its end.
func floats(r *rand.Rand, n, off int) []float32 {
	s := make([]float32, off+n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * 10)
	}
	return s[off:]
}

func codes[T int8 | uint8](r *rand.Rand, n, off int) []T {
	s := make([]T, off+n)
	for i := range s {
		s[i] = T(r.Uint32())
	}
	return s[off:]
}

func words(r *rand.Rand, n, off int) []uint64 {
	s := make([]uint64, off+n)
	for i := range s {
		s[i] = r.Uint64()
	}
	return s[off:]
}

// TestKernelsCodeExtremes runs the integer kernels on the extreme codes, where a product or a
// pairwise sum of products is largest, and on sums that wrap at 32 bits: every set must give
// the portable (wrapping) result.
func TestKernelsCodeExtremes(t *testing.T) {
	p := vecmath.Portable
	for _, k := range kernelSets()[1:] {
		for _, n := range []int{1, 15, 16, 17, 63, 64, 65, 200, 40_000} {
			for _, c := range [][2]int8{{-128, -128}, {-128, 127}, {127, 127}, {127, -128}} {
				a8, b8 := fill(n, c[0]), fill(n, c[1])
				if got, want := k.DotInt8(a8, b8), p.DotInt8(a8, b8); got != want {
					t.Errorf("%s DotInt8 n=%d %v = %d, want %d", k.Name, n, c, got, want)
				}
				if got, want := k.L2SquaredInt8(a8, b8), p.L2SquaredInt8(a8, b8); got != want {
					t.Errorf("%s L2SquaredInt8 n=%d %v = %d, want %d", k.Name, n, c, got, want)
				}
			}
			for _, c := range [][2]uint8{{255, 255}, {0, 255}, {255, 0}} {
				u8, v8 := fill(n, c[0]), fill(n, c[1])
				if got, want := k.DotUint8(u8, v8), p.DotUint8(u8, v8); got != want {
					t.Errorf("%s DotUint8 n=%d %v = %d, want %d", k.Name, n, c, got, want)
				}
				if got, want := k.L2SquaredUint8(u8, v8), p.L2SquaredUint8(u8, v8); got != want {
					t.Errorf("%s L2SquaredUint8 n=%d %v = %d, want %d", k.Name, n, c, got, want)
				}
			}
		}
	}
}

func fill[T any](n int, v T) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestKernelsShortSecond checks that every set panics, like the portable one, when the second
// slice (and its capacity) is shorter than the first, instead of reading past its end.
func TestKernelsShortSecond(t *testing.T) {
	for _, k := range kernelSets() {
		for _, n := range []int{1, 17, 100} {
			f, f8, u8, h := make([]float32, n), make([]int8, n), make([]uint8, n), make([]uint64, n)
			for name, call := range map[string]func(){
				"L2Squared":      func() { k.L2Squared(f, f[:n-1:n-1]) },
				"Dot":            func() { k.Dot(f, f[:n-1:n-1]) },
				"L1":             func() { k.L1(f, f[:n-1:n-1]) },
				"DotInt8":        func() { k.DotInt8(f8, f8[:n-1:n-1]) },
				"L2SquaredInt8":  func() { k.L2SquaredInt8(f8, f8[:n-1:n-1]) },
				"DotUint8":       func() { k.DotUint8(u8, u8[:n-1:n-1]) },
				"L2SquaredUint8": func() { k.L2SquaredUint8(u8, u8[:n-1:n-1]) },
				"Hamming":        func() { k.Hamming(h, h[:n-1:n-1]) },
				"PgL2Squared":    func() { k.PgL2Squared(f, f[:n-1:n-1]) },
				"PgDot":          func() { k.PgDot(f, f[:n-1:n-1]) },
				"PgL1":           func() { k.PgL1(f, f[:n-1:n-1]) },
				"PgCosineSums":   func() { k.PgCosineSums(f, f[:n-1:n-1]) },
			} {
				if !panics(call) {
					t.Errorf("%s %s with a shorter second slice (n=%d) did not panic", k.Name, name, n)
				}
			}
		}
	}
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}
