package vectext_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/vectext"
)

func itoa(i int) string { return strconv.Itoa(i) }

func bitsString(f float32) string {
	return strconv.FormatFloat(float64(f), 'g', -1, 32) + " (0x" + strconv.FormatUint(uint64(math.Float32bits(f)), 16) + ")"
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

// TestErrors pins pgvector's words for each way a text is rejected (as psql shows them against
// the Postgres 17 + pgvector 0.8 here; TestAgainstPostgres checks them all live).
func TestErrors(t *testing.T) {
	for _, c := range []struct{ in, code, msg, detail string }{
		{"1,2", "22P02", `invalid input syntax for type vector: "1,2"`, `Vector contents must start with "[".`},
		{"[]", "22000", "vector must have at least 1 dimension", ""},
		{"[1,2", "22P02", `invalid input syntax for type vector: "[1,2"`, ""},
		{"[1,2]x", "22P02", `invalid input syntax for type vector: "[1,2]x"`, "Junk after closing right brace."},
		{"[1,]", "22P02", `invalid input syntax for type vector: "[1,]"`, ""},
		{"[nanx]", "22000", "NaN not allowed in vector", ""},
		{"[-Infinity]", "22000", "infinite value not allowed in vector", ""},
		{"[ +1e39 ]", "22003", `"+1e39" is out of range for type vector`, ""},
		{"[0x1.ffffffp127]", "22003", `"0x1.ffffffp127" is out of range for type vector`, ""},
		{"[0x1p]", "22P02", `invalid input syntax for type vector: "[0x1p]"`, ""},
		{"[" + strings.Repeat("0,", vectext.MaxDims) + "x]", "54000", "vector cannot have more than 16000 dimensions", ""},
	} {
		v, err := vectext.Parse(c.in)
		var e *vectext.Error
		if !errors.As(err, &e) || e.Code != c.code || e.Message != c.msg || e.Detail != c.detail {
			t.Errorf("%.40q: got %v, %v; want %s %s / %s", c.in, v, err, c.code, c.msg, c.detail)
		}
	}
	if _, err := vectext.Parse("[1]\x00"); !errors.Is(err, vectext.ErrNUL) {
		t.Errorf("NUL: %v", err)
	}
}

// TestValues pins values whose reading is easy to get wrong: signed zeros, underflow, hex
// floats, ties of float32 rounding (to even) and decimals that double rounding through float64
// would get wrong.
func TestValues(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []uint32
	}{
		{"[-0, 0, -1e-50, 1e-45]", []uint32{0x80000000, 0, 0x80000000, 1}},
		// Zeros with many places, in a vector long enough for the fast path.
		{"[0.0000000000000000,-0.000000000000000000000,0.00000000000000000000000,-0.0000000000000000,1]", []uint32{0, 0x80000000, 0, 0x80000000, 0x3f800000}},
		{"[0x1p3,0x.8,0x1,0X1P-3]", []uint32{0x41000000, 0x3f000000, 0x3f800000, 0x3e000000}},
		{"[16777217,16777219]", []uint32{0x4b800000, 0x4b800002}}, // ties to even
		// Just above 1 + 2^-24, the tie between 1 and the next float32, so it rounds up; read
		// through float64 it becomes the tie itself and then rounds down to 1.
		{"[1.00000005960464477539930971076746]", []uint32{0x3f800001}},
		{"[\t1.5 ,\n.25\r]\f", []uint32{0x3fc00000, 0x3e800000}},
		// Read through float64 this becomes the midpoint between 0x3e84d133 and 0x3e84d134,
		// which rounds to even; the decimal itself is below it. In a vector long enough for the
		// fast path.
		{"[0.2594085782766342,0.2594085782766342,0.2594085782766342,1]", []uint32{0x3e84d133, 0x3e84d133, 0x3e84d133, 0x3f800000}},
	} {
		got, err := vectext.Parse(c.in)
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%q: %v, %v", c.in, got, err)
			continue
		}
		for i, w := range c.want {
			if math.Float32bits(got[i]) != w {
				t.Errorf("%q element %d: got %#x want %#x", c.in, i, math.Float32bits(got[i]), w)
			}
		}
	}
}

// TestAgainstStrconv: every decimal element that strconv.ParseFloat(…, 32) reads, vectext reads
// to the same bits, alone and inside a vector (where the fast path reads it), and one it refuses
// as out of range, vectext refuses too.
func TestAgainstStrconv(t *testing.T) {
	r := newRand(5)
	elems := append(append(handPicked, randomNumbers(r, 100000)...), plainDecimals(r, 100000)...)
	for _, e := range elems {
		checkAgainstStrconv(t, e)
	}
}

// checkAgainstStrconv checks e, an element text, as TestAgainstStrconv says, when it is made of
// the characters of a decimal (for which strtof and strconv agree on what is a number).
func checkAgainstStrconv(t *testing.T, e string) {
	t.Helper()
	if strings.Trim(e, "0123456789.eE+-") != "" {
		return
	}
	want, werr := strconv.ParseFloat(e, 32)
	const tail = "-0.0000000000000000000000000000000000000000001" // room for the fast path
	for _, c := range []struct {
		s string
		i int // e's index
	}{
		{"[" + e + "]", 0}, {"[" + e + ",1]", 0}, {"[1," + e + ",0.5]", 1},
		{"[" + e + "," + tail + "]", 0}, {"[0.5, " + e + ", " + tail + "]", 1},
	} {
		s, i := c.s, c.i
		got, err := vectext.Parse(s)
		switch {
		case werr == nil:
			if err != nil || math.Float32bits(got[i]) != math.Float32bits(float32(want)) {
				t.Fatalf("%q: got %v (%v), strconv %s", s, got, err, bitsString(float32(want)))
			}
		case errors.Is(werr, strconv.ErrRange):
			var ve *vectext.Error
			if !errors.As(err, &ve) || ve.Code != vectext.CodeOutOfRange {
				t.Fatalf("%q: got %v, %v; strconv: out of range", s, got, err)
			}
		default:
			if err == nil {
				t.Fatalf("%q: got %v; strconv: %v", s, got, werr)
			}
		}
	}
}

// TestAllocations: Parse allocates its result alone; Append into a slice with room, nothing.
func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	s := embeddingText(3, 1536, 64)
	if n := testing.AllocsPerRun(20, func() { _, _ = vectext.Parse(s) }); n != 1 {
		t.Errorf("Parse: %v allocations, want 1", n)
	}
	buf := make([]float32, 0, 1536)
	if n := testing.AllocsPerRun(20, func() { _, _ = vectext.Append(buf[:0], s) }); n != 0 {
		t.Errorf("Append: %v allocations, want 0", n)
	}
	// Elements the general path reads (exponents, hex floats, long significands) allocate
	// nothing either, from a string or from bytes.
	slow := "[" + strings.Repeat("1.2345678901234567e-05, 0x1p3,1.00000000000000000000000001,", 100) + "1]"
	if n := testing.AllocsPerRun(20, func() { _, _ = vectext.Append(buf[:0], slow) }); n != 0 {
		t.Errorf("Append, general path: %v allocations, want 0", n)
	}
	slowBytes := []byte(slow)
	if n := testing.AllocsPerRun(20, func() { _, _ = vectext.Append(buf[:0], slowBytes) }); n != 0 {
		t.Errorf("Append from bytes, general path: %v allocations, want 0", n)
	}
	if v, err := vectext.Append(buf[:0], "[1,x]"); err == nil || len(v) != 0 {
		t.Errorf("Append on error: %v, %v", v, err)
	}
}
