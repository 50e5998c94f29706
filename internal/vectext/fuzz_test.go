package vectext_test

import (
	"math"
	"math/big"
	"slices"
	"strconv"
	"testing"

	"github.com/vecgate/vecgate/internal/vectext"
)

// FuzzParse: any text is read without a panic, alike as a string and as bytes, and an element
// made of a decimal's characters reads as strconv.ParseFloat(…, 32) reads it (checkAgainstStrconv).
func FuzzParse(f *testing.F) {
	for _, e := range handPicked {
		f.Add(e)
	}
	f.Add("[1,2]")
	f.Add(" [0.0123, -4.5e-3 ,0x1p3]\t")
	f.Fuzz(func(t *testing.T, e string) {
		a, aerr := vectext.Parse(e)
		b, berr := vectext.Parse([]byte(e))
		if !slices.Equal(bitsOf(a), bitsOf(b)) || errString(aerr) != errString(berr) {
			t.Fatalf("%q: string %v, %v; bytes %v, %v", e, a, aerr, b, berr)
		}
		checkAgainstStrconv(t, e)
		// Read alone or among others (where the fast path reads it, after ',' or ', '), an
		// element has one value.
		one, err := vectext.Parse("[" + e + "]")
		if err != nil || len(one) != 1 {
			return
		}
		const tail = "-0.0000000000000000000000000000000000000000001"
		many, err := vectext.Parse("[" + e + "," + e + ", " + e + "," + tail + "]")
		if err != nil || len(many) != 4 {
			t.Fatalf("%q among others: %v, %v", e, many, err)
		}
		for i := range 3 {
			if math.Float32bits(many[i]) != math.Float32bits(one[0]) {
				t.Fatalf("%q: alone %s, as element %d %s", e, bitsString(one[0]), i, bitsString(many[i]))
			}
		}
	})
}

// FuzzFastFloat32: whenever the fast path answers w·10^q, its answer is strconv's.
func FuzzFastFloat32(f *testing.F) {
	f.Add(uint64(16777217), int16(0), false)
	f.Add(uint64(12345678901234567), int16(-18), true)
	f.Add(uint64(1), int16(-45), false)
	f.Add(uint64(34028235), int16(31), false)
	f.Fuzz(func(t *testing.T, w uint64, q int16, neg bool) {
		checkFast(t, w, int(q), neg)
	})
}

// checkFast checks that the fast conversion of w·10^q, when it answers, is strconv's; it reports
// whether it answered.
func checkFast(t *testing.T, w uint64, q int, neg bool) bool {
	t.Helper()
	if w == 0 || w >= 1e19 {
		return false
	}
	got, ok := vectext.FastFloat32(w, q, neg)
	if !ok {
		return false
	}
	s := strconv.FormatUint(w, 10) + "e" + strconv.Itoa(q)
	if neg {
		s = "-" + s
	}
	want, err := strconv.ParseFloat(s, 32)
	if err != nil || math.Float32bits(got) != math.Float32bits(float32(want)) {
		t.Fatalf("%s: fast path %s, strconv %s (%v)", s, bitsString(got), bitsString(float32(want)), err)
	}
	return true
}

// TestFastFloat32: the fast path agrees with strconv on random significands of 1 to 19 digits
// at every exponent it knows (and answers almost all whose result is well inside float32's
// normal range), and on decimals within a few units of the 19th digit of float32
// rounding ties (the inputs it must hand over).
func TestFastFloat32(t *testing.T) {
	r := newRand(9)
	answered, tried := 0, 0
	for range 300000 {
		w := r.Uint64N(1e19)
		w >>= r.IntN(60)
		if w == 0 {
			continue
		}
		// Any exponent the table holds; the count of answers only for results well inside the
		// normal float32 range.
		nd := len(strconv.FormatUint(w, 10))
		q := r.IntN(111) - 70
		ok := checkFast(t, w, q, r.IntN(2) == 0)
		if e := nd - 1 + q; e > -36 && e < 37 {
			tried++
			if ok {
				answered++
			}
		}
	}
	if answered < tried*99/100 {
		t.Errorf("the fast path answered %d of %d random inputs", answered, tried)
	}
	// Ties: the midpoint between a float32 and the next, written with 19 significant digits,
	// and its neighbours.
	for range 100000 {
		f := math.Float32frombits(r.Uint32N(0x7f000000-0x00800000) + 0x00800000)
		mid := new(big.Float).SetPrec(200).SetFloat64(float64(f))
		mid.Add(mid, new(big.Float).SetFloat64((float64(math.Nextafter32(f, math.MaxFloat32))-float64(f))/2))
		digits := mid.Text('e', 18) // d.ddddddddddddddddde±x: 19 significant digits
		mant, exp := digits[:20], digits[21:]
		w, _ := strconv.ParseUint(mant[:1]+mant[2:], 10, 64)
		q, _ := strconv.Atoi(exp)
		for d := uint64(0); d < 5; d++ {
			checkFast(t, w+d-2, q-18, false)
		}
	}
}

func bitsOf(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, f := range v {
		out[i] = math.Float32bits(f)
	}
	return out
}
