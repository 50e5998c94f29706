// Package half rounds float32 values to IEEE 754 half precision (binary16) as pgvector's
// halfvec does (Float4ToHalf: round to nearest, ties to even; subnormal halves kept), and gives
// back the float32 each half widens to (HalfToFloat4, exact). A leaf.
package half

import "math"

// MaxHalf is the largest finite half.
const MaxHalf = 65504

// Round returns the float32 value of the half nearest x, and false when x is NaN or infinite
// or rounds past MaxHalf (halfvec_in then refuses the value).
func Round(x float32) (float32, bool) {
	f := float64(x)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	if f == 0 {
		return x, true // ±0
	}
	_, e := math.Frexp(f) // |f| = frac × 2^e, frac in [0.5, 1): the leading bit is 2^(e-1)
	lead := max(e-1, -14) // below 2^-14 halves are subnormal, spaced 2^-24
	q := math.Ldexp(1, lead-10)
	r := math.RoundToEven(f/q) * q // f/q and the product are exact in float64
	if math.Abs(r) > MaxHalf {
		return 0, false
	}
	return float32(r), true
}

// RoundAll rounds every element of v in place, reporting false (v partly rounded) when one
// cannot be a half.
func RoundAll(v []float32) bool {
	for i, x := range v {
		r, ok := Round(x)
		if !ok {
			return false
		}
		v[i] = r
	}
	return true
}

// Widen returns the float32 value of the IEEE 754 binary16 value with bits h (exact; NaN and
// infinities stay so), as HalfToFloat4 and halfvec_recv widen it.
func Widen(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}
