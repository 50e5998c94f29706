package planner

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/vecgate/vecgate/internal/canon"
	"github.com/vecgate/vecgate/internal/pgout"
)

// Conditions: the WHERE conjuncts a covering twin evaluates beyond `col = v` and `col IN (…)` —
// comparisons (= <> < <= > >=, the order ones on integer columns only), BETWEEN, IN and NOT IN,
// IS [NOT] NULL, `LIKE 'prefix%'` on text, a boolean column, and AND, OR and NOT over them —
// in SQL's three-valued logic: a row passes when its condition is true, not false or NULL.
// Text is compared only for equality and prefixes, bytewise (deterministic collations: what
// pgout.Column.Compared says), never ordered (that depends on the collation).

// condKind is a condition node's kind.
type condKind int

const (
	condAnd condKind = iota
	condOr
	condNot
	condCmp    // column op value
	condIsNull // column IS NULL (not: IS NOT NULL, as condNot over it)
	condPrefix // column LIKE 'prefix%'
	condBool   // a boolean column alone
	condJSONB  // jsonb column @> value, or column ? key (op says which)
)

// cond is a WHERE condition as written (Shape), its values still Args.
type cond struct {
	kind   condKind
	kids   []*cond
	column string
	key    string // a jsonb member tested as text (`col->>'key'`), "" for the column
	op     string // condCmp: = <> < <= > >=
	value  Arg    // condCmp; condPrefix: the prefix
}

// readCond reads n as a condition, or reports false. ops collects the operators it relies on
// (for the session check: they must be Postgres' own).
func (sh *Shape) readCond(n *pg.Node, ops map[string]bool) (*cond, bool) {
	if b := n.GetBoolExpr(); b != nil {
		c := &cond{kind: map[pg.BoolExprType]condKind{pg.BoolExprType_AND_EXPR: condAnd,
			pg.BoolExprType_OR_EXPR: condOr, pg.BoolExprType_NOT_EXPR: condNot}[b.Boolop]}
		for _, a := range b.Args {
			k, ok := sh.readCond(a, ops)
			if !ok {
				return nil, false
			}
			c.kids = append(c.kids, k)
		}
		return c, len(c.kids) > 0
	}
	if t := n.GetNullTest(); t != nil {
		col, key, ok := sh.filterTarget(t.Arg)
		if !ok || t.Argisrow {
			return nil, false
		}
		if key != "" {
			ops["->>"] = true
		}
		c := &cond{kind: condIsNull, column: col, key: key}
		if t.Nulltesttype == pg.NullTestType_IS_NOT_NULL {
			c = &cond{kind: condNot, kids: []*cond{c}}
		}
		return c, true
	}
	if col, ok := sh.columnName(n); ok {
		return &cond{kind: condBool, column: col}, true
	}
	e := n.GetAExpr()
	if e == nil || len(e.Name) != 1 || e.Lexpr == nil || e.Rexpr == nil {
		return nil, false
	}
	op := e.Name[0].GetString_().GetSval()
	col, key, ok := sh.filterTarget(e.Lexpr)
	if !ok {
		return nil, false
	}
	if key != "" {
		ops["->>"] = true
	}
	leaf := func(op string, v *pg.Node) (*cond, bool) {
		a, ok := constArg(v)
		ops[op] = true
		return &cond{kind: condCmp, column: col, key: key, op: op, value: a}, ok
	}
	list := func(op string, join condKind) (*cond, bool) {
		l := e.Rexpr.GetList()
		if l == nil {
			return nil, false
		}
		c := &cond{kind: join}
		for _, item := range l.Items {
			k, ok := leaf(op, item)
			if !ok {
				return nil, false
			}
			c.kids = append(c.kids, k)
		}
		return c, len(c.kids) > 0
	}
	switch e.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		switch op {
		case "=", "<>", "<", "<=", ">", ">=":
			return leaf(op, e.Rexpr)
		case "@>", "?":
			c, ok := leaf(op, e.Rexpr)
			c.kind = condJSONB
			return c, ok && key == ""
		}
	case pg.A_Expr_Kind_AEXPR_IN:
		switch op {
		case "=":
			return list("=", condOr)
		case "<>":
			return list("<>", condAnd)
		}
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		l := e.Rexpr.GetList()
		if l == nil || len(l.Items) != 2 {
			return nil, false
		}
		lo, ok1 := leaf(">=", l.Items[0])
		hi, ok2 := leaf("<=", l.Items[1])
		if !ok1 || !ok2 {
			return nil, false
		}
		c := &cond{kind: condAnd, kids: []*cond{lo, hi}}
		if e.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN {
			c = &cond{kind: condNot, kids: []*cond{c}}
		}
		return c, true
	case pg.A_Expr_Kind_AEXPR_LIKE:
		a, ok := constArg(e.Rexpr)
		p, prefix := likePrefix(a)
		if !ok || !prefix || op != "~~" && op != "!~~" {
			return nil, false
		}
		ops[op] = true
		c := &cond{kind: condPrefix, column: col, key: key, value: Arg{Literal: p, Quoted: true}}
		if op == "!~~" {
			c = &cond{kind: condNot, kids: []*cond{c}}
		}
		return c, true
	}
	return nil, false
}

// likePrefix reads a LIKE pattern that is a plain ASCII prefix and a final %: 'abc%'.
func likePrefix(a Arg) (string, bool) {
	if a.IsParam() || !a.Quoted || a.Cast != "" || !strings.HasSuffix(a.Literal, "%") {
		return "", false
	}
	p := strings.TrimSuffix(a.Literal, "%")
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == '%' || c == '_' || c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	return p, true
}

// tv is a truth value of SQL's three-valued logic.
type tv int8

const (
	tvFalse tv = iota
	tvTrue
	tvNull
)

// boundCond is a condition with its values read for one execution and its columns found among
// the twin's held ones.
type boundCond struct {
	kind  condKind
	kids  []*boundCond
	slot  int // the column's place among the filter's read values; -1: the vector or key column
	key   string
	fam   string // canonical family compared
	op    string
	null  bool   // the value is NULL: every comparison is NULL
	str   string // the canonical value (text, uuid, bool, int digits), the prefix or the key (?)
	num   int64  // an integer value
	isInt bool
	doc   *jsonValue // the value a jsonb column must contain (@>)
}

// bindCond reads c's values (value gives each Arg's) against the twin's held columns, appending
// the held positions it reads to h. It reports false when any part cannot be evaluated exactly.
func (h *heldFilter) bindCond(sh *Shape, c *cond, value func(Arg) (filterValue, bool)) (*boundCond, bool) {
	b := &boundCond{kind: c.kind}
	switch c.kind {
	case condAnd, condOr, condNot:
		for _, k := range c.kids {
			bk, ok := h.bindCond(sh, k, value)
			if !ok {
				return nil, false
			}
			b.kids = append(b.kids, bk)
		}
		return b, true
	}
	if !slices.Contains(h.columns, c.column) {
		h.columns = append(h.columns, c.column)
	}
	if c.kind == condIsNull && c.key == "" && (c.column == sh.Column || c.column == h.keyColumn) {
		b.slot = -1 // the twin's rows all have a vector and a key
		return b, true
	}
	hc, ok := h.src.HeldColumn(c.column)
	if !ok {
		return nil, false
	}
	fam, compared := canonFamily(hc.Family), hc.Compared
	if c.key != "" {
		if hc.Family != pgout.JSONB {
			return nil, false
		}
		fam, compared = canon.Text, true // `->>` gives text, compared bytewise
	}
	b.slot, b.key, b.fam = h.slot(hc.Pos), c.key, fam
	switch c.kind {
	case condIsNull:
		return b, true
	case condBool:
		return b, fam == canon.Bool && c.key == ""
	case condPrefix:
		b.str = c.value.Literal
		return b, fam == canon.Text && compared
	case condJSONB:
		return h.bindJSONB(sh, b, c, hc.Family, value)
	}
	if fam == "" || !compared || c.op != "=" && c.op != "<>" && fam != canon.Int {
		return nil, false
	}
	b.op = c.op
	fv, present := sh.certainValue(c.value, value)
	if !present {
		return nil, false
	}
	if fv.null {
		b.null = true
		return b, true
	}
	v, ok := canonical(fam, fv)
	if !ok {
		return nil, false
	}
	b.str = v
	if fam == canon.Int {
		if b.num, ok = intInColumn(v, hc.Family, c.key == "" && (fv.oid == 0 && c.value.IsParam() || c.value.Quoted), fv); !ok {
			return nil, false
		}
		b.isInt = true
	}
	return b, true
}

// intInColumn reads an integer value compared with an integer column. A value that takes the
// column's type (an untyped parameter or quoted literal) must fit it, or Postgres raises
// 22003 (or reads binary of the column's width only): left to Postgres.
func intInColumn(v string, col pgout.Family, typedByColumn bool, fv filterValue) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	if !typedByColumn {
		return n, true
	}
	width := map[pgout.Family]int{pgout.Int2: 2, pgout.Int4: 4, pgout.Int8: 8}[col]
	if fv.binary && len(fv.data) != width {
		return 0, false
	}
	switch width {
	case 2:
		return n, n >= -1<<15 && n < 1<<15
	case 4:
		return n, n >= -1<<31 && n < 1<<31
	}
	return n, width == 8
}

// slot returns the place of held position pos among the values the filter reads per row.
func (h *heldFilter) slot(pos int) int {
	if i := slices.Index(h.pos, pos); i >= 0 {
		return i
	}
	h.pos = append(h.pos, pos)
	return len(h.pos) - 1
}

// eval evaluates b over a row's values (one per slot); undecided is raised for a value it
// cannot read (the row is then not taken, and the answer proves nothing).
func (b *boundCond) eval(vals []pgout.Value, undecided *bool) tv {
	switch b.kind {
	case condAnd, condOr:
		out := tvTrue
		if b.kind == condOr {
			out = tvFalse
		}
		for _, k := range b.kids {
			switch r := k.eval(vals, undecided); {
			case b.kind == condAnd && r == tvFalse, b.kind == condOr && r == tvTrue:
				return r
			case r == tvNull:
				out = tvNull
			}
		}
		return out
	case condNot:
		switch b.kids[0].eval(vals, undecided) {
		case tvTrue:
			return tvFalse
		case tvFalse:
			return tvTrue
		}
		return tvNull
	}
	if b.slot < 0 {
		return tvFalse // IS NULL of the vector or key column: never
	}
	x, isNull, ok := b.read(vals[b.slot])
	if !ok {
		*undecided = true
		return tvNull
	}
	switch b.kind {
	case condIsNull:
		if isNull {
			return tvTrue
		}
		return tvFalse
	case condBool:
		if isNull {
			return tvNull
		}
		return truth(x == "t")
	case condPrefix:
		if isNull {
			return tvNull
		}
		return truth(strings.HasPrefix(x, b.str))
	case condJSONB:
		return b.evalJSONB(vals[b.slot], undecided)
	}
	if isNull || b.null {
		return tvNull
	}
	if !b.isInt {
		return truth(x == b.str == (b.op == "="))
	}
	n, err := strconv.ParseInt(x, 10, 64)
	if err != nil {
		*undecided = true
		return tvNull
	}
	switch b.op {
	case "=":
		return truth(n == b.num)
	case "<>":
		return truth(n != b.num)
	case "<":
		return truth(n < b.num)
	case "<=":
		return truth(n <= b.num)
	case ">":
		return truth(n > b.num)
	}
	return truth(n >= b.num)
}

func truth(b bool) tv {
	if b {
		return tvTrue
	}
	return tvFalse
}

// read returns a held value in canonical form (a jsonb member's text when b tests one), whether
// it is NULL, and false when it cannot be read.
func (b *boundCond) read(v pgout.Value) (string, bool, bool) {
	if v.Null {
		return "", true, true
	}
	if b.key != "" {
		doc, ok := jsonbText(v)
		if !ok {
			return "", false, false
		}
		m, present, complex, ok := jsonMember(doc, b.key)
		if !ok || complex && b.kind != condIsNull {
			return "", false, false
		}
		return m, !present, true
	}
	if b.fam == "" {
		return "", false, true // IS NULL of a column not compared: its value is not read
	}
	c, ok := canon.Value(b.fam, v.V, v.Text)
	return c, false, ok
}

// bindJSONB reads the value of `col @> value` or `col ? key` on a held jsonb column: a jsonb
// value that Postgres reads as parseJSONB does (a quoted literal without backslashes, or a
// parameter declared jsonb or left to Postgres, text when cast `::jsonb`), or text for `?`.
func (h *heldFilter) bindJSONB(sh *Shape, b *boundCond, c *cond, col pgout.Family, value func(Arg) (filterValue, bool)) (*boundCond, bool) {
	b.op = c.op
	a := c.value
	if col != pgout.JSONB || a.CastMod || !a.IsParam() && (!a.Quoted || strings.Contains(a.Literal, `\`)) {
		return nil, false
	}
	fv, present := sh.certainValue(a, value)
	if !present {
		return nil, false
	}
	text := []byte(fv.text())
	switch {
	case c.op == "?" && oneOf(a.Cast, "", "text", "varchar") && oidOneOf(fv.oid, oidText, oidVarchar, oidUnknown):
	case c.op == "@>" && a.Cast == "" && oidOneOf(fv.oid, oidJSONB),
		c.op == "@>" && a.Cast == "jsonb" && oidOneOf(fv.oid, oidJSONB, oidText, oidVarchar, oidUnknown):
		if fv.binary && fv.oid == oidJSONB || fv.binary && fv.oid == 0 && a.Cast == "" {
			if len(text) == 0 || text[0] != 1 {
				return nil, false
			}
			text = text[1:]
		}
	default:
		return nil, false
	}
	if fv.null {
		b.null = true
		return b, true
	}
	if c.op == "?" {
		b.str = string(text)
		return b, utf8.Valid(text) && !strings.ContainsRune(b.str, 0)
	}
	doc, ok := parseJSONB(text, true)
	b.doc = doc
	return b, ok
}

// evalJSONB evaluates `@>` or `?` over a held jsonb value.
func (b *boundCond) evalJSONB(v pgout.Value, undecided *bool) tv {
	if v.Null || b.null {
		return tvNull
	}
	var doc *jsonValue
	text, ok := jsonbText(v)
	if ok {
		doc, ok = parseJSONB(text, false)
	}
	if !ok {
		*undecided = true
		return tvNull
	}
	if b.op == "?" {
		return truth(jsonbHasKey(doc, b.str))
	}
	return truth(jsonbContains(doc, b.doc))
}

// jsonbText is a held jsonb value's text: as held, or its binary form without the version byte.
func jsonbText(v pgout.Value) ([]byte, bool) {
	if v.Text {
		return v.V, true
	}
	if len(v.V) == 0 || v.V[0] != 1 {
		return nil, false
	}
	return v.V[1:], true
}
