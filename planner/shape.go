package planner

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/sqltext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Arg is a value in the statement that is either a literal or a bound parameter.
type Arg struct {
	// Param is the 1-based number of the bound parameter ($n), or 0 for a literal.
	Param int
	// Literal is the literal's text (a vector literal such as '[1,2,3]', or an integer's digits).
	Literal string
	// Int is the literal's value when it is an integer.
	Int int64
	// Cast is the type the value is cast to in the statement (`$1::bigint` → "int8", Postgres'
	// internal name), "" when it is not; CastMod is set when the cast has a type modifier or
	// array bounds (`'x'::varchar(3)`), which can change the value.
	Cast    string
	CastMod bool
	// Quoted is set for a string literal ('…'), whose type comes from its context.
	Quoted bool
}

// IsParam reports whether the value arrives at Bind.
func (a Arg) IsParam() bool { return a.Param > 0 }

func (a Arg) String() string {
	if a.Param > 0 {
		return "$" + strconv.Itoa(a.Param)
	}
	return a.Literal
}

// Filter is one conjunct of the WHERE clause that tests a column against values:
// `col = v` (one value) or `col IN (v1, v2, …)`.
type Filter struct {
	Column string
	// Key is set for `col->>'key' = v`: the test is on that member of a jsonb column, as text.
	Key    string
	Values []Arg
}

// Shape is a recognised vector top-k statement:
//
//	SELECT <projection> FROM <table> [WHERE <filter>]
//	ORDER BY <column> <op> <vector> [ASC|DESC] LIMIT <k> [OFFSET <o>]
type Shape struct {
	Schema string // "" when the statement does not qualify the table
	Table  string
	Column string
	Metric ann.Metric
	// VectorType is the type the vector is cast to in the statement ("vector", "halfvec"), or ""
	// when it is an untyped literal or parameter.
	VectorType string
	// vectorCast is that type's name as written (quoted, qualified when the statement qualifies
	// it), for the session check that it is pgvector's.
	vectorCast string
	// functions are the names of the known functions (safeFunctions, vectorFunctions) the
	// statement calls unqualified, sorted, each once: Postgres resolves them through the
	// session's search_path, where a user's function of the same name (another argument type,
	// or a schema before pg_catalog) may answer instead, so the session check requires that
	// none exists (TableCheck).
	functions []string
	// Expr is the expression the distance applies to Column (`col::halfvec(n)`, expression.go);
	// zero for the column itself. exprCast is its type as written, for the session check.
	Expr     ColumnExpr
	exprCast string
	// quantize: the query vector is binary_quantize(vector) of a Hamming distance (bits.go);
	// readingQuantized is set while readVector reads it.
	quantize, readingQuantized bool
	// VectorDims is the dimension of the cast (`::vector(3)`), 0 without one.
	VectorDims int
	Vector     Arg
	Limit      Arg
	Offset     *Arg
	// Farthest is set by ORDER BY … DESC: the most dissimilar rows first.
	Farthest bool
	// Similarity: the ORDER BY key is `1 - distance` (its DESC is the distance's ascending
	// order, but for NULL vectors, which come first).
	Similarity bool
	descSQL    bool // the ORDER BY says DESC (NULLs first)
	// HasWhere tells whether there is a WHERE clause; Filters lists its column-equality conjuncts,
	// and FiltersExact says the WHERE is nothing but those and Thresholds.
	HasWhere     bool
	Filters      []Filter
	FiltersExact bool
	// Columns is every column name the statement references (projection, WHERE, ORDER BY);
	// Star is set when the projection has a *.
	Columns []string
	Star    bool
	// Plain is set when the select list holds only columns of the table and the ORDER BY
	// distance, and nothing in the statement is a subquery: what vecgate could answer from memory.
	Plain bool
	// Join is set for a top-k over a join (`FROM a JOIN b ON … ORDER BY a.emb <op> q LIMIT k`):
	// Schema and Table name the side whose vector column is sorted on, every reference to its
	// columns must be qualified (an unqualified name may be the other table's), and the answer
	// always goes through Postgres (the join, its filters, the other table's privileges).
	Join bool
	// DistanceOutputs lists the 0-based select-list positions that are exactly the ORDER BY
	// distance (`col <op> vector`).
	DistanceOutputs []int
	// derived: select-list positions computing the distance from a vector written apart, or 1
	// minus it (similarity.go); Thresholds: WHERE conjuncts bounding the distance.
	derived    []derived
	Thresholds []Threshold
	// conds: the WHERE's other conjuncts a covering twin can evaluate (cond.go), and the
	// operators they rely on.
	conds   []*cond
	condOps []string
	// Params is the highest $n the statement uses.
	Params int
	// paramUses counts the places each $n appears (a parameter used once takes its type from
	// its one context).
	paramUses map[int]int

	tree     *pg.ParseResult
	stmt     *pg.SelectStmt
	order    *pg.SortBy     // the distance sort key
	orderVec *pg.Node       // its vector as written
	rv       *pg.RangeVar   // the table the distance's column is of
	sides    []*pg.RangeVar // a join's tables that may be it (readFrom)
	// nested: a node of a larger statement (nested.go), whose select list may rank by the
	// distance (checkWindows).
	nested bool

	rwMu     sync.Mutex          // guards rewrites: a cached Shape is shared by sessions
	rewrites map[string]*Rewrite // by key column and type
}

// ErrNotShape is wrapped by every reason a statement is not a vector top-k; the text says which.
var ErrNotShape = errors.New("not a vector top-k")

func notShape(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotShape, fmt.Sprintf(format, args...))
}

// Classify parses sql with Postgres' grammar and returns its Shape, or an error wrapping
// ErrNotShape that says why it is to be forwarded (or the parser's error for invalid SQL, which
// Postgres will report in its own words when the statement is forwarded).
func Classify(sql string) (sh *Shape, err error) {
	defer func() {
		if r := recover(); r != nil { // a planner bug must never take a session down
			sh, err = nil, fmt.Errorf("planner: panic classifying statement: %v", r)
		}
	}()
	tree, err := parseStatement(sql)
	if err != nil {
		return nil, err
	}
	return classifyTree(tree, false)
}

// parseStatement parses sql, which must be one statement (else an error wrapping ErrNotShape).
func parseStatement(sql string) (*pg.ParseResult, error) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("%w: parse: %v", ErrNotShape, err)
	}
	if len(tree.Stmts) != 1 {
		return nil, notShape("%d statements", len(tree.Stmts))
	}
	return tree, nil
}

// classifyTree classifies a parsed statement; nested: it is a node of a larger statement
// (nested.go), whose select list may also rank rows by the distance (rankWindows).
func classifyTree(tree *pg.ParseResult, nested bool) (*Shape, error) {
	sel := tree.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil {
		return nil, notShape("not a SELECT")
	}
	sh := &Shape{tree: tree, stmt: sel, nested: nested}
	if err := sh.checkClauses(); err != nil {
		return nil, err
	}
	if err := sh.readFrom(); err != nil {
		return nil, err
	}
	if err := sh.readJoinOrder(); err != nil {
		return nil, err
	}
	if err := sh.readLimit(); err != nil {
		return nil, err
	}
	if err := sh.checkWindows(); err != nil {
		return nil, err
	}
	sh.readWhere()
	if !sh.readReferences() {
		return nil, notShape("parameter $0")
	}
	return sh, nil
}

func (sh *Shape) checkClauses() error {
	s := sh.stmt
	switch {
	case s.Op != pg.SetOperation_SETOP_NONE:
		return notShape("set operation")
	case s.WithClause != nil:
		return notShape("WITH clause")
	case len(s.DistinctClause) > 0:
		return notShape("DISTINCT")
	case s.IntoClause != nil:
		return notShape("SELECT INTO")
	case len(s.GroupClause) > 0 || s.HavingClause != nil:
		return notShape("GROUP BY or HAVING")
	case len(s.WindowClause) > 0:
		return notShape("WINDOW clause")
	case len(s.ValuesLists) > 0:
		return notShape("VALUES")
	case len(s.LockingClause) > 0:
		return notShape("locking clause (FOR UPDATE/SHARE)")
	case len(s.SortClause) == 0:
		return notShape("no ORDER BY")
	case len(s.SortClause) > 1:
		// ORDER BY dist, id LIMIT k: among rows tied at the k-th distance the second key picks,
		// and candidates chosen by distance alone need not hold the rows it picks.
		return notShape("ORDER BY keys after the distance")
	case s.LimitCount == nil:
		return notShape("no LIMIT")
	case s.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES:
		return notShape("FETCH … WITH TIES")
	}
	for _, t := range s.TargetList {
		if sh.nested && isRankWindow(t) {
			continue // checked against the distance once it is known (checkWindows)
		}
		if hasAggregateOrWindow(t) {
			return notShape("aggregate or window function in the select list")
		}
	}
	if name, ok := unknownFunction(sh.tree.Stmts[0].Stmt); ok {
		return notShape("function %s is not known to be free of side effects", name)
	}
	sh.functions = unqualifiedCalls(sh.tree.Stmts[0].Stmt)
	return nil
}

func (sh *Shape) readFrom() error {
	from := sh.stmt.FromClause
	if len(from) == 2 && from[0].GetRangeVar() != nil && from[1].GetRangeVar() != nil {
		// `FROM a, b WHERE …`: an inner join.
		sh.Join, sh.sides = true, []*pg.RangeVar{from[0].GetRangeVar(), from[1].GetRangeVar()}
		return nil
	}
	if len(from) != 1 {
		return notShape("FROM is not exactly one table")
	}
	if j := from[0].GetJoinExpr(); j != nil {
		return sh.readJoin(j)
	}
	rv := from[0].GetRangeVar()
	if rv == nil {
		return notShape("FROM item is not a plain table")
	}
	return sh.useTable(rv)
}

// useTable makes rv the statement's vector table.
func (sh *Shape) useTable(rv *pg.RangeVar) error {
	if !rv.Inh {
		return notShape("FROM ONLY")
	}
	if rv.Catalogname != "" {
		return notShape("catalog-qualified table")
	}
	if rv.Alias != nil && len(rv.Alias.Colnames) > 0 {
		// `FROM items AS t(tenant, id)` renames the columns: a name in the statement may mean
		// another column than the twin's key or vector.
		return notShape("column aliases in FROM")
	}
	sh.rv, sh.Schema, sh.Table = rv, rv.Schemaname, rv.Relname
	return nil
}

// readJoin accepts `a [INNER] JOIN b ON …` (either table's vector column may be sorted on) and
// `a LEFT JOIN b ON …` (a's only: b's side may be NULL-extended rows no index holds), both
// plain tables. Which table is the vector table is decided by the ORDER BY (readJoinOrder).
func (sh *Shape) readJoin(j *pg.JoinExpr) error {
	l, r := j.Larg.GetRangeVar(), j.Rarg.GetRangeVar()
	switch {
	case l == nil || r == nil:
		return notShape("join of more than two plain tables")
	case j.IsNatural || len(j.UsingClause) > 0 || j.Alias != nil || j.JoinUsingAlias != nil:
		return notShape("NATURAL, USING or an alias on the join")
	case j.Jointype == pg.JoinType_JOIN_INNER:
		sh.sides = []*pg.RangeVar{l, r}
	case j.Jointype == pg.JoinType_JOIN_LEFT:
		sh.sides = []*pg.RangeVar{l}
	default:
		return notShape("join other than INNER or LEFT")
	}
	sh.Join = true
	return nil
}

// readJoinOrder reads the ORDER BY; over a join, it tries each table that may be the vector
// table and keeps the one whose column the distance names (qualified).
func (sh *Shape) readJoinOrder() error {
	if !sh.Join {
		return sh.readOrder()
	}
	err := notShape("no join table has the ORDER BY distance's column")
	for _, rv := range sh.sides {
		if e := sh.useTable(rv); e != nil {
			err = e
			continue
		}
		sh.Similarity, sh.Farthest, sh.DistanceOutputs = false, false, nil
		if err = sh.readOrder(); err == nil {
			return nil
		}
	}
	sh.rv = nil
	return err
}

// readOrder finds the distance in the first ORDER BY key, directly or through a select-list alias
// or ordinal.
func (sh *Shape) readOrder() error {
	sb := sh.stmt.SortClause[0].GetSortBy()
	if sb == nil || len(sb.UseOp) > 0 {
		return notShape("ORDER BY … USING")
	}
	if sb.SortbyNulls != pg.SortByNulls_SORTBY_NULLS_DEFAULT {
		return notShape("NULLS FIRST/LAST")
	}
	expr := sb.Node
	if t, ok := sh.resolveOutput(expr); ok {
		expr = t
	}
	col, op, vec, ok := sh.distance(expr)
	desc := sb.SortbyDir == pg.SortByDir_SORTBY_DESC
	if !ok {
		// `1 - (col <op> vec)`, a similarity (Drizzle's documented pattern, ORDER BY … DESC):
		// its order is the distance's, reversed (rounding may tie similarities of distinct
		// distances; any order of tied keys is Postgres' answer too). NULL vectors sort first
		// under DESC: planner.find forwards while the table has any.
		if col, op, vec, ok = sh.similarity(expr); ok {
			sh.Similarity, desc = true, !desc
		}
	}
	if !ok {
		return notShape("first ORDER BY key is not <column> <op> <vector>")
	}
	m, err := ann.ParseMetric(op)
	if err != nil {
		return notShape("operator %s", op)
	}
	sh.Column, sh.Metric, sh.order, sh.orderVec = col, m, sb, vec
	if l := sh.distanceColumnNode(expr); l != nil {
		_, sh.exprCast, _ = sh.exprColumn(l)
	}
	sh.Column, sh.Expr = splitColumnKey(col)
	sh.Farthest, sh.descSQL = desc, sb.SortbyDir == pg.SortByDir_SORTBY_DESC
	if err := sh.readVector(vec); err != nil {
		return err
	}
	for i, t := range sh.stmt.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		if c, o, v, ok := sh.distance(rt.Val); ok && c == col && o == op && sameVector(v, vec) {
			sh.DistanceOutputs = append(sh.DistanceOutputs, i)
		}
	}
	sh.readDerived()
	return nil
}

// resolveOutput maps an ORDER BY key that names a select-list alias or ordinal to the expression.
func (sh *Shape) resolveOutput(n *pg.Node) (*pg.Node, bool) {
	if c := n.GetAConst(); c != nil {
		if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
			i := int(iv.Ival.Ival) - 1
			if i >= 0 && i < len(sh.stmt.TargetList) {
				if rt := sh.stmt.TargetList[i].GetResTarget(); rt != nil {
					return rt.Val, true
				}
			}
		}
		return nil, false
	}
	cr := n.GetColumnRef()
	if cr == nil || len(cr.Fields) != 1 || cr.Fields[0].GetString_() == nil {
		return nil, false
	}
	name := cr.Fields[0].GetString_().Sval
	for _, t := range sh.stmt.TargetList {
		if rt := t.GetResTarget(); rt != nil && rt.Name == name {
			return rt.Val, true
		}
	}
	return nil, false
}

// similarity matches `1 - (<column> <op> <vector>)` and returns the distance's parts.
func (sh *Shape) similarity(n *pg.Node) (col, op string, vec *pg.Node, ok bool) {
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || len(e.Name) != 1 || e.Name[0].GetString_().GetSval() != "-" ||
		e.Lexpr == nil || e.Rexpr == nil {
		return "", "", nil, false
	}
	one := e.Lexpr.GetAConst()
	if one == nil || one.GetIval() == nil || one.GetIval().Ival != 1 {
		return "", "", nil, false
	}
	return sh.distance(e.Rexpr)
}

// distance matches `<column> <op> <vector>` and returns the column, operator and vector node.
func (sh *Shape) distance(n *pg.Node) (col, op string, vec *pg.Node, ok bool) {
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || len(e.Name) != 1 || e.Lexpr == nil || e.Rexpr == nil {
		return "", "", nil, false
	}
	op = e.Name[0].GetString_().GetSval()
	switch op {
	case "<->", "<#>", "<=>", "<+>", "<~>":
	default:
		return "", "", nil, false
	}
	col, ok = sh.columnName(e.Lexpr)
	switch {
	case ok:
	case op == "<~>":
		col, ok = sh.bitExprColumn(e.Lexpr) // bits.go
	default:
		col, _, ok = sh.exprColumn(e.Lexpr) // expression.go
	}
	if !ok {
		return "", "", nil, false
	}
	return col, op, e.Rexpr, true
}

// columnName returns the column a ColumnRef names, if it is `col` or `<table or alias>.col` for
// the statement's one table.
func (sh *Shape) columnName(n *pg.Node) (string, bool) {
	cr := n.GetColumnRef()
	if cr == nil {
		return "", false
	}
	var parts []string
	for _, f := range cr.Fields {
		s := f.GetString_()
		if s == nil {
			return "", false
		}
		parts = append(parts, s.Sval)
	}
	switch len(parts) {
	case 1:
		return parts[0], !sh.Join // over a join, a bare name may be the other table's
	case 2:
		if parts[0] == sh.tableRefName() {
			return parts[1], true
		}
	case 3:
		if parts[0] == sh.Schema && parts[1] == sh.Table && sh.alias() == "" {
			return parts[2], true
		}
	}
	return "", false
}

func (sh *Shape) alias() string {
	if sh.rv != nil && sh.rv.Alias != nil {
		return sh.rv.Alias.Aliasname
	}
	return ""
}

func (sh *Shape) tableRefName() string {
	if a := sh.alias(); a != "" {
		return a
	}
	return sh.Table
}

func (sh *Shape) readVector(n *pg.Node) error {
	if sh.Metric == ann.Hamming && !sh.readingQuantized {
		sh.readingQuantized = true // binary_quantize's argument is a vector (bits.go)
		defer func() { sh.readingQuantized = false }()
		return sh.readBitVector(n)
	}
	if tc := n.GetTypeCast(); tc != nil {
		names := tc.TypeName.GetNames()
		if len(names) == 0 || tc.TypeName.ArrayBounds != nil {
			return notShape("vector cast to an unknown type")
		}
		if mods := tc.TypeName.Typmods; len(mods) > 0 {
			// vector(3): Postgres checks the dimension at the cast; plan compares it.
			a, err := intArg(mods[0])
			if len(mods) != 1 || err != nil || a.IsParam() || a.Int < 1 {
				return notShape("vector cast with an unusual type modifier")
			}
			sh.VectorDims = int(a.Int)
		}
		typ := names[len(names)-1].GetString_().GetSval()
		switch typ {
		case "vector", "halfvec", "sparsevec":
		default:
			return notShape("vector of type %s", typ)
		}
		sh.VectorType = typ
		var parts []string
		for _, nm := range names {
			parts = append(parts, sqltext.QuoteIdent(nm.GetString_().GetSval()))
		}
		sh.vectorCast = strings.Join(parts, ".")
		n = tc.Arg
	}
	if p := n.GetParamRef(); p != nil {
		sh.Vector = Arg{Param: int(p.Number)}
		return nil
	}
	if c := n.GetAConst(); c != nil {
		if s, ok := c.Val.(*pg.A_Const_Sval); ok {
			sh.Vector = Arg{Literal: s.Sval.Sval}
			return nil
		}
	}
	if lit, ok := arrayVector(n); ok && sh.VectorType == "vector" {
		sh.Vector = Arg{Literal: lit}
		return nil
	}
	return notShape("query vector is not a literal or parameter")
}

// arrayVector reads `ARRAY[1, -0.5, 2e3]` (cast to vector) as the vector literal it makes:
// pgvector's array_to_vector turns integers into float4 by a C cast and numerics through their
// decimal text (numeric_float4), both the nearest float4, as reading the same decimals does.
func arrayVector(n *pg.Node) (string, bool) {
	a := n.GetAArrayExpr()
	if a == nil || len(a.Elements) == 0 {
		return "", false
	}
	parts := make([]string, len(a.Elements))
	for i, e := range a.Elements {
		c := e.GetAConst()
		switch {
		case c == nil || c.Isnull:
			return "", false
		case c.GetIval() != nil:
			parts[i] = strconv.Itoa(int(c.GetIval().Ival))
		case c.GetFval() != nil:
			parts[i] = c.GetFval().Fval
		default:
			return "", false
		}
	}
	return "[" + strings.Join(parts, ",") + "]", true
}

// sameVector reports whether two expressions are the same apart from where they stand in the text.
func sameVector(a, b *pg.Node) bool {
	return proto.Equal(withoutLocations(a), withoutLocations(b))
}

func withoutLocations(n *pg.Node) *pg.Node {
	c := proto.Clone(n).(*pg.Node)
	var clear func(m protoreflect.Message)
	clear = func(m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.Name() == "location":
				m.Clear(fd)
			case fd.Message() != nil && fd.IsList():
				for i := range v.List().Len() {
					clear(v.List().Get(i).Message())
				}
			case fd.Message() != nil && !fd.IsMap():
				clear(v.Message())
			}
			return true
		})
	}
	clear(c.ProtoReflect())
	return c
}

func (sh *Shape) readLimit() error {
	lim, err := intArg(sh.stmt.LimitCount)
	if err != nil {
		return notShape("LIMIT: %v", err)
	}
	sh.Limit = lim
	if sh.stmt.LimitOffset != nil {
		off, err := intArg(sh.stmt.LimitOffset)
		if err != nil {
			return notShape("OFFSET: %v", err)
		}
		sh.Offset = &off
	}
	return nil
}

func intArg(n *pg.Node) (Arg, error) {
	if p := n.GetParamRef(); p != nil {
		return Arg{Param: int(p.Number)}, nil
	}
	if tc := n.GetTypeCast(); tc != nil {
		if p := tc.Arg.GetParamRef(); p != nil {
			return Arg{Param: int(p.Number)}, nil
		}
	}
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return Arg{}, errors.New("not an integer constant or parameter")
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return Arg{Literal: strconv.Itoa(int(v.Ival.Ival)), Int: int64(v.Ival.Ival)}, nil
	case *pg.A_Const_Sval: // LIMIT '7', as clients that interpolate parameters send it
		n, err := strconv.ParseInt(strings.TrimSpace(v.Sval.Sval), 10, 64)
		if err != nil {
			return Arg{}, errors.New("not an integer constant")
		}
		return Arg{Literal: strconv.FormatInt(n, 10), Int: n}, nil
	}
	return Arg{}, errors.New("not an integer constant")
}

// readWhere collects the column-equality conjuncts of the WHERE clause.
func (sh *Shape) readWhere() {
	w := sh.stmt.WhereClause
	if w == nil {
		return
	}
	sh.HasWhere = true
	conj := []*pg.Node{w}
	if b := w.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		conj = b.Args
	}
	sh.FiltersExact = !sh.Join // a join's WHERE is the join's: never evaluated by vecgate
	ops := map[string]bool{}
	defer func() {
		for op := range ops {
			sh.condOps = append(sh.condOps, op)
		}
		slices.Sort(sh.condOps)
	}()
	for _, c := range conj {
		if f, ok := sh.filter(c); ok {
			sh.Filters = append(sh.Filters, f)
		} else if t, ok := sh.threshold(c); ok {
			sh.Thresholds = append(sh.Thresholds, t)
		} else if k, ok := sh.readCond(c, ops); ok {
			sh.conds = append(sh.conds, k)
		} else {
			sh.FiltersExact = false
		}
	}
}

// filterTarget reads what a filter tests: a column, or `col->>'key'` (a jsonb column's member
// as text; key "" otherwise). A key with a backslash is refused (its meaning depends on
// standard_conforming_strings).
func (sh *Shape) filterTarget(n *pg.Node) (col, key string, ok bool) {
	if col, ok = sh.columnName(n); ok {
		return col, "", true
	}
	e := n.GetAExpr()
	if e == nil || e.Kind != pg.A_Expr_Kind_AEXPR_OP || len(e.Name) != 1 || e.Name[0].GetString_().GetSval() != "->>" {
		return "", "", false
	}
	col, ok = sh.columnName(e.Lexpr)
	k := e.Rexpr.GetAConst()
	if !ok || k == nil || k.GetSval() == nil || strings.Contains(k.GetSval().Sval, `\`) {
		return "", "", false
	}
	return col, k.GetSval().Sval, true
}

func (sh *Shape) filter(n *pg.Node) (Filter, bool) {
	e := n.GetAExpr()
	if e == nil || len(e.Name) != 1 {
		return Filter{}, false
	}
	op := e.Name[0].GetString_().GetSval()
	switch {
	case e.Kind == pg.A_Expr_Kind_AEXPR_OP && op == "=":
		col, key, ok := sh.filterTarget(e.Lexpr)
		val, vok := constArg(e.Rexpr)
		if !ok || !vok {
			col, key, ok = sh.filterTarget(e.Rexpr)
			val, vok = constArg(e.Lexpr)
		}
		if ok && vok {
			return Filter{Column: col, Key: key, Values: []Arg{val}}, true
		}
	case e.Kind == pg.A_Expr_Kind_AEXPR_IN && op == "=":
		col, key, ok := sh.filterTarget(e.Lexpr)
		list := e.Rexpr.GetList()
		if !ok || list == nil {
			return Filter{}, false
		}
		f := Filter{Column: col, Key: key}
		for _, item := range list.Items {
			v, ok := constArg(item)
			if !ok {
				return Filter{}, false
			}
			f.Values = append(f.Values, v)
		}
		return f, true
	}
	return Filter{}, false
}

// constArg accepts a literal (string, integer, float, boolean) or a parameter, optionally cast.
func constArg(n *pg.Node) (Arg, bool) {
	if n == nil {
		return Arg{}, false
	}
	var cast string
	var castMod bool
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.Arg
		if tn := tc.TypeName; tn != nil && len(tn.Names) > 0 {
			cast = strings.ToLower(tn.Names[len(tn.Names)-1].GetString_().GetSval())
			castMod = len(tn.Typmods) > 0 || len(tn.ArrayBounds) > 0 || tn.Setof
			if len(tn.Names) > 1 && tn.Names[0].GetString_().GetSval() != "pg_catalog" {
				cast = "?" // a type of some other schema: not one vecgate knows
			}
		}
	}
	a, ok := uncastArg(n)
	a.Cast, a.CastMod = cast, castMod
	return a, ok
}

func uncastArg(n *pg.Node) (Arg, bool) {
	if p := n.GetParamRef(); p != nil {
		return Arg{Param: int(p.Number)}, true
	}
	c := n.GetAConst()
	if c == nil || c.Isnull {
		return Arg{}, false
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		return Arg{Literal: strconv.Itoa(int(v.Ival.Ival)), Int: int64(v.Ival.Ival)}, true
	case *pg.A_Const_Sval:
		return Arg{Literal: v.Sval.Sval, Quoted: true}, true
	case *pg.A_Const_Fval:
		return Arg{Literal: v.Fval.Fval}, true
	case *pg.A_Const_Boolval:
		return Arg{Literal: strconv.FormatBool(v.Boolval.Boolval)}, true
	}
	return Arg{}, false
}

// readReferences records the columns and the highest parameter number the statement uses, and
// whether the statement is plain. It returns false for a parameter numbered below 1 (which
// Postgres rejects).
func (sh *Shape) readReferences() bool {
	seen := map[string]bool{}
	outputs := map[string]bool{}
	sh.Plain = true
	for i, t := range sh.stmt.TargetList {
		rt := t.GetResTarget()
		if rt == nil {
			sh.Plain = false
			continue
		}
		if rt.Name != "" {
			outputs[rt.Name] = true
		}
		if _, ok := sh.columnName(rt.Val); !ok && !isStar(rt.Val) && !containsInt(sh.DistanceOutputs, i) && !sh.isDerived(i) {
			sh.Plain = false
		}
	}
	if sh.Join {
		sh.Plain = false // the join's rows are Postgres' to make
	}
	var roots []*pg.Node
	roots = append(roots, sh.stmt.TargetList...)
	roots = append(roots, sh.stmt.WhereClause)
	for _, n := range sh.stmt.SortClause {
		if sb := n.GetSortBy(); sb != nil {
			if cr := sb.Node.GetColumnRef(); cr != nil && len(cr.Fields) == 1 && outputs[cr.Fields[0].GetString_().GetSval()] {
				continue // an output alias, not a column
			}
		}
		roots = append(roots, n)
	}
	for _, root := range roots {
		walk(root, func(n *pg.Node) {
			if n.GetSubLink() != nil {
				sh.Plain = false
			}
			if cr := n.GetColumnRef(); cr != nil {
				if isStar(n) {
					sh.Star = true
					return
				}
				if name, ok := sh.columnName(n); ok && !seen[name] {
					seen[name] = true
					sh.Columns = append(sh.Columns, name)
				}
			}
		})
	}
	valid := true
	walk(sh.tree.Stmts[0].Stmt, func(n *pg.Node) {
		if p := n.GetParamRef(); p != nil {
			sh.Params = max(sh.Params, int(p.Number))
			valid = valid && p.Number >= 1
			if sh.paramUses == nil {
				sh.paramUses = map[int]int{}
			}
			sh.paramUses[int(p.Number)]++
		}
	})
	return valid
}

func isStar(n *pg.Node) bool {
	cr := n.GetColumnRef()
	return cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func hasAggregateOrWindow(n *pg.Node) bool {
	found := false
	walk(n, func(x *pg.Node) {
		if fc := x.GetFuncCall(); fc != nil {
			if fc.Over != nil || fc.AggStar || fc.AggDistinct || len(fc.AggOrder) > 0 || fc.AggFilter != nil {
				found = true
				return
			}
			if len(fc.Funcname) > 0 && aggregates[strings.ToLower(fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval())] {
				found = true
			}
		}
	})
	return found
}

// aggregates are the built-in aggregate names. An aggregate makes the statement return one row over
// all rows, which a rewrite over candidates would change. (User-defined aggregates are not on the
// list of known functions, so those statements are forwarded too: unknownFunction.)
var aggregates = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true, "array_agg": true,
	"string_agg": true, "json_agg": true, "jsonb_agg": true, "bool_and": true, "bool_or": true,
	"every": true, "bit_and": true, "bit_or": true, "stddev": true, "variance": true,
	"json_object_agg": true, "jsonb_object_agg": true, "xmlagg": true,
}

// unknownFunction returns the name of the first function call in n that is not on the list of
// known functions, which a statement may call any number of times without changing anything
// (safeFunctions). An intercepted statement runs once per widening round and each round's
// result but the last is discarded, so a call that writes (nextval, a user's function that
// inserts) would be repeated: such statements are forwarded. The planner cannot look up a
// function's volatility (no I/O), so the list holds built-in names only: unqualified, or
// qualified with pg_catalog (as Postgres writes EXTRACT, TRIM, SUBSTRING … internally), and
// pgvector's functions unqualified. A name is not a function: an unqualified call may resolve
// to a user's function of that name (public.lower(int), which pg_catalog lacks), so the session
// check also requires that the session's search_path holds no such function (Shape.functions,
// TableCheck).
func unknownFunction(n *pg.Node) (string, bool) { return unknownCall(n, nil) }

// unknownCall is unknownFunction with also the names in extra known (built-in ones).
func unknownCall(n *pg.Node, extra map[string]bool) (string, bool) {
	var bad string
	walk(n, func(x *pg.Node) {
		fc := x.GetFuncCall()
		if fc == nil || bad != "" {
			return
		}
		var parts []string
		for _, f := range fc.Funcname {
			parts = append(parts, f.GetString_().GetSval())
		}
		name := strings.Join(parts, ".")
		switch {
		case len(parts) == 1 && (safeFunctions[parts[0]] || vectorFunctions[parts[0]]):
		case len(parts) == 1 && fc.Over != nil && rankFunctions[parts[0]]:
		case len(parts) == 1 && extra[parts[0]]:
		case len(parts) == 2 && parts[0] == "pg_catalog" && extra[parts[1]]:
		case len(parts) == 2 && parts[0] == "pg_catalog" && safeFunctions[parts[1]]:
		default:
			bad = name
		}
	})
	return bad, bad != ""
}

// unqualifiedCalls returns the names of the functions n calls without a schema, sorted, each
// once.
func unqualifiedCalls(n *pg.Node) []string {
	var names []string
	walk(n, func(x *pg.Node) {
		if fc := x.GetFuncCall(); fc != nil && len(fc.Funcname) == 1 {
			name := fc.Funcname[0].GetString_().GetSval()
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	})
	slices.Sort(names)
	return names
}

// safeFunctions are built-in functions (pg_catalog) that are immutable or stable and write
// nothing: calling them once more per widening round changes no answer and no state. Names are
// as Postgres stores them (folded to lower case unless quoted).
var safeFunctions = map[string]bool{
	// text
	"lower": true, "upper": true, "length": true, "char_length": true, "octet_length": true,
	"substr": true, "substring": true, "left": true, "right": true, "btrim": true, "ltrim": true,
	"rtrim": true, "replace": true, "concat": true, "concat_ws": true, "split_part": true,
	"position": true, "strpos": true, "starts_with": true, "md5": true,
	// numbers
	"abs": true, "round": true, "trunc": true, "floor": true, "ceil": true, "ceiling": true,
	"sqrt": true, "power": true, "exp": true, "ln": true, "sign": true, "mod": true,
	// dates
	"now": true, "date_trunc": true, "date_part": true, "extract": true, "to_char": true,
	// arrays and json
	"array_length": true, "cardinality": true, "to_json": true, "to_jsonb": true,
	"json_build_object": true, "jsonb_build_object": true,
	// text search (hybrid queries filter on it)
	"to_tsvector": true, "to_tsquery": true, "plainto_tsquery": true, "websearch_to_tsquery": true,
	"ts_rank": true, "ts_rank_cd": true,
}

// vectorFunctions are pgvector's functions (in the schema the extension was created in, so
// called unqualified); none writes.
var vectorFunctions = map[string]bool{
	"l2_distance": true, "inner_product": true, "cosine_distance": true, "l1_distance": true,
	"vector_dims": true, "vector_norm": true, "l2_norm": true, "l2_normalize": true,
	"subvector": true, "binary_quantize": true, "hamming_distance": true, "jaccard_distance": true,
}
