package vectext_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
)

// handPicked are element texts chosen to reach every branch of strtof and of the fast path:
// signs, missing digits on either side of the point, exponents strtof reads or leaves, zeros,
// subnormals and the underflow to zero, ties and near-ties of float32 rounding, the overflow
// threshold, digit counts around the fast path's 19, hexadecimal floats, inf and nan.
var handPicked = []string{
	"0", "-0", "+0", "0.0", "-0.0", "00", "000.000", "1", "-1", "+1", "1.", ".5", "-.5", "+.5", ".", "-", "+", "+-1", "--1",
	"1e5", "1E5", "1e+5", "1e-5", "1e", "1e+", "1e-", "1ee5", "1.5e", ".e1", "e1", "1.e2", "-1.5E-3",
	"0e0", "-0e5", "0e999999999999", "-0e-999999999999", "1e999999999999", "1e-999999999999", "-1e-999999999999",
	"1e38", "1e39", "-1e39", "3.4028235e38", "3.40282346e38", "3.4028236e38", "3.40282357e38",
	"340282356779733661637539395458142568447", "340282356779733661637539395458142568448", "340282356779733661637539395458142568449",
	"1e-45", "1.4e-45", "7e-46", "7.006492321624085e-46", "7.006492321624086e-46", "7.0064923216240862e-46", "1e-46", "-1e-46", "1e-50", "-1e-50",
	"1.17549435e-38", "1.1754943e-38", "1.1754942e-38", "1.17549428e-38", "1.1754944e-38", "5.877472e-39", "1e-38",
	"16777216", "16777217", "16777218", "16777219", "33554433", "9007199254740993", "9007199254740992.5",
	"0.1", "0.2", "0.3", "0.7", "1.1", "3.14159265358979323846264338327950288", "2.7182818284590452354",
	"1234567890123456789", "12345678901234567890", "1234567890123456789012345", "0.1234567890123456789", "0.12345678901234567891",
	"0.000000000000000000000000000000000000000000000000001", "100000000000000000000000000000000000000",
	"1000000000000000000000000000000000000000", "0.0000000000000000000000000000000000000000000014",
	"123456789.0", "12345678.9", "1234567.89", "0.0123456789012345678", "-0.012345678901234567", "8.589973e9",
	"0x1p3", "0X1P3", "0x1", "-0x1", "0x", "0X", "0xg", "0x.", "0x.8", "0x1.", "0x1.8", "0xp1", "0x1p", "0x1p+", "0x1p-",
	"0x1p-149", "0x1p-150", "0x1.8p-150", "0x1.000001p-150", "0x1p-126", "0x1.fffffep127", "0x1.fffffe8p127", "0x1.ffffffp127",
	"0x1p128", "0x1p200", "-0x1p-200", "0xFFFFFFFFFFFFFFFFFFFFp0", "0x123456789abcdef123p-70", "0x1.0000010000000000001p0",
	"0x1.000001p0", "0x1.0000010p0", "0x1P+3", "0x1p3.5", "00x1", "0x1e3", "0x1p99999999999", "0x0p99999999999",
	"inf", "INF", "-inf", "+Inf", "infinity", "-Infinity", "infinit", "infx", "in", "nan", "NaN", "-nan", "+NAN", "nan(123)", "nanx", "na", "n",
	"1_000", "1,5", "1 5", "1f", "1d", "0b1", "0o7", "١", "1\u00a0",
}

// randomNumbers returns n element texts drawn from r: float32 values in their shortest form and
// with 9 digits, float64 values in their shortest form (as JSON.stringify and Python print
// them), the midpoints between neighbouring float32 values printed to 17–25 digits and exactly,
// random significands with random exponents, subnormals, and plain decimals near midpoints.
func randomNumbers(r *rand.Rand, n int) []string {
	out := make([]string, 0, n)
	for len(out) < n {
		f := math.Float32frombits(r.Uint32())
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			continue
		}
		switch r.IntN(10) {
		case 0:
			out = append(out, strconv.FormatFloat(float64(f), 'g', -1, 32))
		case 1:
			out = append(out, strconv.FormatFloat(float64(f), 'e', 8, 32))
		case 2:
			out = append(out, strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(20)-10)), 'g', -1, 64))
		case 3, 4:
			// The midpoint between f and the next float32 away from zero, a float64.
			next := math.Nextafter32(f, float32(math.Copysign(math.Inf(1), float64(f))))
			if math.IsInf(float64(next), 0) {
				continue
			}
			mid := (float64(f) + float64(next)) / 2
			if r.IntN(4) == 0 {
				out = append(out, new(big.Float).SetFloat64(mid).Text('f', 200)) // exact, then zeros
			} else {
				out = append(out, strconv.FormatFloat(mid, 'e', 16+r.IntN(9), 64))
			}
		case 5:
			w := r.Uint64() >> r.IntN(64)
			out = append(out, strconv.FormatUint(w, 10)+"e"+strconv.Itoa(r.IntN(100)-65))
		case 6:
			// Digits split around the point.
			d := strconv.FormatUint(r.Uint64()>>r.IntN(64), 10)
			p := r.IntN(len(d) + 1)
			out = append(out, strings.Repeat("0", r.IntN(3))+d[:p]+"."+d[p:]+"e"+strconv.Itoa(r.IntN(80)-40))
		case 7:
			sub := math.Float32frombits(r.Uint32()&(1<<23-1) | r.Uint32()&(1<<31))
			out = append(out, strconv.FormatFloat(float64(sub), 'g', -1, 32))
		case 8:
			out = append(out, strconv.FormatFloat(float64(f), 'f', -1, 32))
		case 9:
			// A midpoint between float32 values in [0.001, 1000) written as a plain decimal of
			// 14 to 18 places, near the midpoint but not on it: read through float64 it often
			// becomes the midpoint itself, whose float32 rounding then goes the wrong way.
			g := float32(math.Pow(10, r.Float64()*6-3))
			mid := (float64(g) + float64(math.Nextafter32(g, 2*g))) / 2
			out = append(out, strconv.FormatFloat(mid, 'f', 14+r.IntN(5), 64))
		}
	}
	return out
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// plainDecimals returns n element texts of the form the fast path reads, and just beyond it:
// an optional sign, 0 to 9 integer digits, an optional point and 0 to 26 digits after it, with
// runs of zeros and nines (carries, ties) as likely as random digits.
func plainDecimals(r *rand.Rand, n int) []string {
	out := make([]string, 0, n)
	digit := func() byte {
		switch r.IntN(4) {
		case 0:
			return '0'
		case 1:
			return '9'
		}
		return byte('0' + r.IntN(10))
	}
	for len(out) < n {
		var b []byte
		switch r.IntN(3) {
		case 0:
			b = append(b, '-')
		case 1:
			if r.IntN(8) == 0 {
				b = append(b, '+')
			}
		}
		for range r.IntN(10) {
			b = append(b, digit())
		}
		if r.IntN(8) != 0 {
			b = append(b, '.')
		}
		for range r.IntN(27) {
			b = append(b, digit())
		}
		out = append(out, string(b))
	}
	return out
}
