package vecmath

// The Pg kernels in assembly (pgorder_amd64.s); their wrappers bound b and tell the race
// detector, as in kernels_amd64.go.

//go:noescape
func pgL2SquaredAVX2(a, b []float32) float32

//go:noescape
func pgDotAVX2(a, b []float32) float32

//go:noescape
func pgL1AVX2(a, b []float32) float32

//go:noescape
func pgCosineSumsAVX2(a, b []float32) (dot, na, nb float32)

// withPgAVX2 returns k with the AVX2 Pg kernels, which every assembly and archsimd set uses
// (the order is one of 8 lanes, so there is no AVX-512 version); the portable ones on a CPU
// without AVX2 and FMA.
func withPgAVX2(k Kernels) Kernels {
	if !hasAVX2 {
		k.PgL2Squared, k.PgDot, k.PgL1, k.PgCosineSums = Portable.PgL2Squared, Portable.PgDot, Portable.PgL1, Portable.PgCosineSums
		return k
	}
	k.PgL2Squared = func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return pgL2SquaredAVX2(a, b) }
	k.PgDot = func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return pgDotAVX2(a, b) }
	k.PgL1 = func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return pgL1AVX2(a, b) }
	k.PgCosineSums = func(a, b []float32) (float32, float32, float32) {
		b = b[:len(a)]
		raceRead(a, b)
		return pgCosineSumsAVX2(a, b)
	}
	return k
}
