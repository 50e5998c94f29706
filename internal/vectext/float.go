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
// through a 64×64-bit product (productFloat32).
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
	var sign uint32
	if neg {
		sign = 1 << 31
	}
	return productFloat32(w, q, sign)
}

// productFloat32 is fastFloat32 through a 64×64-bit product, for q in [minPow10, maxPow10], with
// the sign given as the float32 sign bit:
//
// With w normalised to wn = w·2^lz and 10^q in [t·2^b, (t+1)·2^b), the exact value is
// x = wn·10^q·2^-lz in [P, P+wn)·2^(b-lz) where P = wn·t, a 128-bit product (hi, lo) with its top
// bit at 127 or 126; in the second case (hi, lo) is shifted left once, which doubles the unknown
// part. The float32 significand is then hi's top 24 bits and rest, hi's 40 bits below them, says
// how x rounds: the unknown part is below 2^65, two units of hi, so when rest is not within two
// units below the midpoint 2^39 or on it, x lies on the same side of the midpoint as the product
// does and rounding it rounds x. (Crossing the next significand from just below is harmless: the
// product then rounds up to it.)
func productFloat32(w uint64, q int, sign uint32) (float32, bool) {
	hi, e := product(w, q)
	return roundProduct(hi, e, sign)
}

// product returns the top 64 bits of w·10^q's product (normalised: the top bit set) and the
// exponent e of x = w·10^q (x is in [2^e, 2^(e+1))); w is not zero. It and roundProduct are small enough to be
// inlined where a loop converts many elements.
func product(w uint64, q int) (hi uint64, e int) {
	p := pow10[q-minPow10]
	lz := bits.LeadingZeros64(w) & 63
	hi, lo := bits.Mul64(w<<lz, p.t)
	// Normalise without a branch (which of the two cases comes is a coin toss).
	low := 1 - hi>>63
	return hi<<low | lo>>63&low, int(p.b) - lz + 127 - int(low)
}

// roundProduct rounds product's result to a float32 with the given sign bit, or reports false.
func roundProduct(hi uint64, e int, sign uint32) (float32, bool) {
	rest := hi & (1<<40 - 1)
	if e < -125 || e > 126 || rest-(1<<39-2) <= 2 {
		return 0, false // subnormal, near or beyond the largest float32, or too near a tie
	}
	m := hi>>40 + b2u(rest > 1<<39)
	// The biased exponent plus the significand without its leading 1: a carry out of the
	// significand (m = 2^24) moves into the exponent.
	return math.Float32frombits(uint32(e+127)<<23 + uint32(m) - 1<<23 | sign), true
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
