// Package pgout prints column values as Postgres sends them to a client, in the text and the
// binary result formats, for the types vecgate answers from memory. A value comes in the form
// replication holds it: the type's binary send format, or its text output when Postgres sent
// text (pgoutput does for a few types).
//
// Output depends on session settings: every family needs client_encoding UTF8 and
// extra_float_digits ≥ 1 (what the fast path requires of every session); dates, timestamps and
// bytea are printed only as DateStyle ISO, TimeZone UTC and bytea_output hex print them
// (SettingsFor names the settings a family needs, for the caller's session check). Times,
// intervals and money are not supported. Anything this package cannot print exactly is an
// error, and the caller leaves the statement to Postgres.
package pgout

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Family is how a supported type prints.
type Family uint8

const (
	Unsupported Family = iota
	Int2
	Int4
	Int8
	Bool
	Text    // text, varchar: the bytes, both formats
	BPChar  // character(n): printed as text, but compared without trailing blanks
	UUID    // 16 bytes
	JSON    // json: the text, both formats
	JSONB   // jsonb: the text; binary adds a version byte
	Float4  // real
	Float8  // double precision
	Numeric // numeric
	// Printed under session settings (datetime.go): the fast path requires DateStyle ISO,
	// TimeZone UTC and bytea_output hex (SettingsFor).
	Date        // date
	Timestamp   // timestamp without time zone
	TimestampTZ // timestamp with time zone
	Bytea       // bytea
)

// FamilyOf returns the family of a column type as format_type prints it ("integer",
// "character varying(20)", "numeric(10,2)", …); Unsupported for the rest.
func FamilyOf(typ string) Family {
	if strings.HasSuffix(typ, "[]") {
		return arrayFamilyOf(typ)
	}
	base, rest, _ := strings.Cut(typ, "(")
	if base == "timestamp" { // timestamp(3) with time zone
		_, base, _ = strings.Cut(rest, ")")
		base = "timestamp" + base
	}
	switch base {
	case "date":
		return Date
	case "timestamp without time zone":
		return Timestamp
	case "timestamp with time zone":
		return TimestampTZ
	case "bytea":
		return Bytea
	case "smallint":
		return Int2
	case "integer":
		return Int4
	case "bigint":
		return Int8
	case "boolean":
		return Bool
	case "text", "character varying":
		return Text
	case "character", "bpchar":
		return BPChar
	case "uuid":
		return UUID
	case "json":
		return JSON
	case "jsonb":
		return JSONB
	case "real":
		return Float4
	case "double precision":
		return Float8
	case "numeric":
		return Numeric
	}
	return Unsupported
}

// ErrInexact is returned for a value this package cannot print as Postgres does.
var ErrInexact = errors.New("pgout: value not printed exactly")

// MaxFloat bounds the magnitude of floats printed here; Postgres' shortest-exact output was
// verified below it.
const MaxFloat = 1e15

// Encode returns v (binary send form, or text output form when text is set) in the result
// format asked for: 0 text, 1 binary.
func Encode(f Family, v []byte, text bool, format int16) ([]byte, error) {
	if elem, ok := f.Elem(); ok {
		return encodeArray(elem, v, text, format)
	}
	if text {
		if f.settingDependent() {
			return nil, fmt.Errorf("%w: family %d in text form (printed under the walsender's settings)", ErrInexact, f)
		}
		if format == 0 && f != Float4 && f != Float8 {
			return v, nil // Postgres' own text output (floats: printed under the walsender's settings)
		}
		b, err := binaryFromText(f, v)
		if err != nil || format != 0 {
			return b, err
		}
		v = b
	}
	if format != 0 {
		return v, checkBinary(f, v)
	}
	return textFromBinary(f, v)
}

// checkBinary verifies a binary value has its type's length.
func checkBinary(f Family, v []byte) error {
	want := 0
	switch f {
	case Bool:
		want = 1
	case Int2:
		want = 2
	case Int4, Float4, Date:
		want = 4
	case Int8, Float8, Timestamp, TimestampTZ:
		want = 8
	case UUID:
		want = 16
	}
	if want != 0 && len(v) != want || f == JSONB && (len(v) == 0 || v[0] != 1) || f == Unsupported {
		return fmt.Errorf("%w: %d bytes for family %d", ErrInexact, len(v), f)
	}
	return nil
}

func textFromBinary(f Family, v []byte) ([]byte, error) {
	if err := checkBinary(f, v); err != nil {
		return nil, err
	}
	switch f {
	case Int2:
		return strconv.AppendInt(nil, int64(int16(binary.BigEndian.Uint16(v))), 10), nil
	case Int4:
		return strconv.AppendInt(nil, int64(int32(binary.BigEndian.Uint32(v))), 10), nil
	case Int8:
		return strconv.AppendInt(nil, int64(binary.BigEndian.Uint64(v)), 10), nil
	case Bool:
		if v[0] != 0 {
			return []byte("t"), nil
		}
		return []byte("f"), nil
	case Text, BPChar, JSON:
		return v, nil
	case JSONB:
		return v[1:], nil
	case UUID:
		return []byte(UUIDText(v)), nil
	case Float4:
		return Float(float64(math.Float32frombits(binary.BigEndian.Uint32(v))), 32)
	case Float8:
		return Float(math.Float64frombits(binary.BigEndian.Uint64(v)), 64)
	case Numeric:
		return numericText(v)
	case Date:
		return dateText(int32(binary.BigEndian.Uint32(v))), nil
	case Timestamp, TimestampTZ:
		return timestampText(int64(binary.BigEndian.Uint64(v)), f == TimestampTZ), nil
	case Bytea:
		return append([]byte(`\x`), hex.EncodeToString(v)...), nil
	}
	return nil, ErrInexact
}

// UUIDText prints 16 bytes as Postgres' uuid output does.
func UUIDText(b []byte) string {
	return hex.EncodeToString(b[0:4]) + "-" + hex.EncodeToString(b[4:6]) + "-" +
		hex.EncodeToString(b[6:8]) + "-" + hex.EncodeToString(b[8:10]) + "-" + hex.EncodeToString(b[10:16])
}

// binaryFromText reads a value in Postgres' text output form into its binary send form.
func binaryFromText(f Family, v []byte) ([]byte, error) {
	s := string(v)
	switch f {
	case Int2, Int4, Int8:
		bits := map[Family]int{Int2: 16, Int4: 32, Int8: 64}[f]
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return nil, ErrInexact
		}
		switch f {
		case Int2:
			return binary.BigEndian.AppendUint16(nil, uint16(n)), nil
		case Int4:
			return binary.BigEndian.AppendUint32(nil, uint32(n)), nil
		}
		return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
	case Bool:
		switch s {
		case "t":
			return []byte{1}, nil
		case "f":
			return []byte{0}, nil
		}
	case Text, BPChar, JSON:
		return v, nil
	case JSONB:
		return append([]byte{1}, v...), nil
	case UUID:
		b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		if err == nil && len(b) == 16 && len(s) == 36 {
			return b, nil
		}
	case Float4, Float8:
		// Text floats were printed under the walsender's extra_float_digits: read them back only
		// when they round-trip (shortest-exact output always does).
		bits := 64
		if f == Float4 {
			bits = 32
		}
		x, err := strconv.ParseFloat(s, bits)
		if err != nil {
			return nil, ErrInexact
		}
		if math.IsNaN(x) { // Postgres' NaN has the quiet bit alone
			if f == Float4 {
				return []byte{0x7f, 0xc0, 0, 0}, nil
			}
			return []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 0}, nil
		}
		if f == Float4 {
			return binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(x))), nil
		}
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(x)), nil
	}
	return nil, ErrInexact
}

// Float prints v as Postgres' float4 (bits 32) or float8 (bits 64) output does with
// extra_float_digits ≥ 1: the shortest text that reads back as v, in fixed notation when the
// decimal exponent is in [-4, 6) for float4 and [-4, 15) for float8, else in exponential notation
// with at least two exponent digits. Magnitudes from MaxFloat up are not printed (ErrInexact).
func Float(v float64, bits int) ([]byte, error) {
	switch {
	case math.IsNaN(v):
		return []byte("NaN"), nil
	case math.IsInf(v, 1):
		return []byte("Infinity"), nil
	case math.IsInf(v, -1):
		return []byte("-Infinity"), nil
	case v == 0:
		if math.Signbit(v) {
			return []byte("-0"), nil
		}
		return []byte("0"), nil
	case math.Abs(v) >= MaxFloat:
		return nil, ErrInexact
	}
	e := strconv.FormatFloat(v, 'e', -1, bits)
	if onBound(e, v, bits) {
		return nil, ErrInexact
	}
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	fixedBelow := 15
	if bits == 32 {
		fixedBelow = 6
	}
	if exp >= -4 && exp < fixedBelow {
		return []byte(strconv.FormatFloat(v, 'f', -1, bits)), nil
	}
	return []byte(e), nil
}

// onBound reports whether the decimal s, the shortest that reads back as v, lies exactly halfway
// between v and a neighbour. Go's shortest output takes such a bound when v's mantissa is even
// (it reads back as v under round-half-even); Postgres' does not, and prints more digits
// (float4 116056144: Go "1.1605614e+08", Postgres "1.16056144e+08"). Those are left to Postgres.
func onBound(s string, v float64, bits int) bool {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return true
	}
	var up, down float64
	if bits == 32 {
		f := float32(v)
		up, down = float64(math.Nextafter32(f, float32(math.Inf(1)))), float64(math.Nextafter32(f, float32(math.Inf(-1))))
	} else {
		up, down = math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1))
	}
	x := new(big.Rat).SetFloat64(v)
	for _, n := range []float64{up, down} {
		if math.IsInf(n, 0) {
			continue
		}
		mid := new(big.Rat).Add(x, new(big.Rat).SetFloat64(n))
		mid.Quo(mid, big.NewRat(2, 1))
		if mid.Cmp(r) == 0 {
			return true
		}
	}
	return false
}

// numericText prints a numeric's binary send form as numeric_out does.
func numericText(v []byte) ([]byte, error) {
	if len(v) < 8 {
		return nil, ErrInexact
	}
	ndigits := int(int16(binary.BigEndian.Uint16(v[0:])))
	weight := int(int16(binary.BigEndian.Uint16(v[2:])))
	sign := binary.BigEndian.Uint16(v[4:])
	dscale := int(int16(binary.BigEndian.Uint16(v[6:])))
	if ndigits < 0 || dscale < 0 || len(v) != 8+2*ndigits {
		return nil, ErrInexact
	}
	switch sign {
	case 0xC000:
		return []byte("NaN"), nil
	case 0xD000:
		return []byte("Infinity"), nil
	case 0xF000:
		return []byte("-Infinity"), nil
	case 0x0000, 0x4000:
	default:
		return nil, ErrInexact
	}
	digit := func(i int) int { // the i-th base-10000 digit, 0 past the stored ones
		if i < 0 || i >= ndigits {
			return 0
		}
		return int(binary.BigEndian.Uint16(v[8+2*i:]))
	}
	for i := range ndigits {
		if digit(i) > 9999 {
			return nil, ErrInexact
		}
	}
	var out []byte
	if sign == 0x4000 {
		out = append(out, '-')
	}
	if weight < 0 {
		out = append(out, '0')
	} else {
		for i := 0; i <= weight; i++ {
			d := digit(i)
			if i == 0 {
				out = strconv.AppendInt(out, int64(d), 10)
				continue
			}
			out = append(out, byte('0'+d/1000), byte('0'+d/100%10), byte('0'+d/10%10), byte('0'+d%10))
		}
	}
	if dscale > 0 {
		out = append(out, '.')
		for i, n := weight+1, 0; n < dscale; i++ {
			d := digit(i)
			for _, c := range [4]byte{byte('0' + d/1000), byte('0' + d/100%10), byte('0' + d/10%10), byte('0' + d%10)} {
				if n < dscale {
					out = append(out, c)
					n++
				}
			}
		}
	}
	return out, nil
}

// Value is a held column value as replication delivered it.
type Value struct {
	V    []byte
	Null bool
	Text bool // V is the text output form (else the binary send form)
}

// Column describes a column a twin holds: its position among the held columns, its type as
// format_type prints it, how it prints, and whether its values compare bytewise (not a
// nondeterministic collation).
type Column struct {
	Pos      int
	Type     string
	Family   Family
	Compared bool
}

// Vector prints a pgvector vector as vector_out (text: '[1,2.5,-3e-05]', each element as float4
// prints it) or vector_send (binary: dimensions and an unused word as int16, then the elements)
// does.
func Vector(v []float32, format int16) ([]byte, error) {
	if format != 0 {
		out := make([]byte, 0, 4+4*len(v))
		out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
		out = binary.BigEndian.AppendUint16(out, 0)
		for _, x := range v {
			out = binary.BigEndian.AppendUint32(out, math.Float32bits(x))
		}
		return out, nil
	}
	out := make([]byte, 0, 2+12*len(v))
	out = append(out, '[')
	for i, x := range v {
		if i > 0 {
			out = append(out, ',')
		}
		b, err := Float(float64(x), 32)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return append(out, ']'), nil
}
