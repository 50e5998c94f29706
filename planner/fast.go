package planner

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/sqltext"
)

// Fast path: a statement whose select list is nothing but the table's key and the ORDER BY
// distance, with no WHERE and no other sort key, needs nothing Postgres holds beyond what the
// live index has. vecgate can then answer it from memory, without a round trip, once the proxy
// has checked (through Postgres, per session: TableCheck) that the session's role may read those
// columns and that no row-level security applies.

// ColumnKind says what an output column of a fast answer holds.
type ColumnKind int

const (
	// KeyColumn is the table's key (in Target.KeyType).
	KeyColumn ColumnKind = iota
	// DistanceColumn is the distance, float8.
	DistanceColumn
)

// Fast reports whether q can be answered from memory, and the kinds of its output columns.
func (q *Query) Fast() ([]ColumnKind, bool) {
	sh := q.Shape
	if !q.Target.Exact || !sh.Plain || sh.HasWhere || sh.Star || len(sh.stmt.SortClause) != 1 {
		return nil, false
	}
	kinds := make([]ColumnKind, len(sh.stmt.TargetList))
	for i, t := range sh.stmt.TargetList {
		if containsInt(sh.DistanceOutputs, i) {
			kinds[i] = DistanceColumn
			continue
		}
		rt := t.GetResTarget()
		if rt == nil {
			return nil, false
		}
		name, ok := sh.columnName(rt.Val)
		if !ok || name != q.Target.Key {
			return nil, false
		}
		kinds[i] = KeyColumn
	}
	return kinds, len(kinds) > 0
}

// FastKey identifies the shape of a fast answer's RowDescription: the table and, per output
// column, its name and kind. Statements with the same key (differing only in the query vector
// or LIMIT) are described alike, so a description Postgres gave for one serves the others.
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
func (q *Query) TableCheck() string {
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
	if q.Shape.vectorCast != "" {
		typeCheck = fmt.Sprintf(`
    AND pg_catalog.to_regtype(%s) OPERATOR(pg_catalog.=) ANY (x.types)`, sqltext.QuoteLiteral(q.Shape.vectorCast))
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
	// x: the operators, types and functions of the extension vector; ops: whether every operator named as
	// the statement's on the search_path (not the temporary schema, never searched for
	// operators) is one of them or built in, and one is.
	return fmt.Sprintf(`SELECT coalesce(pg_catalog.bool_and(whole), false), coalesce(pg_catalog.bool_and(whole AND readable), false) FROM (
  SELECT c.oid OPERATOR(pg_catalog.=) '%d'::pg_catalog.oid
    AND db.oid OPERATOR(pg_catalog.=) '%d'::pg_catalog.oid
    AND c.relnamespace OPERATOR(pg_catalog.=) pg_catalog.to_regnamespace(%s)
    AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) c.oid)
    AND ops.ok%s%s AS whole,
    NOT c.relrowsecurity AND pg_catalog.has_column_privilege(c.oid, %s, 'SELECT') AND pg_catalog.has_column_privilege(c.oid, %s, 'SELECT')
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
		q.Target.RelOID, q.Target.DatabaseOID, sqltext.QuoteLiteral(schema), typeCheck, funcCheck,
		sqltext.QuoteLiteral(q.Target.Key), sqltext.QuoteLiteral(q.Shape.Column), sqltext.QuoteLiteral(q.Shape.Metric.String()), sqltext.QuoteLiteral(rel))
}

// Answer searches the live index and returns the rows of the fast answer: per row, the text form
// of each output column (Fast's kinds), as Postgres would print it.
func (q *Query) Answer(ctx context.Context, kinds []ColumnKind) ([][]string, error) {
	// Every candidate is a row of the answer (no WHERE, exact distances): the search needs no
	// more than LIMIT + OFFSET of them, and the graph search's ef (or IVF's probes), not k, sets
	// its recall.
	// One more than that shows whether the last row's place is contested (nearTie).
	res, seenAll, err := q.search(ctx, q.need+1)
	if err != nil {
		return nil, err
	}
	if len(res) < q.need && !(seenAll && q.Target.Index.Complete()) {
		// Fewer rows than asked, and not proven to be every row: Postgres may return more.
		return nil, fmt.Errorf("planner: the index returned %d of %d rows", len(res), q.need)
	}
	for i := 1; i < len(res); i++ {
		if a, b := res[i-1].Distance, res[i].Distance; nearTie(a, b) {
			// vecgate's float32 sums run in another order than pgvector's: rows this close may
			// come in the other order (or the other one of two may make the cut) in Postgres.
			return nil, fmt.Errorf("planner: distances %g and %g are too close to order from memory", a, b)
		}
	}
	off := q.need - q.Want
	if off >= len(res) {
		return nil, nil
	}
	res = res[off:min(len(res), q.need)]
	prints := slices.Contains(kinds, DistanceColumn)
	rows := make([][]string, len(res))
	for i, r := range res {
		if math.Abs(r.Distance) >= MaxFastDistance {
			return nil, fmt.Errorf("planner: distance %g is past what the fast path prints exactly", r.Distance)
		}
		if prints && q.Shape.Metric == ann.Cosine {
			d, err := q.cosineAgain(r.Key)
			if err != nil {
				return nil, err
			}
			if d < MinFastCosine {
				return nil, fmt.Errorf("planner: cosine distance %g is below what the fast path prints within 1e-6", d)
			}
			r.Distance = d
		}
		row := make([]string, len(kinds))
		for j, k := range kinds {
			if k == KeyColumn {
				row[j] = r.Key.String()
			} else {
				row[j] = FormatFloat8(r.Distance)
			}
		}
		rows[i] = row
	}
	return rows, nil
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
const MaxFastDistance = 1e15

// MinFastCosine is the smallest cosine distance the fast path prints itself. A cosine distance is
// 1 - similarity, and pgvector computes the similarity with float32 sums (so does vecgate, in
// another order): their values differ by about 1e-7 absolute, which is within 1e-6 relative only
// from a distance of 0.1 up (the differential tester saw 1.2e-6 at 0.087 when this was 0.01).
// Answers with a smaller distance go through Postgres, which prints its own;
// vecgate.exact_distances = on sends every distance-projecting query there.
const MinFastCosine = 0.1

// FormatFloat8 prints v as Postgres' float8 output does with the default extra_float_digits (1):
// the shortest text that reads back as v, in fixed notation when the decimal exponent is in
// [-4, 15) and in exponential notation (at least two exponent digits) otherwise. It is verified
// against Postgres for |v| < MaxFastDistance; Postgres prints some larger integral values with
// more digits, so the fast path leaves such distances to Postgres.
func FormatFloat8(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	case v == 0:
		if math.Signbit(v) {
			return "-0"
		}
		return "0"
	}
	e := strconv.FormatFloat(v, 'e', -1, 64)
	i := strings.LastIndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	if exp >= -4 && exp < 15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return e
}
