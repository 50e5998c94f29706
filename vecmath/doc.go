// Package vecmath is the leaf of vecgate's engine: the distance kernels and
// the little vector arithmetic that both the indexes (ann/...) and the codecs
// (quant/...) need. It imports nothing of vecgate's; the layering is
// ann → quant → vecmath.
//
// Kernels: float32 squared L2, dot product, cosine and L1; int8 and uint8 dot
// and squared L2 for quantised codes; Hamming distance over packed bits.
// Helpers: [Normalize], [InvNorm] and [CosineFromParts].
//
// Every kernel has a portable Go implementation. Built with
// GOEXPERIMENT=simd on amd64 (build tag goexperiment.simd), the package also
// has AVX2 and AVX-512 versions written with simd/archsimd and picks the best
// one the CPU supports when the program starts; [Impl] says which. [Portable]
// and [Active] expose both sets so tests can compare them.
//
// Kernels do not validate their input: both slices must have the same length
// (a shorter second slice panics on a bounds check). Callers (the indexes)
// validate vectors once at their boundary with ann.CheckVector.
//
// Sums are float32 like pgvector's, so results may differ from Postgres' in
// the last bits because the summation order differs. [Normalize] is the
// exception: it sums in float64 in a fixed order, so a unit vector (which
// cosine indexes store and save) is the same on every CPU and kernel set.
package vecmath
