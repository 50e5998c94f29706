package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/half"
)

// Vector is one decoded pgvector value.
//
// vector and halfvec fill Values (halfvec widened to float32); sparsevec fills Indices (0-based,
// ascending) and Values; bit fills Bits (Dim bits, most significant bit first, as Postgres stores
// them).
type Vector struct {
	Kind    catalog.VectorType
	Dim     int
	Values  []float32
	Indices []int32
	Bits    []byte
}

// Null reports whether v is the zero Vector: the row's vector is NULL (Row.Vector of an Upsert).
func (v Vector) Null() bool {
	return v.Dim == 0 && v.Values == nil && v.Indices == nil && v.Bits == nil
}

// Equal reports whether v and w hold the same value (float bit patterns compared exactly).
func (v Vector) Equal(w Vector) bool {
	if v.Kind != w.Kind || v.Dim != w.Dim || len(v.Values) != len(w.Values) ||
		!slices.Equal(v.Indices, w.Indices) || !slices.Equal(v.Bits, w.Bits) {
		return false
	}
	for i := range v.Values {
		if math.Float32bits(v.Values[i]) != math.Float32bits(w.Values[i]) {
			return false
		}
	}
	return true
}

// String formats v in pgvector's text format.
func (v Vector) String() string {
	var b strings.Builder
	switch v.Kind {
	case catalog.TypeBit:
		for i := 0; i < v.Dim; i++ {
			if v.Bits[i/8]&(0x80>>(i%8)) != 0 {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
	case catalog.TypeSparsevec:
		b.WriteByte('{')
		for i, ix := range v.Indices {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(ix) + 1))
			b.WriteByte(':')
			b.WriteString(strconv.FormatFloat(float64(v.Values[i]), 'g', -1, 32))
		}
		b.WriteString("}/")
		b.WriteString(strconv.Itoa(v.Dim))
	default:
		b.WriteByte('[')
		for i, f := range v.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(float64(f), 'g', -1, 32))
		}
		b.WriteByte(']')
	}
	return b.String()
}

// Limits pgvector enforces on values (not on indexes).
const (
	maxVectorDim    = 16000
	maxSparseDim    = 1000000000
	maxSparseNNZ    = 16000
	maxBitLen       = 83886080 // varbit's own limit
	errPrefixDecode = "replication: decode "
)

// ErrBadVector is wrapped by every error decoding a vector value.
var ErrBadVector = errors.New("bad vector value")

type vecError struct{ msg string }

func (e *vecError) Error() string        { return e.msg }
func (e *vecError) Is(target error) bool { return target == ErrBadVector }

func decodeErr(format string, args ...any) error {
	return &vecError{msg: fmt.Sprintf(errPrefixDecode+format, args...)}
}

// DecodeBinary decodes the binary send format of a pgvector type.
func DecodeBinary(kind catalog.VectorType, b []byte) (Vector, error) {
	v := Vector{Kind: kind}
	switch kind {
	case catalog.TypeVector, catalog.TypeHalfvec:
		if len(b) < 4 {
			return v, decodeErr("%v: value too short", kind)
		}
		dim := int(int16(binary.BigEndian.Uint16(b)))
		width := 4
		if kind == catalog.TypeHalfvec {
			width = 2
		}
		if dim < 1 || dim > maxVectorDim || len(b) != 4+width*dim {
			return v, decodeErr("%v: %d dimensions in %d bytes", kind, dim, len(b))
		}
		v.Dim = dim
		v.Values = make([]float32, dim)
		p := b[4:]
		for i := range v.Values {
			if width == 4 {
				v.Values[i] = math.Float32frombits(binary.BigEndian.Uint32(p[4*i:]))
			} else {
				v.Values[i] = half.Widen(binary.BigEndian.Uint16(p[2*i:]))
			}
		}
	case catalog.TypeSparsevec:
		if len(b) < 12 {
			return v, decodeErr("%v: value too short", kind)
		}
		dim := int(int32(binary.BigEndian.Uint32(b)))
		nnz := int(int32(binary.BigEndian.Uint32(b[4:])))
		if dim < 1 || dim > maxSparseDim || nnz < 0 || nnz > maxSparseNNZ || nnz > dim || len(b) != 12+8*nnz {
			return v, decodeErr("%v: dim %d nnz %d in %d bytes", kind, dim, nnz, len(b))
		}
		v.Dim = dim
		v.Indices = make([]int32, nnz)
		v.Values = make([]float32, nnz)
		p := b[12:]
		for i := 0; i < nnz; i++ {
			ix := int32(binary.BigEndian.Uint32(p[4*i:]))
			if ix < 0 || int(ix) >= dim || (i > 0 && ix <= v.Indices[i-1]) {
				return v, decodeErr("%v: index %d out of order or range", kind, ix)
			}
			v.Indices[i] = ix
			v.Values[i] = math.Float32frombits(binary.BigEndian.Uint32(p[4*nnz+4*i:]))
		}
	case catalog.TypeBit:
		if len(b) < 4 {
			return v, decodeErr("%v: value too short", kind)
		}
		n := int(int32(binary.BigEndian.Uint32(b)))
		if n < 0 || n > maxBitLen || len(b) != 4+(n+7)/8 {
			return v, decodeErr("%v: %d bits in %d bytes", kind, n, len(b))
		}
		v.Dim = n
		v.Bits = slices.Clone(b[4:])
	default:
		return v, decodeErr("%v: unsupported type", kind)
	}
	return v, nil
}

// DecodeText decodes pgvector's text format: "[1,2,3]" (vector, halfvec), "{1:1.5,3:2}/5"
// (sparsevec, 1-based indices), "0101" (bit).
func DecodeText(kind catalog.VectorType, b []byte) (Vector, error) {
	s := string(b)
	v := Vector{Kind: kind}
	bad := func(why string) (Vector, error) {
		return Vector{Kind: kind}, decodeErr("%v text %q: %s", kind, truncate(s), why)
	}
	switch kind {
	case catalog.TypeVector, catalog.TypeHalfvec:
		s = strings.TrimSpace(s)
		if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
			return bad("not [ … ]")
		}
		body := s[1 : len(s)-1]
		if strings.TrimSpace(body) == "" {
			return bad("no dimensions")
		}
		parts := strings.Split(body, ",")
		if len(parts) > maxVectorDim {
			return bad("too many dimensions")
		}
		v.Values = make([]float32, len(parts))
		for i, p := range parts {
			f, err := parseFloat(p)
			if err != nil {
				return bad(err.Error())
			}
			v.Values[i] = f
		}
		v.Dim = len(parts)
	case catalog.TypeSparsevec:
		s = strings.TrimSpace(s)
		lb, rest, ok := strings.Cut(s, "}/")
		if !ok || !strings.HasPrefix(lb, "{") {
			return bad("not {…}/dim")
		}
		dim, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil || dim < 1 || dim > maxSparseDim {
			return bad("bad dimension")
		}
		v.Dim = dim
		body := strings.TrimSpace(lb[1:])
		if body != "" {
			parts := strings.Split(body, ",")
			if len(parts) > maxSparseNNZ || len(parts) > dim {
				return bad("too many elements")
			}
			for _, p := range parts {
				is, fs, ok := strings.Cut(p, ":")
				if !ok {
					return bad("element without ':'")
				}
				ix, err := strconv.Atoi(strings.TrimSpace(is))
				if err != nil || ix < 1 || ix > dim {
					return bad("index out of range")
				}
				if n := len(v.Indices); n > 0 && int32(ix-1) <= v.Indices[n-1] {
					return bad("indices not ascending")
				}
				f, err := parseFloat(fs)
				if err != nil {
					return bad(err.Error())
				}
				v.Indices = append(v.Indices, int32(ix-1))
				v.Values = append(v.Values, f)
			}
		}
		if v.Indices == nil {
			v.Indices, v.Values = []int32{}, []float32{}
		}
	case catalog.TypeBit:
		if len(s) > maxBitLen {
			return bad("too long")
		}
		v.Dim = len(s)
		v.Bits = make([]byte, (len(s)+7)/8)
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '1':
				v.Bits[i/8] |= 0x80 >> (i % 8)
			case '0':
			default:
				return bad("not a bit string")
			}
		}
	default:
		return bad("unsupported type")
	}
	return v, nil
}

func parseFloat(s string) (float32, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 32)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", truncate(s))
	}
	return float32(f), nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
