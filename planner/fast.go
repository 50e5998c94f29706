package planner

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgdist"
	"github.com/vecgate/vecgate/internal/pgout"
	"github.com/vecgate/vecgate/internal/sqltext"
)

// Fast path: a statement whose select list is nothing but the table's key, columns the twin
// holds (a covering twin: live/cover.go) and the ORDER BY distance, with no WHERE and no other
// sort key, needs nothing Postgres holds beyond what the live index has. vecgate can then answer
// it from memory, without a round trip, once the proxy has checked (through Postgres, per
// session: TableCheck) that the session's role may read those columns and that no row-level
// security applies.

// ColumnKind says what an output column of a fast answer holds.
type ColumnKind int

const (
	// KeyColumn is the table's key (in Target.KeyType).
	KeyColumn ColumnKind = iota
	// DistanceColumn is the distance, float8.
	DistanceColumn
	// HeldColumn is a column whose values the twin holds.
	HeldColumn
	// VectorColumn is the twin's vector column itself (`SELECT *`), printed from the vectors
	// it holds as given.
	VectorColumn
	// SimilarityColumn is 1 minus the distance, float8 (similarity.go).
	SimilarityColumn
)

// Output is an output column of a fast answer.
type Output struct {
	Kind ColumnKind
	// Column names a HeldColumn or VectorColumn; Held is a HeldColumn's position among the
	// twin's held columns, Family how it prints and Type its type as format_type prints it.
	Column string
	Held   int
	Family pgout.Family
	Type   string
}

// heldSource is an index that holds column values for answers (live.Index).
type heldSource interface {
	HeldColumn(name string) (pgout.Column, bool)
	HeldValues(key ann.Key, pos []int) ([]pgout.Value, bool)
	TableColumns() []string
}

// Fast reports whether q can be answered from memory, and its output columns (a `*` stands
// for the table's columns: the key, the vector column when the twin holds the rows' vectors as
// given, and held columns; any other column and it cannot).
// The answer is worked out once per Query (the proxy asks several times per statement: whether
// to answer from memory, its description's key, its table check, the answer).
func (q *Query) Fast() ([]Output, bool) {
	q.fastOnce.Do(func() { q.fastOuts, q.fastOK = q.fast() })
	return q.fastOuts, q.fastOK
}

func (q *Query) fast() ([]Output, bool) {
	sh := q.Shape
	// The WHERE, if any, is evaluated by vecgate: held filters, thresholds, or both.
	whereHeld := !sh.HasWhere || q.held != nil || sh.FiltersExact && len(sh.Filters)+len(sh.conds) == 0
	if sh.Farthest && len(sh.Thresholds) > 0 {
		return nil, false // a bound on the distance keeps the nearest rows, not the farthest
	}
	if (q.Target.Halfvec || q.Target.Sparse) && (len(sh.Thresholds) > 0 || len(sh.DistanceOutputs)+len(sh.derived) > 0 || sh.Star) {
		return nil, false // halfvec and sparsevec distances (and values) are not printed from memory: Target.Halfvec, Sparse
	}
	if !q.Target.Exact || !sh.Plain || q.unequal || !whereHeld || len(sh.stmt.SortClause) != 1 || sh.Metric == ann.Hamming {
		// Hamming distances tie everywhere: Postgres picks among the tied rows (bits.go).
		return nil, false
	}
	held, _ := q.Target.Index.(heldSource)
	column := func(name string) (Output, bool) {
		switch {
		case name == q.Target.Key:
			return Output{Kind: KeyColumn, Type: q.Target.KeyType}, true
		case q.Target.composite() && slices.Contains(q.Target.KeyColumns, name):
			// A column of a composite key: its value is in the key (keys.go), Held its place.
			i := slices.Index(q.Target.KeyColumns, name)
			return Output{Kind: KeyColumn, Column: name, Held: i, Type: q.Target.KeyTypes[i]}, true
		case held == nil:
			return Output{}, false
		case name == sh.Column:
			src, ok := q.Target.Index.(originalsSource)
			return Output{Kind: VectorColumn, Column: name}, ok && src.Originals() && !q.Target.Halfvec && !q.Target.Sparse
		}
		c, ok := held.HeldColumn(name)
		return Output{Kind: HeldColumn, Column: name, Held: c.Pos, Family: c.Family, Type: c.Type}, ok
	}
	var outs []Output
	for i, t := range sh.stmt.TargetList {
		if containsInt(sh.DistanceOutputs, i) {
			outs = append(outs, Output{Kind: DistanceColumn})
			continue
		}
		if d, ok := sh.derivedAt(i); ok {
			kind := DistanceColumn
			if d.similarity {
				kind = SimilarityColumn
			}
			outs = append(outs, Output{Kind: kind})
			continue
		}
		rt := t.GetResTarget()
		if rt == nil {
			return nil, false
		}
		if isStar(rt.Val) {
			cols := sh.starColumns(rt.Val, held)
			if cols == nil {
				return nil, false
			}
			for _, name := range cols {
				o, ok := column(name)
				if !ok {
					return nil, false
				}
				outs = append(outs, o)
			}
			continue
		}
		name, ok := sh.columnName(rt.Val)
		if !ok {
			return nil, false
		}
		o, ok := column(name)
		if !ok {
			return nil, false
		}
		outs = append(outs, o)
	}
	return outs, len(outs) > 0
}

// starColumns returns the columns a `*` or `<table>.*` stands for, nil when not known.
func (sh *Shape) starColumns(n *pg.Node, held heldSource) []string {
	cr := n.GetColumnRef()
	switch {
	case held == nil:
		return nil
	case len(cr.Fields) == 2 && cr.Fields[0].GetString_().GetSval() == sh.tableRefName():
	case len(cr.Fields) != 1:
		return nil
	}
	return held.TableColumns()
}

// FastKey identifies the shape of a fast answer's RowDescription: the table and, per output
// column, its name, kind and type (a `*` as the columns it stands for). Statements with the
// same key (differing only in the query vector or LIMIT) are described alike, so a description
// Postgres gave for one serves the others; a column retyped, added or dropped makes another key.
func (q *Query) FastKey() string {
	sh := q.Shape
	var b strings.Builder
	b.WriteString(sh.Schema + "." + sh.Table)
	for i, t := range sh.stmt.TargetList {
		rt := t.GetResTarget()
		name := rt.GetName()
		if name == "" {
			if c, ok := sh.columnName(rt.GetVal()); ok {
				name = c
			} else {
				name = "?column?"
			}
		}
		fmt.Fprintf(&b, "|%q:%v", name, containsInt(sh.DistanceOutputs, i))
	}
	if outs, ok := q.Fast(); ok {
		for _, o := range outs {
			fmt.Fprintf(&b, "|%d:%q:%q", o.Kind, o.Column, o.Type)
		}
	}
	return b.String()
}

// TableCheck is a statement (no parameters) returning one row of two booleans for the session
// that runs it. The first: the index holds every row the statement can return and ranks them
// as the statement's operator does, so the id-list rewrite may be used —
//
//   - the session is in the database vecgate follows (Target.DatabaseOID; twins belong to it);
//   - the statement's table name resolves (through the session's search_path, as the statement's
//     own would) to exactly the relation indexed (Target.RelOID: a table dropped and created
//     again, or renamed into its place, is another relation), which has no inheritance
//     children, whose rows the statement would read too;
//   - the statement's distance operator, looked up through the session's search_path, can only
//     be pgvector's: every operator of that name in a schema on the path (but for Postgres' own
//     built-in ones, which take no vector) belongs to the extension vector, and one does; and a
//     cast of the query vector names pgvector's type;
//   - every function the statement calls unqualified (only known ones are: unknownFunction) can
//     only be Postgres' or pgvector's: no function of that name exists in a schema on the
//     session's search_path (the temporary schema, never searched for functions, aside) but
//     pg_catalog's and the extension vector's. (Names are not enough: a user's public.lower(int)
//     that calls nextval would run again in each widening round.)
//
// The second, beyond that: the role can SELECT the key and vector columns, the table has no
// row-level security, and the session prints float8 as the fast path does (extra_float_digits
// at least 1: the shortest exact form) — the answer may come from memory.
//
// Every name in the check is qualified with pg_catalog (functions, operators, types, tables),
// so objects of the session's own search_path cannot stand in for the catalog's.
//
// It is built once per Query: the proxy looks its answer up by the text at each step.
func (q *Query) TableCheck() string {
	q.checkOnce.Do(func() { q.check = q.tableCheck() })
	return q.check
}

func (q *Query) tableCheck() string {
	schema := q.Shape.Schema
	if schema == "" {
		schema = "public"
	}
	rel := q.Shape.Table
	if q.Shape.Schema != "" {
		rel = sqltext.QuoteIdent(q.Shape.Schema) + "." + sqltext.QuoteIdent(q.Shape.Table)
	} else {
		rel = sqltext.QuoteIdent(rel)
	}
	typeCheck := ""
	for _, cast := range []string{q.Shape.vectorCast, q.Shape.exprCast} {
		if cast != "" {
			typeCheck += fmt.Sprintf(`
    AND pg_catalog.to_regtype(%s) OPERATOR(pg_catalog.=) ANY (x.types)`, sqltext.QuoteLiteral(cast))
		}
	}
	funcCheck := ""
	if len(q.Shape.functions) > 0 {
		names := make([]string, len(q.Shape.functions))
		for i, f := range q.Shape.functions {
			names[i] = sqltext.QuoteLiteral(f)
		}
		funcCheck = fmt.Sprintf(`
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
      WHERE p.proname OPERATOR(pg_catalog.=) ANY (ARRAY[%s]::pg_catalog.name[])
        AND n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(true))
        AND n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog'
        AND p.pronamespace OPERATOR(pg_catalog.<>) pg_catalog.pg_my_temp_schema()
        AND p.oid OPERATOR(pg_catalog.<>) ALL (x.procs))`, strings.Join(names, ", "))
	}
	var columns []string
	for _, k := range q.Target.keyColumns() {
		columns = append(columns, sqltext.QuoteLiteral(k))
	}
	columns = append(columns, sqltext.QuoteLiteral(q.Shape.Column))
	var typed []Output // held columns read, whose type the session must see as the twin holds it
	if outs, ok := q.Fast(); ok {
		for _, o := range outs {
			if o.Kind == HeldColumn && !slices.ContainsFunc(typed, func(t Output) bool { return t.Column == o.Column }) {
				typed = append(typed, o)
			}
		}
		if q.held != nil {
			for _, c := range q.held.columns {
				if h, ok := q.Target.Index.(heldSource); ok && !slices.ContainsFunc(typed, func(t Output) bool { return t.Column == c }) {
					if hc, ok := h.HeldColumn(c); ok {
						typed = append(typed, Output{Kind: HeldColumn, Column: c, Type: hc.Type})
					}
				}
			}
		}
		for _, o := range typed {
			columns = append(columns, sqltext.QuoteLiteral(o.Column))
		}
	}
	privileges := make([]string, len(columns))
	for i, c := range columns {
		privileges[i] = "pg_catalog.has_column_privilege(c.oid, " + c + ", 'SELECT')"
	}
	if held, ok := q.Target.Index.(heldSource); ok && q.Shape.Star {
		// `*` stands for the columns the twin knows: the table must have just those.
		names := make([]string, 0, len(held.TableColumns()))
		for _, c := range held.TableColumns() {
			names = append(names, sqltext.QuoteLiteral(c))
		}
		privileges = append(privileges, fmt.Sprintf(`(SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
      WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) OPERATOR(pg_catalog.=) ARRAY[%s]::pg_catalog.name[]`,
			strings.Join(names, ", ")))
	}
	for _, o := range typed {
		// A column retyped (or dropped and added again) since the twin loaded it: its held
		// values are not the column's until the twin is rebuilt.
		privileges = append(privileges, fmt.Sprintf(`(SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
      WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attname OPERATOR(pg_catalog.=) %s AND NOT a.attisdropped) OPERATOR(pg_catalog.=) %s`,
			sqltext.QuoteLiteral(o.Column), sqltext.QuoteLiteral(o.Type)))
	}
	privileges = append(privileges, outputSettings(typed)...)
	filterOps := ""
	if ops := q.builtinOperators(); len(ops) > 0 {
		// vecgate evaluates these operators itself (held filters' = and ->>: the answer; in-index
		// filters: which candidates Postgres sees; 1 - distance and the thresholds' comparisons;
		// a similarity's DESC order): they must be Postgres' own, no user operator of those
		// names over built-in types on the session's search_path.
		filterOps = fmt.Sprintf(`
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
      WHERE o.oprname OPERATOR(pg_catalog.=) ANY (ARRAY[%s]::pg_catalog.name[]) AND o.oid OPERATOR(pg_catalog.>=) '16384'::pg_catalog.oid
        AND n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(true))
        AND (o.oprleft OPERATOR(pg_catalog.<) '16384'::pg_catalog.oid OR o.oprright OPERATOR(pg_catalog.<) '16384'::pg_catalog.oid))`, ops)
	}
	// x: the operators, types and functions of the extension vector; ops: whether every operator named as
	// the statement's on the search_path (not the temporary schema, never searched for
	// operators) is one of them or built in, and one is.
	return fmt.Sprintf(`SELECT coalesce(pg_catalog.bool_and(whole), false), coalesce(pg_catalog.bool_and(whole AND readable), false) FROM (
  SELECT c.oid OPERATOR(pg_catalog.=) '%d'::pg_catalog.oid
    AND db.oid OPERATOR(pg_catalog.=) '%d'::pg_catalog.oid
    AND c.relnamespace OPERATOR(pg_catalog.=) pg_catalog.to_regnamespace(%s)
    AND %s
    AND ops.ok%s%s%s AS whole,
    NOT c.relrowsecurity AND %s
    AND pg_catalog.current_setting('extra_float_digits')::pg_catalog.int4 OPERATOR(pg_catalog.>=) 1 AS readable
  FROM pg_catalog.pg_class c, pg_catalog.pg_database db,
    (SELECT pg_catalog.array_agg(dep.objid) FILTER (WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_operator'::pg_catalog.regclass) AS ops,
        pg_catalog.array_agg(dep.objid) FILTER (WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass) AS types,
        pg_catalog.array_agg(dep.objid) FILTER (WHERE dep.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass) AS procs
      FROM pg_catalog.pg_depend dep
      WHERE dep.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass AND dep.deptype OPERATOR(pg_catalog.=) 'e'
        AND dep.refobjid OPERATOR(pg_catalog.=) (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'vector')) x,
    LATERAL (SELECT pg_catalog.bool_and(o.oid OPERATOR(pg_catalog.=) ANY (x.ops) OR o.oid OPERATOR(pg_catalog.<) '16384'::pg_catalog.oid)
        AND pg_catalog.bool_or(o.oid OPERATOR(pg_catalog.=) ANY (x.ops)) AS ok
      FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) o.oprnamespace
      WHERE o.oprname OPERATOR(pg_catalog.=) %s AND n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(true))
        AND o.oprnamespace OPERATOR(pg_catalog.<>) pg_catalog.pg_my_temp_schema()) ops
  WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%s) AND db.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()
  OFFSET 0) t`,
		q.Target.RelOID, q.Target.DatabaseOID, sqltext.QuoteLiteral(schema), q.Target.childrenCheck(), typeCheck, funcCheck, filterOps,
		strings.Join(privileges, " AND "), sqltext.QuoteLiteral(q.Shape.Metric.String()), sqltext.QuoteLiteral(rel))
}

// Answer searches the live index and returns the rows of the fast answer: per row, each output
// column (Fast's outs) as Postgres would send it in the result format asked for (formats as in
// a Bind: none for all text, one for all, or one per column), nil for NULL.
func (q *Query) Answer(ctx context.Context, outs []Output, formats []int16) ([][][]byte, error) {
	// Every candidate is a row of the answer (no WHERE, exact distances): the search needs no
	// more than LIMIT + OFFSET of them, and the graph search's ef (or IVF's probes), not k, sets
	// its recall.
	// One more than that shows whether the last row's place is contested (nearTie); with the
	// server's own distances (serverDistances), a few more, which it orders itself.
	if q.nullsFirst() {
		return nil, errors.New("planner: rows without a vector come first")
	}
	search := q.search
	if q.held != nil {
		search = q.searchHeld
	}
	cal, src := q.serverCalibration()
	exact := cal != nil
	if !exact && (len(q.bounds) > 0 || slices.ContainsFunc(outs, func(o Output) bool { return o.Kind == SimilarityColumn })) {
		return nil, errors.New("planner: similarities and distance thresholds need the server's own distances")
	}
	fetch := q.need + 1
	if exact {
		fetch = q.need + max(4, q.need/2)
	}
	res, seenAll, err := search(ctx, fetch)
	if err != nil {
		return nil, err
	}
	switch {
	case len(q.bounds) > 0:
		if res, err = q.thresholdRows(cal, src, res, seenAll); err != nil {
			return nil, err
		}
	case len(res) < q.need && !(seenAll && q.Target.Index.Complete()):
		// Fewer rows than asked, and not proven to be every row: Postgres may return more.
		return nil, fmt.Errorf("planner: the index returned %d of %d rows", len(res), q.need)
	case exact:
		if res, err = q.serverDistances(cal, src, res, seenAll); err != nil {
			return nil, err
		}
	}
	for i := 1; i < len(res) && !exact; i++ {
		if a, b := res[i-1].Distance, res[i].Distance; nearTie(a, b) {
			// vecgate's float32 sums run in another order than pgvector's: rows this close may
			// come in the other order (or the other one of two may make the cut) in Postgres.
			return nil, fmt.Errorf("planner: distances %g and %g are too close to order from memory", a, b)
		}
	}
	q.ids = res[:min(len(res), q.need)] // the rows answered (Sample)
	off := q.need - q.Want
	if off >= len(res) {
		return nil, nil
	}
	res = res[off:min(len(res), q.need)]
	prints := slices.ContainsFunc(outs, func(o Output) bool { return o.Kind == DistanceColumn || o.Kind == SimilarityColumn })
	var heldPos []int
	for _, o := range outs {
		if o.Kind == HeldColumn {
			heldPos = append(heldPos, o.Held)
		}
	}
	held, _ := q.Target.Index.(heldSource)
	keyFamily := pgout.FamilyOf(q.Target.KeyType)
	rows := make([][][]byte, len(res))
	for i, r := range res {
		if math.Abs(r.Distance) >= MaxFastDistance {
			return nil, fmt.Errorf("planner: distance %g is past what the fast path prints exactly", r.Distance)
		}
		if prints && q.Shape.Metric == ann.Cosine && !exact {
			d, err := q.cosineAgain(r.Key)
			if err != nil {
				return nil, err
			}
			if d < MinFastCosine {
				return nil, fmt.Errorf("planner: cosine distance %g is below what the fast path prints within 1e-6", d)
			}
			r.Distance = d
		}
		var vals []pgout.Value
		if len(heldPos) > 0 {
			var ok bool
			if vals, ok = held.HeldValues(r.Key, heldPos); !ok {
				return nil, fmt.Errorf("planner: the values of row %s are not held", r.Key)
			}
		}
		row := make([][]byte, len(outs))
		for j, o := range outs {
			format := resultFormat(formats, j)
			var v []byte
			var err error
			switch o.Kind {
			case KeyColumn:
				if q.Target.composite() {
					v, err = q.Target.encodeKeyPart(r.Key, o, format)
				} else {
					v, err = pgout.Encode(keyFamily, []byte(r.Key.String()), true, format)
				}
			case DistanceColumn, SimilarityColumn:
				x := r.Distance
				if o.Kind == SimilarityColumn {
					x = 1 - x // float8mi: one IEEE subtraction, as in Postgres
				}
				if format == 0 {
					v, err = pgout.Float(x, 64)
				} else {
					v = binary.BigEndian.AppendUint64(nil, math.Float64bits(x))
				}
			case HeldColumn:
				x := vals[0]
				vals = vals[1:]
				if !x.Null {
					v, err = pgout.Encode(o.Family, x.V, x.Text, format)
				}
			case VectorColumn:
				vec, ok := q.Target.Index.(vectorSource).Vector(r.Key)
				if !ok {
					return nil, fmt.Errorf("planner: %s holds no vector for %s", q.Target.Name, r.Key)
				}
				v, err = pgout.Vector(vec, format)
			}
			if err != nil {
				return nil, fmt.Errorf("planner: column %d of row %s: %w", j+1, r.Key, err)
			}
			row[j] = v
		}
		rows[i] = row
	}
	return rows, nil
}

// resultFormat is the format of result column i under a Bind's result formats.
func resultFormat(formats []int16, i int) int16 {
	switch {
	case len(formats) == 0:
		return 0
	case len(formats) == 1:
		return formats[0]
	case i < len(formats):
		return formats[i]
	}
	return 0
}

// serverCalibration returns the server's distance calibration and the index's vectors when
// vecgate computes the statement's distances as the server does, bit for bit (pgdist, for its
// operator) from the rows' own vectors (originalsSource); nil otherwise.
func (q *Query) serverCalibration() (*pgdist.Calibration, originalsSource) {
	if q.distances == nil || q.Target.Halfvec || q.Target.Sparse {
		return nil, nil
	}
	src, ok := q.Target.Index.(originalsSource)
	if !ok || !src.Originals() {
		return nil, nil
	}
	if cal := q.distances(); cal.Exact(q.Shape.Metric.String()) {
		return cal, src
	}
	return nil, nil
}

// serverDistances replaces the index's distances of the candidates res by the server's own and
// orders them by those, returning the first LIMIT + OFFSET. Rows then tie only when Postgres'
// distances tie, and any order of tied rows is Postgres' answer too. Which rows are candidates
// is still the index's call, on its own float32 distances: unless every row came back
// (seenAll), the last row of the answer must be clearly nearer (nearTieFor) than the farthest
// candidate, which no row left out is nearer than.
func (q *Query) serverDistances(cal *pgdist.Calibration, src originalsSource, res []ann.Result, seenAll bool) ([]ann.Result, error) {
	bound := q.candidateBound(res)
	res, err := q.serverOrder(cal, src, res)
	if err != nil {
		return nil, err
	}
	if len(res) <= q.need {
		return res, nil
	}
	if last := res[q.need-1].Distance; !seenAll && !q.clearlyBefore(last, bound) {
		return nil, fmt.Errorf("planner: distance %g at the LIMIT is too close to the candidates' bound %g to cut from memory", last, bound)
	}
	return res[:q.need], nil
}

// candidateBound is the distance (the index's own, before serverOrder) past which rows were
// left out of res: the largest, or under ORDER BY … DESC (Farthest) the smallest.
func (q *Query) candidateBound(res []ann.Result) float64 {
	bound := math.Inf(-1)
	if q.Shape.Farthest {
		bound = math.Inf(1)
	}
	for _, r := range res {
		if q.Shape.Farthest {
			bound = min(bound, r.Distance)
		} else {
			bound = max(bound, r.Distance)
		}
	}
	return bound
}

// clearlyBefore reports whether a row at distance d comes before every row at bound in the
// statement's order by a margin rounding cannot cross (nearTieFor).
func (q *Query) clearlyBefore(d, bound float64) bool {
	before := d < bound
	if q.Shape.Farthest {
		before = d > bound
	}
	return before && !nearTieFor(q.Shape.Metric, d, bound)
}

// serverOrder replaces the distances of res by the server's own and sorts res by them.
func (q *Query) serverOrder(cal *pgdist.Calibration, src originalsSource, res []ann.Result) ([]ann.Result, error) {
	op := q.Shape.Metric.String()
	into, reuse := src.(interface {
		VectorInto([]float32, ann.Key) ([]float32, bool)
	})
	var x []float32
	for i := range res {
		var ok bool
		if reuse {
			x, ok = into.VectorInto(x, res[i].Key) // one buffer for all: cal.Distance keeps none
		} else {
			x, ok = src.Vector(res[i].Key)
		}
		if !ok || len(x) != len(q.vec) {
			return nil, fmt.Errorf("planner: %s holds no full vector for %s", q.Target.Name, res[i].Key)
		}
		res[i].Distance, _ = cal.Distance(op, q.vec, x)
		if math.IsNaN(res[i].Distance) {
			return nil, fmt.Errorf("planner: distance of %s is NaN", res[i].Key)
		}
	}
	slices.SortStableFunc(res, func(a, b ann.Result) int {
		if q.Shape.Farthest {
			return cmp.Compare(b.Distance, a.Distance)
		}
		return cmp.Compare(a.Distance, b.Distance)
	})
	return res, nil
}

// originalsSource is an index that returns the vectors of the rows as Postgres holds them, when
// Originals says so (live.Index).
type originalsSource interface {
	vectorSource
	Originals() bool
}

// vectorSource is an index that returns the vector it holds under a key (live.Index).
type vectorSource interface {
	Vector(ann.Key) ([]float32, bool)
}

// cosineAgain computes the cosine distance of the query to the row under key again, in float64
// from the query as given and the row's stored vector, for printing. The index's own distance is
// a float32 sum over normalised float32 copies: up to a few 1e-7 from pgvector's similarity,
// more than 1e-6 relative of a distance near MinFastCosine (the differential tester saw 1.1e-6).
// Here the only error left is the stored copy's rounding, a few 1e-8 of the similarity: under 3e-7
// relative of a distance from MinFastCosine up (TestCosineDistancesPrinted). An index that holds
// no vectors (codes only) leaves the answer to Postgres.
func (q *Query) cosineAgain(key ann.Key) (float64, error) {
	src, ok := q.Target.Index.(vectorSource)
	if !ok {
		return 0, fmt.Errorf("planner: %s cannot return its vectors", q.Target.Name)
	}
	x, ok := src.Vector(key)
	if !ok || len(x) != len(q.vec) {
		return 0, fmt.Errorf("planner: %s holds no full vector for %s", q.Target.Name, key)
	}
	return cosineDistance(q.vec, x), nil
}

// cosineDistance is pgvector's cosine distance, 1 - a·b / sqrt(|a|²|b|²) with the similarity
// kept in [-1, 1], computed in float64.
func cosineDistance(a, b []float32) float64 {
	var dot, aa, bb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		aa += x * x
		bb += y * y
	}
	return 1 - max(-1, min(1, dot/math.Sqrt(aa*bb)))
}

// NearTie is the relative gap under which two distances computed in memory may compare otherwise
// in Postgres (the float32 sums' order differs: about 1e-7 relative of L2 and L1, 1e-7 absolute
// of a cosine similarity, so 1e-6 relative of cosine distances from MinFastCosine up). An answer
// from memory with two neighbouring rows this close, equal ones included, goes through Postgres,
// which orders by its own distances (found by the differential tester: a cosine near-tie
// answered in vecgate's order).
const NearTie = 1e-5

// MaxFastDistance bounds the distances the fast path prints itself.
const MaxFastDistance = pgout.MaxFloat

// MinFastCosine is the smallest cosine distance the fast path prints itself. A cosine distance is
// 1 - similarity, and pgvector computes the similarity with float32 sums (so does vecgate, in
// another order): their values differ by about 1e-7 absolute, which is within 1e-6 relative only
// from a distance of 0.1 up (the differential tester saw 1.2e-6 at 0.087 when this was 0.01).
// Answers with a smaller distance go through Postgres, which prints its own;
// vecgate.exact_distances = on sends every distance-projecting query there.
const MinFastCosine = 0.1

// outputSettings are the session-setting conditions under which the held columns outs print as
// pgout prints them (DateStyle, TimeZone, bytea_output), each once.
func outputSettings(outs []Output) []string {
	var conds []string
	for _, o := range outs {
		for _, st := range pgout.SettingsFor(pgout.FamilyOf(o.Type)) {
			setting := "pg_catalog.current_setting(" + sqltext.QuoteLiteral(st.Name) + ")"
			var c string
			if st.Prefix != "" {
				c = "pg_catalog.starts_with(" + setting + ", " + sqltext.QuoteLiteral(st.Prefix) + ")"
			} else {
				vals := make([]string, len(st.Values))
				for i, v := range st.Values {
					vals[i] = sqltext.QuoteLiteral(v)
				}
				c = setting + " OPERATOR(pg_catalog.=) ANY (ARRAY[" + strings.Join(vals, ", ") + "]::pg_catalog.text[])"
			}
			if !slices.Contains(conds, c) {
				conds = append(conds, c)
			}
		}
	}
	return conds
}
