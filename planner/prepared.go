package planner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/half"
)

// Prepared is a statement of the top-k shape prepared with the extended protocol: the rewrite
// that vecgate prepares beside the client's own statement, with the candidate keys as one more
// parameter.
type Prepared struct {
	Shape *Shape
	// Nested is set when Shape is a top-k node inside the statement (nested.go): SQL is then the
	// whole statement with the node rewritten and guarded, run once per execution (NestedBound).
	Nested *Nested
	// SQL is the rewritten statement; its last parameter, $Params, is the candidate-key array.
	SQL string
	// Params is the rewritten statement's parameter count (the client's plus one).
	Params int
	// Key is the key the rewrite was built for: its columns and their types (keySignature).
	Key string
	// ParamOIDs are the parameter types the client's Parse declared (0 or missing: inferred by
	// Postgres); the in-index filter reads binary values only of types it knows.
	ParamOIDs []uint32
}

// Prepare classifies sql for the extended protocol. It returns an error wrapping ErrNotShape or
// ErrForward when the statement is not one vecgate can answer.
func (p *Planner) Prepare(sql string) (*Prepared, error) {
	sh, err := p.Shape(sql)
	if err != nil {
		if pr, nerr := p.prepareNested(sql, err); pr != nil || nerr != nil {
			return pr, nerr
		}
		return nil, err
	}
	t, err := p.find(sh)
	if err != nil {
		return nil, err
	}
	rw, err := sh.Rewrite(t)
	if err != nil {
		return nil, err
	}
	n := sh.Params + 1
	return &Prepared{
		Shape: sh, Params: n, Key: t.keySignature(),
		SQL: rw.Fill(t.keyParam(n)),
	}, nil
}

// prepareNested prepares sql, which is not the top-k shape (err), as a statement with a top-k
// node. Both results are nil when it has none: err is the statement's reason.
func (p *Planner) prepareNested(sql string, err error) (*Prepared, error) {
	if !errors.Is(err, ErrNotShape) || errors.Is(err, errNoOperator) {
		return nil, nil
	}
	n, err := p.nested(sql)
	if err != nil {
		if errors.Is(err, ErrNotShape) && strings.HasSuffix(err.Error(), NoNode) {
			return nil, nil
		}
		return nil, err
	}
	if len(n.Nodes) != 1 || !n.isolated[0] {
		// One round, one candidate parameter: the proxy binds one key array.
		return nil, notShape("prepared statement with several top-k nodes, or one that may reference the query around it")
	}
	t, err := p.find(n.Nodes[0])
	if err != nil {
		return nil, err
	}
	tp, err := n.templatesFor([]Target{t})
	if err != nil {
		return nil, err
	}
	np := n.Params + 1
	return &Prepared{
		Shape: n.Nodes[0], Nested: n, Params: np, Key: t.keySignature(),
		SQL: tp.fill([]string{t.keyParam(np)}, []bool{false}),
	}, nil
}

// Bind plans one execution of a prepared statement from the client's Bind: its parameter values
// and format codes as the protocol carries them (0 text, 1 binary; none = all text, one = all).
func (p *Planner) Bind(pr *Prepared, params [][]byte, formats []int16, st Settings) (*Query, error) {
	t, err := p.find(pr.Shape)
	if err != nil {
		return nil, err
	}
	if t.keySignature() != pr.Key {
		// (A partitioned table whose partitions changed too: its statements prepared before
		// are forwarded; prepared again, they are answered.)
		return nil, forward("live index changed since the statement was prepared")
	}
	text := make([]*string, len(params))
	var vec []float32
	for i, v := range params {
		if v == nil {
			continue
		}
		f, err := formatOf(formats, i)
		if err != nil {
			return nil, forward("%v", err)
		}
		var s string
		switch {
		case i+1 == pr.Shape.Vector.Param && f == 0:
			// Read in place: a 1536-d text is some 30 kB that a string copy would only pass on.
			if vec, err = pr.Shape.targetVector(t, v); err != nil {
				return nil, forward("query vector: %v", err)
			}
		case f == 0 && len(v) > 64:
			// Read as text only for LIMIT and OFFSET (filters and other vectors read the
			// bytes): not an integer a client sends, and not worth copying (Drizzle binds its
			// 30 kB query vector three times more). Unread: a LIMIT this long forwards.
		case f == 0:
			s = string(v)
		case i+1 == pr.Shape.Vector.Param:
			if pr.Shape.Metric == ann.Hamming || t.Sparse {
				return nil, forward("binary query vector of a Hamming distance or a sparsevec") // bit_recv's, binary_quantize's, sparsevec_recv's
			}
			if t.Halfvec && (t.Expr.Kind != ExprHalfvec || pr.Shape.VectorType != "vector") {
				// Postgres reads it with halfvec_recv (halves), not as a vector's floats (a
				// `$1::vector` of an expression's distance is a vector, cast to halfvec: plan).
				// Only halfvec_send's form is taken: a vector's (4 bytes an element) may be a
				// parameter the client declared vector, compared in another type.
				if vec, err = decodeBinaryHalfvec(v); err != nil {
					return nil, because(ReasonHalfvec, forward("binary query vector against a halfvec column: %v", err))
				}
				break
			}
			if vec, err = decodeBinaryVector(v); err != nil {
				return nil, forward("binary vector parameter: %v", err)
			}
		default:
			n, err := decodeBinaryInt(v)
			if err != nil {
				s = "" // only the vector and LIMIT/OFFSET are read; others stay as they are
			} else {
				s = strconv.FormatInt(n, 10)
			}
		}
		text[i] = &s
	}
	q, err := p.plan(pr.Shape, t, st, func(a Arg) (string, bool) {
		if !a.IsParam() {
			return a.Literal, true
		}
		if a.Param > len(text) || text[a.Param-1] == nil {
			return "", false
		}
		return *text[a.Param-1], true
	}, vec, func(a Arg) (filterValue, bool) {
		if !a.IsParam() {
			return filterValue{arg: a}, true
		}
		i := a.Param - 1
		if i >= len(params) {
			return filterValue{}, false
		}
		f, err := formatOf(formats, i)
		if err != nil || f != 0 && f != 1 {
			return filterValue{}, false
		}
		fv := filterValue{arg: a, data: params[i], null: params[i] == nil, binary: f == 1}
		if i < len(pr.ParamOIDs) {
			fv.oid = pr.ParamOIDs[i]
		}
		return fv, true
	})
	if err != nil {
		return nil, err
	}
	q.bound = true
	return q, nil
}

func formatOf(formats []int16, i int) (int16, error) {
	switch len(formats) {
	case 0:
		return 0, nil
	case 1:
		return formats[0], nil
	}
	if i >= len(formats) {
		return 0, errors.New("fewer format codes than parameters")
	}
	return formats[i], nil
}

// decodeBinaryVector reads pgvector's binary format: int16 dims, int16 unused, dims big-endian
// float4 values.
func decodeBinaryVector(b []byte) ([]float32, error) {
	if len(b) < 4 {
		return nil, errors.New("short")
	}
	dim := int(binary.BigEndian.Uint16(b))
	if len(b) != 4+4*dim || dim == 0 {
		return nil, fmt.Errorf("%d bytes for %d dimensions", len(b), dim)
	}
	out := make([]float32, dim)
	for i := range out {
		f := math.Float32frombits(binary.BigEndian.Uint32(b[4+4*i:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, errors.New("NaN or infinite element")
		}
		out[i] = f
	}
	return out, nil
}

// decodeBinaryHalfvec reads halfvec_send's form: int16 dimensions, int16 unused, then each
// element's binary16 bits, widened exactly; a non-finite element is refused (halfvec_recv's
// error, Postgres' to give).
func decodeBinaryHalfvec(b []byte) ([]float32, error) {
	if len(b) < 4 {
		return nil, errors.New("short")
	}
	dim := int(binary.BigEndian.Uint16(b))
	if len(b) != 4+2*dim || dim == 0 || binary.BigEndian.Uint16(b[2:]) != 0 {
		return nil, fmt.Errorf("%d bytes for %d halves", len(b), dim)
	}
	out := make([]float32, dim)
	for i := range out {
		f := half.Widen(binary.BigEndian.Uint16(b[4+2*i:]))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, errors.New("NaN or infinite element")
		}
		out[i] = f
	}
	return out, nil
}

func decodeBinaryInt(b []byte) (int64, error) {
	switch len(b) {
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case 8:
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("integer of %d bytes", len(b))
}
