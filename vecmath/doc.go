// Package vecmath is the leaf of vecgate's engine: the distance kernels and
// the little vector arithmetic that both the indexes (ann/...) and the codecs
// (quant/...) need. It imports nothing of vecgate's; the layering is
// ann → quant → vecmath.
//
// Kernels: float32 squared L2, dot product, cosine and L1; int8 and uint8 dot
// and squared L2 for quantised codes; Hamming distance over packed bits.
// Helpers: [Normalize], [InvNorm] and [CosineFromParts].
//
// Every kernel has a portable Go implementation ([Portable]). On amd64 every
// build also has AVX2+FMA and AVX-512 (F, BW) versions written in Go assembly
// (kernels_amd64.s), and the package picks the best set the CPU and OS support
// when the program starts (golang.org/x/sys/cpu): "avx512vnni" (the AVX-512
// set with its int8/uint8 kernels on VPDPBUSD), else "avx512", else "avx2",
// else "portable". Hamming uses POPCNT, or VPOPCNTQ where the CPU has
// AVX512_VPOPCNTDQ. [Impl] names the set in use, [Active] returns it, [Sets]
// lists every set this build and CPU can run and [AVX2] the AVX2 one, so that
// tests compare them all with the portable one (floats within rounding,
// integers exactly) and benchmarks measure them side by side.
//
// Built with GOEXPERIMENT=simd, the package also has the simd/archsimd sets
// "archsimd-avx512" and "archsimd-avx2" (simd_amd64.go). They are never picked
// by default (on this project's machines they ran several times slower than
// the assembly: BenchmarkFloat): they are a second, independently written
// vector implementation the tests compare with, and the candidate to replace
// the assembly once simd/archsimd leaves its experiment and matches it.
//
// The environment variable VECGATE_KERNELS overrides the choice for tests and
// debugging: a set's name, or "archsimd" for the best archsimd set. A name
// this build or CPU cannot run selects the portable set ([Impl] tells). It is
// read once, when the package is initialised: an exception to "only cmd/
// reads the environment", so that every test binary honours it. To see what
// an older CPU would pick, hide features from x/sys/cpu with GODEBUG:
// cpu.avx512vnni=off gives "avx512", cpu.avx512f=off "avx2", cpu.avx2=off
// "portable".
//
// The assembly reads only len(a) elements of each slice, after its Go wrapper
// has resliced b to len(a), and tells the race detector about its reads
// (-race builds), which the detector cannot see in assembly.
//
// Kernels do not validate their input: both slices must have the same length
// (a shorter second slice panics on a bounds check). Callers (the indexes)
// validate vectors once at their boundary with ann.CheckVector.
//
// Sums are float32 like pgvector's, so results may differ from Postgres' in
// the last bits because the summation order differs. The Pg kernels
// ([PgL2Squared], [PgDot], [PgL1], [PgCosineSums]; pgorder.go) are the
// exception: they sum in the order of pgvector's compiled loops (8 lanes, a
// fold to 4, a 4-element step, a scalar tail; FMAs where its build has them),
// so their results are the server's bit for bit (internal/pgdist checks a
// server against them). They have one assembly version (AVX2+FMA, 256-bit:
// the order is one of 8 lanes), used by every amd64 set, and the portable Go
// one, which is their reference: every set gives its bits, Inf, NaN and
// subnormal sums included. [Normalize] is the other exception: it sums in float64 in a fixed order, so a unit vector (which
// cosine indexes store and save) is the same on every CPU and kernel set.
package vecmath
