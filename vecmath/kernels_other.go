//go:build !amd64

package vecmath

// asmSets returns the assembly sets the CPU can run: there are none but on amd64.
func asmSets() []Kernels { return nil }

// AVX2 exposes the AVX2 kernel set; there is none but on amd64, and ok is false.
func AVX2() (k Kernels, ok bool) { return Kernels{}, false }
