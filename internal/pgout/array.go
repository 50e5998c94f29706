package pgout

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Arrays of the supported types. Replication holds an array in array_send's form: the number
// of dimensions, a has-nulls flag and the element type's OID, then each dimension's length and
// lower bound, then each element as its length (-1 for NULL) and its binary send form. That
// form is sent to binary clients as it is; text clients get array_out's: braces per dimension,
// elements separated by commas, NULL bare, an element quoted (with " and \ escaped) when it is
// empty, reads NULL in any case, or holds a brace, a comma, a quote, a backslash or white
// space, and a "[lo:hi]=" prefix when a lower bound is not 1.

// arrayBit marks an array family; the low bits are the element's family.
const arrayBit Family = 0x80

// ArrayOf returns the family of arrays of f.
func ArrayOf(f Family) Family { return f | arrayBit }

// Elem returns an array family's element family, and whether f is an array family.
func (f Family) Elem() (Family, bool) { return f &^ arrayBit, f&arrayBit != 0 }

// elemOIDs are the element type OIDs (pg_type.oid, fixed) an array of each family may carry.
var elemOIDs = map[Family][]uint32{
	Int2: {21}, Int4: {23}, Int8: {20}, Bool: {16}, Text: {25, 1043}, BPChar: {1042}, UUID: {2950},
	JSON: {114}, JSONB: {3802}, Float4: {700}, Float8: {701}, Numeric: {1700}, Date: {1082},
	Timestamp: {1114}, TimestampTZ: {1184}, Bytea: {17},
}

// maxDims is Postgres' MAXDIM.
const maxDims = 6

// arrayValue is an array_send form read: its dimensions and lower bounds, and its elements
// (nil for NULL) in row-major order.
type arrayValue struct {
	dims, lbounds []int
	elems         [][]byte
}

// readArray reads v as an array_send form of elements of family elem, checking every length.
func readArray(elem Family, v []byte) (arrayValue, error) {
	bad := fmt.Errorf("%w: malformed array", ErrInexact)
	word := func() (int, bool) {
		if len(v) < 4 {
			return 0, false
		}
		n := int(int32(binary.BigEndian.Uint32(v)))
		v = v[4:]
		return n, true
	}
	ndim, ok1 := word()
	flags, ok2 := word()
	oid, ok3 := word()
	if !ok1 || !ok2 || !ok3 || ndim < 0 || ndim > maxDims || flags != 0 && flags != 1 {
		return arrayValue{}, bad
	}
	known := false
	for _, o := range elemOIDs[elem] {
		known = known || uint32(oid) == o
	}
	if !known {
		return arrayValue{}, fmt.Errorf("%w: array of type %d", ErrInexact, uint32(oid))
	}
	a := arrayValue{dims: make([]int, ndim), lbounds: make([]int, ndim)}
	n := 1
	if ndim == 0 {
		n = 0
	}
	for d := range ndim {
		var ok1, ok2 bool
		a.dims[d], ok1 = word()
		a.lbounds[d], ok2 = word()
		if !ok1 || !ok2 || a.dims[d] < 0 || n*a.dims[d] > len(v) {
			return arrayValue{}, bad
		}
		n *= a.dims[d]
	}
	nulls := false
	for range n {
		l, ok := word()
		switch {
		case !ok || l < -1 || l > len(v):
			return arrayValue{}, bad
		case l == -1:
			nulls = true
			a.elems = append(a.elems, nil)
		default:
			e := v[:l:l]
			if err := checkBinary(elem, e); err != nil {
				return arrayValue{}, err
			}
			a.elems = append(a.elems, e)
			v = v[l:]
		}
	}
	if len(v) != 0 || nulls && flags == 0 {
		return arrayValue{}, bad
	}
	return a, nil
}

// arrayText prints an array_send form as array_out does.
func arrayText(elem Family, v []byte) ([]byte, error) {
	a, err := readArray(elem, v)
	if err != nil {
		return nil, err
	}
	if len(a.dims) == 0 || len(a.elems) == 0 {
		return []byte("{}"), nil
	}
	var out []byte
	for d := range a.dims {
		if a.lbounds[d] != 1 {
			for d := range a.dims {
				out = fmt.Appendf(out, "[%d:%d]", a.lbounds[d], a.lbounds[d]+a.dims[d]-1)
			}
			out = append(out, '=')
			break
		}
	}
	// Element n starts (and element n-1 ends) as many dimensions as divide n, from the last:
	// the braces each opens and closes.
	edges := func(n int) int {
		c := 0
		for d := len(a.dims) - 1; d >= 0 && n%a.dims[d] == 0; d-- {
			c++
			n /= a.dims[d]
		}
		return c
	}
	for i, e := range a.elems {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, strings.Repeat("{", edges(i))...)
		if e == nil {
			out = append(out, "NULL"...)
		} else {
			s, err := textFromBinary(elem, e)
			if err != nil {
				return nil, err
			}
			out = appendArrayElem(out, s)
		}
		out = append(out, strings.Repeat("}", edges(i+1))...)
	}
	return out, nil
}

// appendArrayElem appends an element's text as array_out writes it.
func appendArrayElem(out, s []byte) []byte {
	quote := len(s) == 0 || strings.EqualFold(string(s), "NULL")
	for _, c := range s {
		switch c {
		case '"', '\\', '{', '}', ',', ' ', '\t', '\n', '\r', '\v', '\f':
			quote = true
		}
	}
	if !quote {
		return append(out, s...)
	}
	out = append(out, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return append(out, '"')
}

// encodeArray is Encode for an array family: binary held values only (their text was printed
// under the walsender's settings, and is not read back).
func encodeArray(elem Family, v []byte, text bool, format int16) ([]byte, error) {
	if text {
		return nil, fmt.Errorf("%w: an array in text form", ErrInexact)
	}
	if format != 0 {
		_, err := readArray(elem, v)
		return v, err
	}
	return arrayText(elem, v)
}

// arrayFamilyOf reads "integer[]" (format_type's name of an array type, whatever its
// dimensions) as an array family.
func arrayFamilyOf(typ string) Family {
	base, ok := strings.CutSuffix(typ, "[]")
	if !ok {
		return Unsupported
	}
	if f := FamilyOf(base); f != Unsupported {
		if _, isArray := f.Elem(); !isArray {
			return ArrayOf(f)
		}
	}
	return Unsupported
}
