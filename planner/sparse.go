package planner

import (
	"bytes"
	"fmt"
	"math"
	"strconv"

	"github.com/vecgate/vecgate/internal/vectext"
)

// sparsevec columns (Target.Sparse): the twin holds each row dense (live/sparse.go), so the query
// vector, written in sparsevec's text ('{1:0.5,7:2}/10', untyped or cast to sparsevec), is
// expanded alike. A vector or halfvec query vector on a sparsevec column, and a sparsevec one on
// another column, are forwarded (Postgres casts, or errors), as are binary parameters.

// targetVector reads the query vector's text for the target t.
func (sh *Shape) targetVector(t Target, text []byte) ([]float32, error) {
	if t.Sparse {
		return parseSparse(text)
	}
	return sh.queryVector(text)
}

// sparseForward says why a statement is forwarded for its vector's type (nil: it is not).
func (sh *Shape) sparseForward(t Target) error {
	switch {
	case t.Sparse && sh.VectorType != "" && sh.VectorType != "sparsevec":
		return forward("%s query vector on a sparsevec column", sh.VectorType)
	case !t.Sparse && sh.VectorType == "sparsevec":
		return forward("sparsevec query vector on a column of another type")
	}
	return nil
}

// maxSparseText bounds the dimensions of a sparse query vector that is expanded (live's twins
// hold at most ann.MaxDims).
const maxSparseText = 16000

// parseSparse reads sparsevec's text form, `{i:v,…}/n` with 1-based indices (blanks around the
// parts), into n dense values. It takes less than sparsevec_in does, never more: indices must
// be integers from 1 to n, each once; values are read as vector_in reads them (strtof), so a
// value pgvector refuses is refused. Anything it refuses is forwarded for Postgres to judge.
func parseSparse(s []byte) ([]float32, error) {
	s = bytes.TrimSpace(s)
	open, rest, ok := bytes.Cut(s, []byte("}"))
	if !ok || len(open) == 0 || open[0] != '{' {
		return nil, fmt.Errorf("not a sparsevec: no {…}")
	}
	rest = bytes.TrimSpace(rest)
	if len(rest) == 0 || rest[0] != '/' {
		return nil, fmt.Errorf("not a sparsevec: no /dimensions")
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(rest[1:])))
	if err != nil || n < 1 || n > maxSparseText {
		return nil, fmt.Errorf("sparsevec dimensions %q", rest[1:])
	}
	out := make([]float32, n)
	seen := make(map[int]bool)
	body := bytes.TrimSpace(open[1:])
	if len(body) == 0 {
		return out, nil
	}
	for _, el := range bytes.Split(body, []byte(",")) {
		is, fs, ok := bytes.Cut(el, []byte(":"))
		if !ok {
			return nil, fmt.Errorf("sparsevec element %q", el)
		}
		i, err := strconv.Atoi(string(bytes.TrimSpace(is)))
		if err != nil || i < 1 || i > n || seen[i] {
			return nil, fmt.Errorf("sparsevec index %q", is)
		}
		seen[i] = true
		fs = bytes.TrimSpace(fs)
		v, err := vectext.Parse(append(append([]byte("["), fs...), ']'))
		if err != nil || len(v) != 1 || underflows(fs, v[0]) {
			return nil, fmt.Errorf("sparsevec value %q", fs)
		}
		if v[0] != 0 { // sparsevec_in drops zeros, -0 too: the dense value is +0
			out[i-1] = v[0]
		}
	}
	return out, nil
}

// underflows reports whether the text of a value read as v is past float4's normal range
// towards zero, which sparsevec_in refuses ("out of range", where vector_in reads a zero): a
// subnormal, or a zero written with a non-zero digit before its exponent.
func underflows(text []byte, v float32) bool {
	if v != 0 {
		return math.Abs(float64(v)) < 0x1p-126
	}
	t := bytes.TrimLeft(bytes.ToLower(text), "+-")
	exp := []byte("e")
	if bytes.HasPrefix(t, []byte("0x")) {
		t, exp = t[2:], []byte("p")
	}
	mant, _, _ := bytes.Cut(t, exp)
	return bytes.ContainsAny(mant, "123456789abcdef")
}
