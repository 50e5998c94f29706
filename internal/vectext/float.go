package vectext

import (
	"math"
	"math/big"
	"math/bits"
)

// The powers of ten the fast path knows: beyond them a float32 result is subnormal or infinite
// for any 19-digit significand, which the fast path leaves to strconv anyway.
const (
	minPow10 = -70
	maxPow10 = 40
)

// pow10 holds, for q in [minPow10, maxPow10], 10^q as t·2^b with t in [2^63, 2^64) rounded down:
// 10^q lies in [t·2^b, (t+1)·2^b).
var pow10 = powersOfTen()

type power struct {
	t uint64
	b int16
}

func powersOfTen() (tab [maxPow10 - minPow10 + 1]power) {
	ten := big.NewInt(10)
	for q := minPow10; q <= maxPow10; q++ {
		v := new(big.Int).Exp(ten, big.NewInt(int64(abs(q))), nil)
		var t *big.Int
		var b int
		if q >= 0 {
			n := v.BitLen()
			if n > 64 {
				t = v.Rsh(v, uint(n-64))
			} else {
				t = v.Lsh(v, uint(64-n))
			}
			b = n - 64
		} else {
			// 2^s / 10^-q with s chosen to put the quotient in [2^63, 2^64): 10^-q is no power
			// of two, so the quotient is never 2^64.
			s := 63 + v.BitLen()
			t = new(big.Int).Lsh(big.NewInt(1), uint(s))
			t.Quo(t, v)
			b = -s
		}
		tab[q-minPow10] = power{t: t.Uint64(), b: int16(b)}
	}
	return tab
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// float64Pow10 are the powers of ten a float64 holds exactly.
var float64Pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// fastFloat32 returns w·10^q rounded to the nearest float32 (ties to even), negated when neg,
// when it can prove that result; ok is false otherwise (the caller then converts another way).
// w is not zero. A w below 2^53 with |q| ≤ 22 goes through one float64 operation; otherwise
// through a 64×64-bit product.
//
// With w normalised to wn = w·2^lz and 10^q in [t·2^b, (t+1)·2^b), the exact value is
// x = wn·10^q·2^-lz in [P, P+wn)·2^(b-lz) where P = wn·t, a 128-bit product (hi, lo) with its top
// bit at 127 or 126. The float32 significand is P's top 24 bits; the bits below decide rounding.
// The unknown part of x is below wn < 2^64, one unit of hi: so when the bits below the significand
// are not within one unit of hi below or at the rounding midpoint, x lies on the same side of the
// midpoint as P does, and rounding P rounds x. (Crossing the next significand from just below is
// harmless: P then rounds up to it.)
func fastFloat32(w uint64, q int, neg bool) (float32, bool) {
	if w < 1<<53 && q >= -22 && q <= 22 {
		// w and 10^|q| are exact float64 values, so d is w·10^q rounded once, to float64. Rounding
		// d again to float32 is rounding w·10^q unless d is a float32 tie (the 29 bits float64
		// has beyond float32's significand are 1000…0): x and d are then on the same side of
		// every tie. d is well inside float32's normal range.
		d := float64(w)
		if q < 0 {
			d /= float64Pow10[-q]
		} else {
			d *= float64Pow10[q]
		}
		if math.Float64bits(d)&(1<<29-1) == 1<<28 {
			return 0, false
		}
		if neg {
			d = -d
		}
		return float32(d), true
	}
	if q < minPow10 || q > maxPow10 {
		return 0, false
	}
	p := pow10[q-minPow10]
	lz := bits.LeadingZeros64(w)
	hi, lo := bits.Mul64(w<<lz, p.t)
	top, sh := 127, uint(40) // sh: how many low bits of hi lie below the 24-bit significand
	if hi>>63 == 0 {
		top, sh = 126, 39
	}
	e := top + int(p.b) - lz // x is in [2^e, 2^(e+1))
	if e < -125 || e > 126 {
		return 0, false // subnormal, or near or beyond the largest float32
	}
	m := hi >> sh
	rest, half := hi&(1<<sh-1), uint64(1)<<(sh-1)
	if rest == half-1 || rest == half && lo == 0 {
		return 0, false // too close to a rounding tie to tell which side x is on
	}
	if rest >= half {
		if m++; m == 1<<24 {
			m >>= 1
			e++
		}
	}
	b := uint32(e+127)<<23 | uint32(m)&(1<<23-1)
	if neg {
		b |= 1 << 31
	}
	return math.Float32frombits(b), true
}
