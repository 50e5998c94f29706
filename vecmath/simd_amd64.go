//go:build goexperiment.simd && amd64

package vecmath

import "simd/archsimd"

// The simd/archsimd kernels: an alternative to the assembly sets in builds with GOEXPERIMENT=simd,
// never picked by default (VECGATE_KERNELS=archsimd picks the best of them). They are kept as a
// second, independently written vector implementation that the tests compare with the others,
// and as the benchmark the assembly must match; they can replace the assembly once simd/archsimd
// is out of its experiment.
//
// Tails shorter than a vector use the portable loops: archsimd's Load…SlicePart trips the race
// detector's checkptr ("converted pointer straddles multiple allocations") at the end of an
// allocation.

// archsimdSets returns the archsimd sets the CPU can run, best first.
func archsimdSets() []Kernels {
	var ks []Kernels
	if archsimd.X86.AVX512() {
		k := withPgAVX2(Kernels{
			Name:           "archsimd-avx512",
			L2Squared:      l2SquaredAVX512,
			Dot:            dotAVX512,
			L1:             l1AVX512,
			DotInt8:        dotInt8AVX512,
			L2SquaredInt8:  l2SquaredInt8AVX512,
			DotUint8:       dotUint8AVX512,
			L2SquaredUint8: l2SquaredUint8AVX512,
			Hamming:        hammingGeneric,
		})
		if archsimd.X86.AVX512VPOPCNTDQ() {
			k.Hamming = hammingAVX512
		}
		ks = append(ks, k)
	}
	if archsimd.X86.AVX2() && archsimd.X86.FMA() {
		ks = append(ks, withPgAVX2(Kernels{
			Name: "archsimd-avx2", L2Squared: l2SquaredAVX2, Dot: dotAVX2, L1: l1AVX2,
			DotInt8: dotInt8AVX2, L2SquaredInt8: l2SquaredInt8AVX2,
			DotUint8: dotUint8AVX2, L2SquaredUint8: l2SquaredUint8AVX2,
			Hamming: hammingGeneric,
		}))
	}
	return ks
}

func sum8(v archsimd.Float32x8) float32 {
	var t [8]float32
	v.Store(&t)
	return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))
}

func sum16(v archsimd.Float32x16) float32 { return sum8(v.GetLo().Add(v.GetHi())) }

func sumI8(v archsimd.Int32x8) int32 {
	var t [8]int32
	v.Store(&t)
	return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7]
}

func sumI16(v archsimd.Int32x16) int32 { return sumI8(v.GetLo().Add(v.GetHi())) }

func dotAVX512(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	acc0 := archsimd.BroadcastFloat32x16(0)
	acc1 := acc0
	i := 0
	for ; i+32 <= n; i += 32 {
		acc0 = archsimd.LoadFloat32x16Slice(a[i:]).MulAdd(archsimd.LoadFloat32x16Slice(b[i:]), acc0)
		acc1 = archsimd.LoadFloat32x16Slice(a[i+16:]).MulAdd(archsimd.LoadFloat32x16Slice(b[i+16:]), acc1)
	}
	if i+16 <= n {
		acc0 = archsimd.LoadFloat32x16Slice(a[i:]).MulAdd(archsimd.LoadFloat32x16Slice(b[i:]), acc0)
		i += 16
	}
	return sum16(acc0.Add(acc1)) + dotGeneric(a[i:], b[i:])
}

func l2SquaredAVX512(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	acc0 := archsimd.BroadcastFloat32x16(0)
	acc1 := acc0
	i := 0
	for ; i+32 <= n; i += 32 {
		d0 := archsimd.LoadFloat32x16Slice(a[i:]).Sub(archsimd.LoadFloat32x16Slice(b[i:]))
		d1 := archsimd.LoadFloat32x16Slice(a[i+16:]).Sub(archsimd.LoadFloat32x16Slice(b[i+16:]))
		acc0 = d0.MulAdd(d0, acc0)
		acc1 = d1.MulAdd(d1, acc1)
	}
	if i+16 <= n {
		d := archsimd.LoadFloat32x16Slice(a[i:]).Sub(archsimd.LoadFloat32x16Slice(b[i:]))
		acc0 = d.MulAdd(d, acc0)
		i += 16
	}
	return sum16(acc0.Add(acc1)) + l2SquaredGeneric(a[i:], b[i:])
}

func l1AVX512(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	zero := archsimd.BroadcastFloat32x16(0)
	acc := zero
	i := 0
	for ; i+16 <= n; i += 16 {
		d := archsimd.LoadFloat32x16Slice(a[i:]).Sub(archsimd.LoadFloat32x16Slice(b[i:]))
		acc = acc.Add(d.Max(zero.Sub(d)))
	}
	return sum16(acc) + l1Generic(a[i:], b[i:])
}

func dotInt8AVX512(a, b []int8) int32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x16(0)
	i := 0
	for ; i+32 <= n; i += 32 {
		x := archsimd.LoadInt8x32Slice(a[i:]).ExtendToInt16()
		y := archsimd.LoadInt8x32Slice(b[i:]).ExtendToInt16()
		acc = acc.Add(x.DotProductPairs(y))
	}
	s := sumI16(acc)
	for ; i < n; i++ {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}

func l2SquaredInt8AVX512(a, b []int8) int32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x16(0)
	i := 0
	for ; i+32 <= n; i += 32 {
		d := archsimd.LoadInt8x32Slice(a[i:]).ExtendToInt16().Sub(archsimd.LoadInt8x32Slice(b[i:]).ExtendToInt16())
		acc = acc.Add(d.DotProductPairs(d))
	}
	s := sumI16(acc)
	for ; i < n; i++ {
		d := int32(a[i]) - int32(b[i])
		s += d * d
	}
	return s
}

func dotUint8AVX512(a, b []uint8) uint32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x16(0)
	i := 0
	for ; i+32 <= n; i += 32 {
		x := archsimd.LoadUint8x32Slice(a[i:]).ExtendToUint16().AsInt16x32()
		y := archsimd.LoadUint8x32Slice(b[i:]).ExtendToUint16().AsInt16x32()
		acc = acc.Add(x.DotProductPairs(y))
	}
	s := uint32(sumI16(acc))
	for ; i < n; i++ {
		s += uint32(a[i]) * uint32(b[i])
	}
	return s
}

func l2SquaredUint8AVX512(a, b []uint8) uint32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x16(0)
	i := 0
	for ; i+32 <= n; i += 32 {
		x := archsimd.LoadUint8x32Slice(a[i:]).ExtendToUint16().AsInt16x32()
		y := archsimd.LoadUint8x32Slice(b[i:]).ExtendToUint16().AsInt16x32()
		d := x.Sub(y)
		acc = acc.Add(d.DotProductPairs(d))
	}
	s := uint32(sumI16(acc))
	for ; i < n; i++ {
		d := int32(a[i]) - int32(b[i])
		s += uint32(d * d)
	}
	return s
}

func hammingAVX512(a, b []uint64) int {
	n := len(a)
	if n < 16 { // the reduction costs more than scalar POPCNT here
		return hammingGeneric(a, b)
	}
	b = b[:n]
	acc := archsimd.BroadcastUint64x8(0)
	i := 0
	for ; i+8 <= n; i += 8 {
		x := archsimd.LoadUint64x8Slice(a[i:]).Xor(archsimd.LoadUint64x8Slice(b[i:]))
		acc = acc.Add(x.OnesCount())
	}
	var t [8]uint64
	acc.Store(&t)
	s := int(t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7])
	if i < n {
		s += hammingGeneric(a[i:], b[i:])
	}
	return s
}

func dotAVX2(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	acc0 := archsimd.BroadcastFloat32x8(0)
	acc1 := acc0
	i := 0
	for ; i+16 <= n; i += 16 {
		acc0 = archsimd.LoadFloat32x8Slice(a[i:]).MulAdd(archsimd.LoadFloat32x8Slice(b[i:]), acc0)
		acc1 = archsimd.LoadFloat32x8Slice(a[i+8:]).MulAdd(archsimd.LoadFloat32x8Slice(b[i+8:]), acc1)
	}
	if i+8 <= n {
		acc0 = archsimd.LoadFloat32x8Slice(a[i:]).MulAdd(archsimd.LoadFloat32x8Slice(b[i:]), acc0)
		i += 8
	}
	return sum8(acc0.Add(acc1)) + dotGeneric(a[i:], b[i:])
}

func l2SquaredAVX2(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	acc0 := archsimd.BroadcastFloat32x8(0)
	acc1 := acc0
	i := 0
	for ; i+16 <= n; i += 16 {
		d0 := archsimd.LoadFloat32x8Slice(a[i:]).Sub(archsimd.LoadFloat32x8Slice(b[i:]))
		d1 := archsimd.LoadFloat32x8Slice(a[i+8:]).Sub(archsimd.LoadFloat32x8Slice(b[i+8:]))
		acc0 = d0.MulAdd(d0, acc0)
		acc1 = d1.MulAdd(d1, acc1)
	}
	if i+8 <= n {
		d := archsimd.LoadFloat32x8Slice(a[i:]).Sub(archsimd.LoadFloat32x8Slice(b[i:]))
		acc0 = d.MulAdd(d, acc0)
		i += 8
	}
	return sum8(acc0.Add(acc1)) + l2SquaredGeneric(a[i:], b[i:])
}

func l1AVX2(a, b []float32) float32 {
	n := len(a)
	b = b[:n]
	zero := archsimd.BroadcastFloat32x8(0)
	acc := zero
	i := 0
	for ; i+8 <= n; i += 8 {
		d := archsimd.LoadFloat32x8Slice(a[i:]).Sub(archsimd.LoadFloat32x8Slice(b[i:]))
		acc = acc.Add(d.Max(zero.Sub(d)))
	}
	return sum8(acc) + l1Generic(a[i:], b[i:])
}

func dotInt8AVX2(a, b []int8) int32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x8(0)
	i := 0
	for ; i+16 <= n; i += 16 {
		x := archsimd.LoadInt8x16Slice(a[i:]).ExtendToInt16()
		y := archsimd.LoadInt8x16Slice(b[i:]).ExtendToInt16()
		acc = acc.Add(x.DotProductPairs(y))
	}
	s := sumI8(acc)
	for ; i < n; i++ {
		s += int32(a[i]) * int32(b[i])
	}
	return s
}

func l2SquaredInt8AVX2(a, b []int8) int32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x8(0)
	i := 0
	for ; i+16 <= n; i += 16 {
		d := archsimd.LoadInt8x16Slice(a[i:]).ExtendToInt16().Sub(archsimd.LoadInt8x16Slice(b[i:]).ExtendToInt16())
		acc = acc.Add(d.DotProductPairs(d))
	}
	s := sumI8(acc)
	for ; i < n; i++ {
		d := int32(a[i]) - int32(b[i])
		s += d * d
	}
	return s
}

func dotUint8AVX2(a, b []uint8) uint32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x8(0)
	i := 0
	for ; i+16 <= n; i += 16 {
		x := archsimd.LoadUint8x16Slice(a[i:]).ExtendToUint16().AsInt16x16()
		y := archsimd.LoadUint8x16Slice(b[i:]).ExtendToUint16().AsInt16x16()
		acc = acc.Add(x.DotProductPairs(y))
	}
	s := uint32(sumI8(acc))
	for ; i < n; i++ {
		s += uint32(a[i]) * uint32(b[i])
	}
	return s
}

func l2SquaredUint8AVX2(a, b []uint8) uint32 {
	n := len(a)
	b = b[:n]
	acc := archsimd.BroadcastInt32x8(0)
	i := 0
	for ; i+16 <= n; i += 16 {
		x := archsimd.LoadUint8x16Slice(a[i:]).ExtendToUint16().AsInt16x16()
		y := archsimd.LoadUint8x16Slice(b[i:]).ExtendToUint16().AsInt16x16()
		d := x.Sub(y)
		acc = acc.Add(d.DotProductPairs(d))
	}
	s := uint32(sumI8(acc))
	for ; i < n; i++ {
		d := int32(a[i]) - int32(b[i])
		s += uint32(d * d)
	}
	return s
}
