//go:build !(goexperiment.simd && amd64)

package vecmath

// archsimdSets returns the simd/archsimd sets: there are none without GOEXPERIMENT=simd on amd64.
func archsimdSets() []Kernels { return nil }
