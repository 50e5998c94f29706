package planner

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgdist"
	"github.com/vecgate/vecgate/internal/sqltext"
	"github.com/vecgate/vecgate/internal/vectext"
)

// Similarities, thresholds and a vector bound more than once. Drizzle's documented query
//
//	SELECT id, content, 1 - (emb <=> $1) FROM docs WHERE 1 - (emb <=> $2) > $3
//	ORDER BY 1 - (emb <=> $4) DESC LIMIT $5
//
// binds the query vector once per use, projects the similarity and bounds it in the WHERE. When
// the bound values are the sort's vector, each of those is the sort's distance d, or 1 - d
// (float8 subtraction, exact in Go as in Postgres), and a bound on it keeps a prefix of the rows
// in distance order: vecgate can answer from memory once it has the server's own distances
// (pgdist), so that 1 - d and the comparison come out as Postgres' do.

// derived is a select-list position computing the statement's distance, or 1 minus it, from a
// vector written apart from the ORDER BY's (another parameter, or the same literal again).
type derived struct {
	pos        int
	similarity bool
	vec        Arg
}

// Threshold is a WHERE conjunct bounding the statement's distance: `1 - d > c` (or >=), or
// `d < c` (or <=), either way round.
type Threshold struct {
	similarity bool // 1 - d is compared, else d
	strict     bool // > or <, else >= or <=
	vec        Arg
	value      Arg
}

// vectorArg reads a vector written beside the ORDER BY's (orderVec): a parameter or a string
// literal, cast exactly as the ORDER BY's is (or neither is cast), so both are read as one type.
func vectorArg(n, orderVec *pg.Node) (Arg, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		otc := orderVec.GetTypeCast()
		if otc == nil || !sameVector(&pg.Node{Node: &pg.Node_TypeName{TypeName: tc.TypeName}},
			&pg.Node{Node: &pg.Node_TypeName{TypeName: otc.TypeName}}) {
			return Arg{}, false
		}
		n = tc.Arg
	} else if orderVec.GetTypeCast() != nil {
		return Arg{}, false
	}
	if p := n.GetParamRef(); p != nil {
		return Arg{Param: int(p.Number)}, true
	}
	if c := n.GetAConst(); c != nil {
		if s, ok := c.Val.(*pg.A_Const_Sval); ok {
			return Arg{Literal: s.Sval.Sval, Quoted: true}, true
		}
	}
	return Arg{}, false
}

// ofDistance matches the statement's distance (its column and operator, any vector written as
// vectorArg allows) or 1 minus it, and returns the vector.
func (sh *Shape) ofDistance(n *pg.Node) (vec Arg, similarity, ok bool) {
	col, op, v, ok := sh.distance(n)
	if !ok {
		if col, op, v, ok = sh.similarity(n); !ok {
			return Arg{}, false, false
		}
		similarity = true
	}
	if col != sh.columnKey() || op != sh.Metric.String() {
		return Arg{}, false, false
	}
	vec, ok = vectorArg(v, sh.orderVec)
	return vec, similarity, ok
}

// readDerived records the select-list positions that compute the distance from another vector
// node, or the similarity from any.
func (sh *Shape) readDerived() {
	for i, t := range sh.stmt.TargetList {
		rt := t.GetResTarget()
		if rt == nil || containsInt(sh.DistanceOutputs, i) {
			continue
		}
		if vec, sim, ok := sh.ofDistance(rt.Val); ok {
			sh.derived = append(sh.derived, derived{pos: i, similarity: sim, vec: vec})
		}
	}
}

// derivedAt returns the derived output at select-list position i.
func (sh *Shape) derivedAt(i int) (derived, bool) {
	for _, d := range sh.derived {
		if d.pos == i {
			return d, true
		}
	}
	return derived{}, false
}

func (sh *Shape) isDerived(i int) bool {
	_, ok := sh.derivedAt(i)
	return ok
}

// threshold reads a WHERE conjunct that bounds the distance so that the rows passing are the
// nearest ones: `1 - d > c`, `1 - d >= c`, `d < c`, `d <= c`, or the same with the sides swapped;
// c is an untyped number, a string literal or a parameter.
func (sh *Shape) threshold(n *pg.Node) (Threshold, bool) {
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || len(e.Name) != 1 || e.Lexpr == nil || e.Rexpr == nil {
		return Threshold{}, false
	}
	op := e.Name[0].GetString_().GetSval()
	side, other := e.Lexpr, e.Rexpr
	vec, sim, ok := sh.ofDistance(side)
	if !ok {
		side, other = e.Rexpr, e.Lexpr
		if vec, sim, ok = sh.ofDistance(side); !ok {
			return Threshold{}, false
		}
		op = map[string]string{">": "<", ">=": "<=", "<": ">", "<=": ">="}[op] // c > d is d < c
	}
	val, ok := constArg(other)
	if !ok || val.Cast != "" {
		return Threshold{}, false
	}
	t := Threshold{similarity: sim, vec: vec, value: val}
	switch {
	case sim && (op == ">" || op == ">="), !sim && (op == "<" || op == "<="):
		t.strict = len(op) == 1
		return t, true
	}
	return Threshold{}, false
}

// bound is a threshold with its value read.
type bound struct {
	similarity, strict bool
	c                  float64
}

// passes reports whether a row at distance d passes the bound, as Postgres compares float8.
func (b bound) passes(d float64) bool {
	x := d
	if b.similarity {
		x = 1 - d
		if b.strict {
			return x > b.c
		}
		return x >= b.c
	}
	if b.strict {
		return x < b.c
	}
	return x <= b.c
}

// resolveDerived works out, with the statement's values, which derived outputs and thresholds
// use the ORDER BY's very vector and what each threshold's value is. It reports false when one
// does not (or cannot be read): the statement is then not answered from memory.
func (q *Query) resolveDerived(value func(Arg) (filterValue, bool)) bool {
	sh := q.Shape
	for _, d := range sh.derived {
		if !sameVectorValue(sh.Vector, d.vec, value) {
			return false
		}
	}
	for _, t := range sh.Thresholds {
		if !sameVectorValue(sh.Vector, t.vec, value) {
			return false
		}
		c, ok := thresholdValue(t.value, value)
		if !ok {
			return false
		}
		q.bounds = append(q.bounds, bound{similarity: t.similarity, strict: t.strict, c: c})
	}
	return true
}

// sameVectorValue reports whether two vector arguments carry the same vector: the same
// parameter or literal, parameters with the same bytes in the same format, or values that read
// as the same float32 components.
func sameVectorValue(a, b Arg, value func(Arg) (filterValue, bool)) bool {
	if a.IsParam() && a.Param == b.Param || !a.IsParam() && !b.IsParam() && a.Literal == b.Literal {
		return true
	}
	va, oka := value(a)
	vb, okb := value(b)
	if !oka || !okb || va.null || vb.null {
		return false
	}
	if a.IsParam() && b.IsParam() && va.binary == vb.binary && bytes.Equal(va.data, vb.data) {
		return true
	}
	x, okx := vectorValue(va)
	y, oky := vectorValue(vb)
	if !okx || !oky || len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

func vectorValue(v filterValue) ([]float32, bool) {
	var x []float32
	var err error
	switch {
	case !v.arg.IsParam():
		x, err = vectext.Parse([]byte(v.arg.Literal))
	case v.binary:
		x, err = decodeBinaryVector(v.data)
	default:
		x, err = vectext.Parse(v.data)
	}
	return x, err == nil
}

// thresholdValue reads a threshold's value as Postgres reads it into float8: an integer or
// numeric literal, or a string literal or parameter of type float8 (declared, or inferred: 0)
// in text or binary format. Only plain decimal text is accepted (float8in also takes
// hexadecimal, infinities and NaN, left to Postgres).
func thresholdValue(a Arg, value func(Arg) (filterValue, bool)) (float64, bool) {
	if !a.IsParam() {
		return decimalFloat(a.Literal)
	}
	v, ok := value(a)
	if !ok || v.null || v.oid != 0 && v.oid != oidFloat8 {
		return 0, false
	}
	if v.binary {
		if len(v.data) != 8 {
			return 0, false
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(v.data))
		return f, !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return decimalFloat(string(v.data))
}

const oidFloat8 = 701

// decimalFloat reads [sign] digits [. digits] [e [sign] digits], with blanks around, correctly
// rounded (as strtod, float8in's reader, and numeric's conversion to float8 round).
func decimalFloat(s string) (float64, bool) {
	s = strings.Trim(s, " \t\n\r\f\v")
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsInf(f, 0)
}

// thresholdRows orders the candidates res by the server's own distances and keeps those that
// pass the WHERE's thresholds, up to LIMIT + OFFSET. The rows that pass are the nearest ones (a
// bound on d, or on 1 - d, is monotone in d), so fewer than asked is the whole answer when
// every row was seen, or when a candidate that fails lies clearly nearer than the candidates'
// bound, nearer than any row left out, which then fails too. Either way the twin must hold every
// row of the table: rows it lacks (a cosine zero vector, whose NaN similarity passes `> c` in
// Postgres) could pass.
func (q *Query) thresholdRows(cal *pgdist.Calibration, src originalsSource, res []ann.Result, seenAll bool) ([]ann.Result, error) {
	limit := q.candidateBound(res)
	res, err := q.serverOrder(cal, src, res)
	if err != nil {
		return nil, err
	}
	pass := 0
	for pass < len(res) && q.passes(res[pass].Distance) {
		pass++
	}
	for _, r := range res[pass:] {
		if q.passes(r.Distance) {
			return nil, fmt.Errorf("planner: distance thresholds are not monotone at %g", r.Distance)
		}
	}
	if pass >= q.need {
		if last := res[q.need-1].Distance; !seenAll && !q.clearlyBefore(last, limit) {
			return nil, fmt.Errorf("planner: distance %g at the LIMIT is too close to the candidates' bound %g to cut from memory", last, limit)
		}
		return res[:q.need], nil
	}
	if !q.Target.Index.Complete() {
		return nil, errors.New("planner: the index lacks rows of the table that a threshold may pass")
	}
	if !seenAll && (pass == len(res) || !q.clearlyBefore(res[pass].Distance, limit)) {
		return nil, fmt.Errorf("planner: %d rows pass the thresholds of %d asked, and the first that fails is not clearly inside the candidates", pass, q.need)
	}
	return res[:pass], nil
}

// passes reports whether a row at distance d passes every threshold of the WHERE.
func (q *Query) passes(d float64) bool {
	for _, b := range q.bounds {
		if !b.passes(d) {
			return false
		}
	}
	return true
}

// builtinOperators lists, quoted for an array literal, the operators over built-in types whose
// meaning vecgate assumes for the statement ("" when none).
func (q *Query) builtinOperators() string {
	var ops []string
	sh := q.Shape
	if q.held != nil || q.filter != nil {
		ops = append(append(ops, "=", "->>"), sh.condOps...)
	}
	if sh.Similarity || slices.ContainsFunc(sh.derived, func(d derived) bool { return d.similarity }) ||
		slices.ContainsFunc(sh.Thresholds, func(t Threshold) bool { return t.similarity }) {
		ops = append(ops, "-")
	}
	if len(sh.Thresholds) > 0 {
		ops = append(ops, ">", ">=", "<", "<=")
	}
	slices.Sort(ops)
	ops = slices.Compact(ops)
	for i, op := range ops {
		ops[i] = sqltext.QuoteLiteral(op)
	}
	return strings.Join(ops, ", ")
}
