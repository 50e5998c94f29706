// Package distance holds vecgate's distance kernels: float32 squared L2, dot
// product, cosine and L1; int8 and uint8 dot and squared L2 for quantised
// codes; Hamming distance over packed bits.
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
// the last bits because the summation order differs.
package distance
