package vecmath

import "golang.org/x/sys/cpu"

// The assembly kernels (kernels_amd64.s) read len(a) elements of both slices. Their wrappers
// below slice b to len(a) first, so that a shorter b panics on the bounds check as in the
// portable kernels instead of being read past its end, and tell the race detector about the
// reads it cannot see in assembly.

//go:noescape
func dotF32AVX2(a, b []float32) float32

//go:noescape
func l2F32AVX2(a, b []float32) float32

//go:noescape
func l1F32AVX2(a, b []float32) float32

//go:noescape
func dotI8AVX2(a, b []int8) int32

//go:noescape
func l2I8AVX2(a, b []int8) int32

//go:noescape
func dotU8AVX2(a, b []uint8) uint32

//go:noescape
func l2U8AVX2(a, b []uint8) uint32

//go:noescape
func dotF32AVX512(a, b []float32) float32

//go:noescape
func l2F32AVX512(a, b []float32) float32

//go:noescape
func l1F32AVX512(a, b []float32) float32

//go:noescape
func dotI8AVX512(a, b []int8) int32

//go:noescape
func l2I8AVX512(a, b []int8) int32

//go:noescape
func dotU8AVX512(a, b []uint8) uint32

//go:noescape
func l2U8AVX512(a, b []uint8) uint32

//go:noescape
func dotI8VNNI(a, b []int8) int32

//go:noescape
func l2I8VNNI(a, b []int8) int32

//go:noescape
func dotU8VNNI(a, b []uint8) uint32

//go:noescape
func l2U8VNNI(a, b []uint8) uint32

//go:noescape
func hammingPOPCNT(a, b []uint64) int

//go:noescape
func hammingVPOPCNT(a, b []uint64) int

// hasAVX2, hasAVX512 and hasVNNI say whether the CPU (and the OS, which must save the wider
// registers) can run the AVX2, the AVX-512 and the AVX-512 VNNI sets.
var (
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasPOPCNT
	hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW
	hasVNNI   = hasAVX512 && cpu.X86.HasAVX512VNNI
)

// asmSets returns the assembly sets the CPU can run, best first.
func asmSets() []Kernels {
	var ks []Kernels
	if hasVNNI {
		k := avx512Set()
		k.Name = "avx512vnni"
		k.DotInt8 = func(a, b []int8) int32 { b = b[:len(a)]; raceRead(a, b); return dotI8VNNI(a, b) }
		k.L2SquaredInt8 = func(a, b []int8) int32 { b = b[:len(a)]; raceRead(a, b); return l2I8VNNI(a, b) }
		k.DotUint8 = func(a, b []uint8) uint32 { b = b[:len(a)]; raceRead(a, b); return dotU8VNNI(a, b) }
		k.L2SquaredUint8 = func(a, b []uint8) uint32 { b = b[:len(a)]; raceRead(a, b); return l2U8VNNI(a, b) }
		ks = append(ks, k)
	}
	if hasAVX512 {
		ks = append(ks, avx512Set())
	}
	if hasAVX2 {
		ks = append(ks, avx2Set())
	}
	return ks
}

func avx512Set() Kernels {
	k := withPgAVX2(Kernels{
		Name:           "avx512",
		L2Squared:      func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return l2F32AVX512(a, b) },
		Dot:            func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return dotF32AVX512(a, b) },
		L1:             func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return l1F32AVX512(a, b) },
		DotInt8:        func(a, b []int8) int32 { b = b[:len(a)]; raceRead(a, b); return dotI8AVX512(a, b) },
		L2SquaredInt8:  func(a, b []int8) int32 { b = b[:len(a)]; raceRead(a, b); return l2I8AVX512(a, b) },
		DotUint8:       func(a, b []uint8) uint32 { b = b[:len(a)]; raceRead(a, b); return dotU8AVX512(a, b) },
		L2SquaredUint8: func(a, b []uint8) uint32 { b = b[:len(a)]; raceRead(a, b); return l2U8AVX512(a, b) },
		Hamming:        hamming,
	})
	if cpu.X86.HasAVX512VPOPCNTDQ {
		k.Hamming = hammingWide
	}
	return k
}

func avx2Set() Kernels {
	return withPgAVX2(Kernels{
		Name:           "avx2",
		L2Squared:      func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return l2F32AVX2(a, b) },
		Dot:            func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return dotF32AVX2(a, b) },
		L1:             func(a, b []float32) float32 { b = b[:len(a)]; raceRead(a, b); return l1F32AVX2(a, b) },
		DotInt8:        func(a, b []int8) int32 { b = b[:len(a)]; raceRead(a, b); return dotI8AVX2(a, b) },
		L2SquaredInt8:  func(a, b []int8) int32 { b = b[:len(a)]; raceRead(a, b); return l2I8AVX2(a, b) },
		DotUint8:       func(a, b []uint8) uint32 { b = b[:len(a)]; raceRead(a, b); return dotU8AVX2(a, b) },
		L2SquaredUint8: func(a, b []uint8) uint32 { b = b[:len(a)]; raceRead(a, b); return l2U8AVX2(a, b) },
		Hamming:        hamming,
	})
}

func hamming(a, b []uint64) int { b = b[:len(a)]; raceRead(a, b); return hammingPOPCNT(a, b) }

// hammingWide counts with VPOPCNTQ from 16 words (1,024 bits) up; below that the reduction of
// the vector costs more than scalar POPCNT saves.
func hammingWide(a, b []uint64) int {
	b = b[:len(a)]
	raceRead(a, b)
	if len(a) < 16 {
		return hammingPOPCNT(a, b)
	}
	return hammingVPOPCNT(a, b)
}

// AVX2 returns the AVX2 assembly set when the CPU supports it (for tests and benchmarks on
// AVX-512 machines, where it is not the active one); ok is false otherwise.
func AVX2() (k Kernels, ok bool) {
	if !hasAVX2 {
		return Kernels{}, false
	}
	return avx2Set(), true
}
