//go:build !(goexperiment.simd && amd64)

package vecmath

// AVX2 exposes the AVX2 kernel set; without GOEXPERIMENT=simd on amd64 there
// is none and ok is false.
func AVX2() (k Kernels, ok bool) { return Kernels{}, false }
