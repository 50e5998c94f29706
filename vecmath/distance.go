package vecmath

import (
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"
)

// Kernels is one complete set of kernel implementations.
type Kernels struct {
	Name           string
	L2Squared      func(a, b []float32) float32
	Dot            func(a, b []float32) float32
	L1             func(a, b []float32) float32
	DotInt8        func(a, b []int8) int32
	L2SquaredInt8  func(a, b []int8) int32
	DotUint8       func(a, b []uint8) uint32
	L2SquaredUint8 func(a, b []uint8) uint32
	Hamming        func(a, b []uint64) int

	// The Pg kernels sum in pgvector's order (pgorder.go), so that their results are the
	// server's bit for bit: Σ(a−b)², Σ a·b, Σ|a−b|, and cosine's Σ a·b, Σ a², Σ b².
	PgL2Squared  func(a, b []float32) float32
	PgDot        func(a, b []float32) float32
	PgL1         func(a, b []float32) float32
	PgCosineSums func(a, b []float32) (dot, na, nb float32)
}

// Portable is the pure Go kernel set, available on every platform.
var Portable = Kernels{
	Name:           "portable",
	L2Squared:      l2SquaredGeneric,
	Dot:            dotGeneric,
	L1:             l1Generic,
	DotInt8:        dotCodes[int8],
	L2SquaredInt8:  l2SquaredCodes[int8],
	DotUint8:       dotUint8Generic,
	L2SquaredUint8: l2SquaredUint8Generic,
	Hamming:        hammingGeneric,
	PgL2Squared:    pgL2SquaredGeneric,
	PgDot:          pgDotGeneric,
	PgL1:           pgL1Generic,
	PgCosineSums:   pgCosineSumsGeneric,
}

// sets holds every set this build and CPU can run: [Portable], then the assembly sets (amd64),
// best first, then the simd/archsimd ones (GOEXPERIMENT=simd on amd64). active is chosen from
// them when the package is initialised and never written again.
var (
	asm    = asmSets()
	sets   = slices.Concat([]Kernels{Portable}, asm, archsimdSets())
	active = choose(os.Getenv("VECGATE_KERNELS"))
)

// choose returns the set named by the VECGATE_KERNELS environment variable: empty picks the
// best assembly set the CPU supports (the portable set if none), "archsimd" the best archsimd
// set, any other value the set of that name. A name this build or CPU cannot run picks the
// portable set, the one that is always correct; [Impl] reports the choice.
func choose(name string) Kernels {
	if name == "" {
		if len(asm) > 0 {
			return asm[0]
		}
		return Portable
	}
	for _, k := range sets {
		if k.Name == name || name == "archsimd" && strings.HasPrefix(k.Name, "archsimd-") {
			return k
		}
	}
	return Portable
}

// Sets returns every kernel set this build and CPU can run, the portable one first, so that
// tests and benchmarks can compare them; the active one is among them.
func Sets() []Kernels { return slices.Clone(sets) }

// Active returns the kernel set in use.
func Active() Kernels { return active }

// Impl names the kernel set in use: "avx512vnni", "avx512" or "avx2" (assembly, amd64),
// "portable", or "archsimd-avx512" / "archsimd-avx2" when chosen with VECGATE_KERNELS=archsimd
// in a GOEXPERIMENT=simd build.
func Impl() string { return active.Name }

// L2Squared returns the squared Euclidean distance Σ(a[i]-b[i])².
func L2Squared(a, b []float32) float32 { return active.L2Squared(a, b) }

// Dot returns the inner product Σ a[i]·b[i].
func Dot(a, b []float32) float32 { return active.Dot(a, b) }

// L1 returns the taxicab distance Σ|a[i]-b[i]|.
func L1(a, b []float32) float32 { return active.L1(a, b) }

// DotInt8 returns Σ a[i]·b[i] over int8 codes.
func DotInt8(a, b []int8) int32 { return active.DotInt8(a, b) }

// L2SquaredInt8 returns Σ(a[i]-b[i])² over int8 codes.
func L2SquaredInt8(a, b []int8) int32 { return active.L2SquaredInt8(a, b) }

// DotUint8 returns Σ a[i]·b[i] over uint8 codes.
func DotUint8(a, b []uint8) uint32 { return active.DotUint8(a, b) }

// L2SquaredUint8 returns Σ(a[i]-b[i])² over uint8 codes.
func L2SquaredUint8(a, b []uint8) uint32 { return active.L2SquaredUint8(a, b) }

// Hamming returns the number of differing bits of two packed bit vectors.
func Hamming(a, b []uint64) int { return active.Hamming(a, b) }

// PgL2Squared returns Σ(a[i]-b[i])² summed in pgvector's order: the server's bits.
func PgL2Squared(a, b []float32) float32 { return active.PgL2Squared(a, b) }

// PgDot returns Σ a[i]·b[i] summed in pgvector's order: the server's bits.
func PgDot(a, b []float32) float32 { return active.PgDot(a, b) }

// PgL1 returns Σ|a[i]-b[i]| summed in pgvector's order: the server's bits.
func PgL1(a, b []float32) float32 { return active.PgL1(a, b) }

// PgCosineSums returns Σ a[i]·b[i], Σ a[i]² and Σ b[i]², each summed in pgvector's order for
// cosine (fused multiply-adds throughout): the server's bits.
func PgCosineSums(a, b []float32) (dot, na, nb float32) { return active.PgCosineSums(a, b) }

// SquaredNorm returns Σ a[i]².
func SquaredNorm(a []float32) float32 { return active.Dot(a, a) }

// Cosine returns pgvector's cosine distance 1 - a·b/(|a||b|), the similarity
// clamped to [-1, 1]; NaN if either vector is zero.
func Cosine(a, b []float32) float64 {
	return CosineFromParts(float64(active.Dot(a, b)), float64(active.Dot(a, a)), float64(active.Dot(b, b)))
}

func l2SquaredGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		d2 := a[i+2] - b[i+2]
		d3 := a[i+3] - b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

func l1Generic(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += abs32(a[i] - b[i])
		s1 += abs32(a[i+1] - b[i+1])
		s2 += abs32(a[i+2] - b[i+2])
		s3 += abs32(a[i+3] - b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += abs32(a[i] - b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// dotCodes and l2SquaredCodes are the portable kernels over int8 and uint8 codes. Their sums
// wrap at 32 bits alike signed or not, so the uint8 kernels are the same sums read unsigned.
func dotCodes[T int8 | uint8](a, b []T) int32 {
	b = b[:len(a)]
	var s int32
	for i := range a {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}

func l2SquaredCodes[T int8 | uint8](a, b []T) int32 {
	b = b[:len(a)]
	var s int32
	for i := range a {
		d := int32(a[i]) - int32(b[i])
		s += d * d
	}
	return s
}

func dotUint8Generic(a, b []uint8) uint32 { return uint32(dotCodes(a, b)) }

func l2SquaredUint8Generic(a, b []uint8) uint32 { return uint32(l2SquaredCodes(a, b)) }

func hammingGeneric(a, b []uint64) int {
	b = b[:len(a)]
	n := 0
	for i := range a {
		n += bits.OnesCount64(a[i] ^ b[i])
	}
	return n
}
