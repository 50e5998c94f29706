package vectext

import (
	"bytes"
	"errors"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// MaxDims is pgvector's VECTOR_MAX_DIM: the most elements a vector may have.
const MaxDims = 16000

// The SQLSTATEs vector_in raises.
const (
	CodeInvalidText   = "22P02" // invalid_text_representation
	CodeDataException = "22000" // data_exception
	CodeOutOfRange    = "22003" // numeric_value_out_of_range
	CodeLimitExceeded = "54000" // program_limit_exceeded
)

// Error is pgvector's rejection of a vector text: the SQLSTATE, message and detail (empty when
// none) that vector_in reports for it. The message quotes the text as the server received it.
type Error struct {
	Code    string
	Message string
	Detail  string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Message + " (" + e.Detail + ")"
	}
	return e.Message
}

// ErrNUL is returned for a text holding a NUL byte, which Postgres never passes to vector_in
// whole (depending on the encoding it rejects the byte or ends the string there).
var ErrNUL = errors.New("vectext: NUL byte in vector text")

// Text is a vector text as a string or as the bytes of a protocol message (read in place).
type Text interface{ string | []byte }

// Parse reads s as pgvector's vector_in does (for a vector without a dimension modifier) and
// returns its elements in one new slice. A text vector_in rejects yields an *Error with
// pgvector's words, or ErrNUL.
func Parse[T Text](s T) ([]float32, error) { return Append(nil, s) }

// Append is Parse appending the elements to dst, which it grows at most once; on error it
// returns dst's own elements alone. It keeps no reference to s.
func Append[T Text](dst []float32, s T) ([]float32, error) {
	out, err := parse(dst, s)
	if err != nil && indexByte(s, 0) >= 0 {
		err = ErrNUL
	}
	return out, err
}

func indexByte[T Text](s T, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// count returns how many bytes of s are c, with the standard library's vectorised count.
func count[T Text](s T, c byte) int {
	switch v := any(s).(type) {
	case string:
		return strings.Count(v, string(c))
	case []byte:
		return bytes.Count(v, []byte{c})
	}
	panic("unreachable")
}

func parse[T Text](dst []float32, s T) ([]float32, error) {
	i := skipSpace(s, 0)
	if i == len(s) || s[i] != '[' {
		return dst, syntaxError(s, `Vector contents must start with "[".`)
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == ']' {
		return dst, &Error{Code: CodeDataException, Message: "vector must have at least 1 dimension"}
	}
	base := len(dst)
	dst = slices.Grow(dst, min(count(s[i:], ',')+1, MaxDims))
	for {
		var done bool
		if dst, i, done = fastRun(dst, s, i, base+MaxDims); done {
			break
		}
		if len(dst)-base == MaxDims {
			return dst[:base], &Error{Code: CodeLimitExceeded, Message: "vector cannot have more than " + strconv.Itoa(MaxDims) + " dimensions"}
		}
		if i = skipSpace(s, i); i == len(s) {
			return dst[:base], syntaxError(s, "")
		}
		f, end, st := element(s, i)
		switch st {
		case stNoNumber:
			return dst[:base], syntaxError(s, "")
		case stOutOfRange:
			return dst[:base], &Error{Code: CodeOutOfRange, Message: `"` + string(s[i:end]) + `" is out of range for type vector`}
		case stNaN:
			return dst[:base], &Error{Code: CodeDataException, Message: "NaN not allowed in vector"}
		case stInf:
			return dst[:base], &Error{Code: CodeDataException, Message: "infinite value not allowed in vector"}
		}
		dst = append(dst, f)
		if i = skipSpace(s, end); i < len(s) && s[i] == ',' {
			i++
			continue
		}
		if i < len(s) && s[i] == ']' {
			i++
			break
		}
		return dst[:base], syntaxError(s, "")
	}
	if i = skipSpace(s, i); i != len(s) {
		return dst[:base], syntaxError(s, "Junk after closing right brace.")
	}
	return dst, nil
}

func syntaxError[T Text](s T, detail string) *Error {
	return &Error{Code: CodeInvalidText, Message: `invalid input syntax for type vector: "` + string(s) + `"`, Detail: detail}
}

// skipSpace returns the index of the first byte at or after i that is not whitespace as
// pgvector's vector_isspace has it.
func skipSpace[T Text](s T, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			i++
		default:
			return i
		}
	}
	return i
}

// fastRun appends to dst the elements at s[i:] that have the common form, `[ ][-]digits[.digits]`
// with an integer part of at most 7 digits (fewer after a space or a minus), at most 24 digits
// after the point and at most 19 significant digits in all, each followed at once by ',' or ']',
// reading them eight bytes at a time. It stops at the closing bracket (done, with i after it), at
// the first element of another form or whose value it cannot prove, at len(dst) == limit, or
// near the end of s (with i at the element's start; element then reads it).
func fastRun[T Text](dst []float32, s T, i, limit int) (_ []float32, _ int, done bool) {
	const window = 34 // space, sign, 7 digits, point, three words of digits: the bytes an element may read
	for i+window <= len(s) && len(dst) < limit {
		win := s[i : i+window]
		v := load8(win, 0)
		// One space before the number (Python's str of a list writes ", "), then a minus sign,
		// each skipped without a branch (signs come as a coin toss): k, the offset in win, moves
		// past them, and v loses them (its top bytes then read as non-digits).
		sp := 1 ^ (int(byte(v)^' ')+255)>>8
		v >>= 8 * sp
		minus := 1 ^ (int(byte(v)^'-')+255)>>8
		v >>= 8 * minus
		k := sp + minus
		sign := uint32(minus) << 31
		var w uint64
		var c byte // the byte after the number
		dp := 0
		fraction := true
		if v&0xFFFF == '0'|'.'<<8 {
			k += 2 // "0.", as most elements of an embedding start
		} else {
			d, n := digitsIn(v)
			if n == 0 || n == 8 {
				return dst, i, false
			}
			w = eightDigits(alignDigits(d, n))
			k += n
			if c = byte(v >> (8 * n)); c == '.' {
				k++
			} else {
				fraction = false
			}
		}
		if fraction {
			// Up to three words of digits. w < 10^7 before the first, so only the second and
			// third can take it past 19 digits.
			frac := win[k : k+24]
			v = load8(frac, 0)
			d, n := digitsIn(v)
			if n < 8 {
				w = w*pow10Int[n] + eightDigits(alignDigits(d, n))
			} else {
				w = w*1e8 + eightDigits(d)
				v = load8(frac, 8)
				if d, n = digitsIn(v); n < 8 {
					if w >= maxBefore[n] {
						return dst, i, false
					}
					w = w*pow10Int[n] + eightDigits(alignDigits(d, n))
				} else {
					if w >= maxBefore[8] {
						return dst, i, false
					}
					w = w*1e8 + eightDigits(d)
					v = load8(frac, 16)
					if d, n = digitsIn(v); n == 8 || w >= maxBefore[n] {
						return dst, i, false
					}
					w = w*pow10Int[n] + eightDigits(alignDigits(d, n))
					k, dp = k+8, dp-8
				}
				k, dp = k+8, dp-8
			}
			dp -= n
			k += n
			c = byte(v >> (8 * n))
		}
		if c != ',' && c != ']' {
			return dst, i, false
		}
		var f float32
		if w == 0 {
			f = math.Float32frombits(sign) // any number of zeros
		} else if dp >= -15 && w < 1<<53 {
			// The float64 path of fastFloat32, inline: one rounding to float64, then to float32
			// unless that is a float32 tie. (Chosen by the number of places, which is alike from
			// one element to the next, rather than by w alone.)
			d := float64(w) / float64Pow10[-dp]
			if math.Float64bits(d)&(1<<29-1) == 1<<28 {
				return dst, i, false
			}
			f = math.Float32frombits(math.Float32bits(float32(d)) | sign)
		} else {
			hi, e := product(w, dp)
			var ok bool
			if f, ok = roundProduct(hi, e, sign); !ok {
				return dst, i, false
			}
		}
		dst = append(dst, f)
		i += k + 1
		if c == ']' {
			return dst, i, true
		}
	}
	return dst, i, false
}

// maxBefore[n] bounds w before n more digits join it, so that it keeps at most 19 digits.
var maxBefore = [...]uint64{1e19, 1e18, 1e17, 1e16, 1e15, 1e14, 1e13, 1e12, 1e11}

// load8 returns s[j:j+8] as a little-endian word (s[j] in the lowest byte).
func load8[T Text](s T, j int) uint64 {
	b := s[j : j+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// status is how strtof and pgvector's checks judge one element.
type status uint8

const (
	stOK         status = iota
	stNoNumber          // strtof converted nothing
	stOutOfRange        // strtof overflowed (ERANGE and an infinity)
	stNaN               // a NaN, which pgvector refuses
	stInf               // an infinity, which pgvector refuses
)

// element reads the number strtof would read at s[i] (not whitespace) and returns its value and
// the index just after it.
func element[T Text](s T, i int) (float32, int, status) {
	start := i
	neg := false
	if c := s[i]; c == '-' || c == '+' {
		neg = c == '-'
		i++
	}
	// Decimal significand: up to 19 significant digits in w, the rest only counted (w is to be
	// multiplied by 10^dp); exact is false when a digit left out is not zero.
	j, w, taken, exact := digits(s, i, 0)
	dp := j - i - taken
	n := j - i
	if j < len(s) && s[j] == '.' {
		k := j + 1
		var fracExact bool
		j, w, taken, fracExact = digits(s, k, w)
		dp -= taken
		n += j - k
		exact = exact && fracExact
	}
	if n == 0 {
		return 0, start, special(s[i:])
	}
	if j == i+1 && s[i] == '0' && j < len(s) && s[j]|0x20 == 'x' {
		if f, end, st, isHex := hexElement(s, start, j+1); isHex {
			return f, end, st
		}
		return signedZero(neg), j, stOK // strtof reads the "0" alone
	}
	if j < len(s) && s[j]|0x20 == 'e' {
		k := j + 1
		eneg := false
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			eneg = s[k] == '-'
			k++
		}
		if k < len(s) && s[k]-'0' <= 9 {
			e := 0
			for ; k < len(s) && s[k]-'0' <= 9; k++ {
				if e < 1e6 {
					e = e*10 + int(s[k]-'0')
				}
			}
			if eneg {
				e = -e
			}
			dp += e
			j = k
		}
	}
	if w == 0 {
		return signedZero(neg), j, stOK
	}
	if exact {
		if f, ok := fastFloat32(w, dp, neg); ok {
			return f, j, stOK
		}
	}
	return slowFloat32(s[start:j], j)
}

// special judges a text where strtof found no digits after the sign: "inf", "infinity" and
// "nan" (any case, with anything after them) or nothing.
func special[T Text](s T) status {
	if len(s) >= 3 {
		switch a, b, c := s[0]|0x20, s[1]|0x20, s[2]|0x20; {
		case a == 'i' && b == 'n' && c == 'f':
			return stInf
		case a == 'n' && b == 'a' && c == 'n':
			return stNaN
		}
	}
	return stNoNumber
}

// hexElement reads a hexadecimal float whose digits start at s[i] (after "0x"), as strtof does:
// hex digits with an optional point (at least one digit), then an optional binary exponent
// "p[sign]digits". isHex is false when there are no hex digits (strtof then reads only the "0").
func hexElement[T Text](s T, start, i int) (f float32, end int, st status, isHex bool) {
	j, digits := i, 0
	for ; j < len(s) && isHexDigit(s[j]); j++ {
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for ; j < len(s) && isHexDigit(s[j]); j++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, 0, stOK, false
	}
	withExp := false
	if j < len(s) && s[j]|0x20 == 'p' {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && s[k]-'0' <= 9 {
			for k < len(s) && s[k]-'0' <= 9 {
				k++
			}
			j, withExp = k, true
		}
	}
	if withExp {
		f, _, st = slowFloat32(s[start:j], j)
	} else {
		var buf [64]byte // Go's ParseFloat wants the exponent strtof leaves optional
		f, _, st = slowFloat32(append(append(buf[:0], s[start:j]...), "p0"...), j)
	}
	return f, j, st, true
}

// digits reads the decimal digits at s[j:] into w (which holds the digits before them) while w
// stays below 10^19: it returns the index after the last digit, w, how many digits it took into
// w, and whether all the digits it left out were zeros.
func digits[T Text](s T, j int, w uint64) (end int, _ uint64, taken int, exact bool) {
	start := j
	// Eight bytes at a time while w has room for eight more digits.
	for j+8 <= len(s) && w < 1e11 {
		d, n := digitsIn(load8(s, j))
		if n == 0 {
			return j, w, j - start, true
		}
		if n == 8 {
			w = w*1e8 + eightDigits(d)
		} else {
			w = w*pow10Int[n] + eightDigits(alignDigits(d, n))
		}
		j += n
		if n < 8 {
			return j, w, j - start, true
		}
	}
	for ; j < len(s) && s[j]-'0' <= 9 && w < 1e18; j++ {
		w = w*10 + uint64(s[j]-'0')
	}
	taken, exact = j-start, true
	for ; j < len(s) && s[j]-'0' <= 9; j++ {
		exact = exact && s[j] == '0'
	}
	return j, w, taken, exact
}

var pow10Int = [...]uint64{1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8}

// digitsIn returns the digit values of the eight bytes in v (the first in the lowest byte) and
// how many of those bytes are ASCII digits before the first that is not. A byte is a digit when
// neither subtracting '0' nor adding 0x46 (which takes ':' and above to 0x80) sets its high bit;
// a borrow or carry out of a byte only disturbs the bytes after it, which come after a non-digit.
func digitsIn(v uint64) (d uint64, n int) {
	const zeros, above, high = 0x3030303030303030, 0x4646464646464646, 0x8080808080808080
	d = v - zeros
	return d, bits.TrailingZeros64((d|(v+above))&high) / 8
}

// alignDigits moves the first n (< 8) digit values of d to the top of the word, with zeros
// (leading zero digits) below, for eightDigits.
func alignDigits(d uint64, n int) uint64 { return d << (56 - 8*n) << 8 }

// eightDigits is the number written by the eight digit values in v's bytes, the most
// significant in the lowest byte: pairs of digits, then of pairs, then of quadruples.
func eightDigits(v uint64) uint64 {
	v = (v*10 + v>>8) & 0x00FF00FF00FF00FF
	v = (v*100 + v>>16) & 0x0000FFFF0000FFFF
	return (v&0xFFFFFFFF)*10000 + v>>32
}

func isHexDigit(c byte) bool {
	return c-'0' <= 9 || c|0x20-'a' <= 'f'-'a'
}

// slowFloat32 converts tok, a number in a syntax both strtof and strconv read alike, with
// strconv's correctly rounded float32 conversion.
func slowFloat32[T Text](tok T, end int) (float32, int, status) {
	f, err := strconv.ParseFloat(string(tok), 32)
	if err != nil {
		// Only a range error is possible here; strconv returns it for overflow alone (an
		// underflow is a zero or a subnormal, as strtof's ERANGE without an infinity).
		return 0, end, stOutOfRange
	}
	return float32(f), end, stOK
}

func signedZero(neg bool) float32 {
	if neg {
		return float32(math.Copysign(0, -1))
	}
	return 0
}
