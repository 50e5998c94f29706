package planner

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/sqltext"
)

// Expression indexes. pgvector's HNSW stops at 2,000 dimensions for vector; larger vectors are
// indexed through an expression, `CREATE INDEX … USING hnsw ((emb::halfvec(3072))
// halfvec_cosine_ops)`, and queried with the same expression on the ORDER BY's column:
//
//	ORDER BY emb::halfvec(3072) <=> $1::halfvec(3072) LIMIT k
//
// The distance then names its column through a cast (Shape.Expr), and only the twin of that
// expression index answers it (ExprSearcher), never the column's own twins: Postgres ranks the
// column's values rounded to halves, and so does the twin (live.Index.transform). The query
// vector is read as halves: untyped and ::halfvec it is read by halfvec_in, ::vector by
// vector_in and then cast to halfvec (vector_to_halfvec), the same rounding of the same float4
// (internal/half). Distances are halfvec distances, which vecgate does not print from memory
// (Target.Halfvec): the rewrite has Postgres compute them. A cast without the index's type
// modifier (`emb::halfvec`) is another expression, which pgvector's index does not serve either
// (Postgres scans every row), so it has no twin and is forwarded.

// ColumnExpr is the expression a distance applies to its column: Kind "halfvec" for
// `col::halfvec(Dims)`; the zero value for the column itself.
type ColumnExpr struct {
	Kind string
	Dims int
}

// ExprHalfvec is ColumnExpr.Kind of `col::halfvec(n)` (catalog.ExprHalfvec's name).
const ExprHalfvec = "halfvec"

// ExprSearcher is implemented by a Searcher that holds twins of expression indexes.
type ExprSearcher interface {
	FindExpr(schema, table, column string, expr ColumnExpr, m ann.Metric) (Target, bool)
}

// exprSep separates a column's name from its expression in the column keys distance returns:
// no identifier holds a NUL, so a key with an expression never equals a plain column's.
const exprSep = "\x00"

// exprColumn matches `col::halfvec(n)` (or CAST(col AS halfvec(n))) and returns the column's
// key for distance: the name, exprSep, the expression; cast is the type as written (quoted and
// qualified as written), for the session check that it is pgvector's.
func (sh *Shape) exprColumn(n *pg.Node) (key, cast string, ok bool) {
	tc := n.GetTypeCast()
	if tc == nil || tc.TypeName == nil || tc.TypeName.ArrayBounds != nil || len(tc.TypeName.Typmods) != 1 || tc.TypeName.Setof {
		return "", "", false
	}
	names := tc.TypeName.GetNames()
	if len(names) == 0 || names[len(names)-1].GetString_().GetSval() != ExprHalfvec {
		return "", "", false
	}
	mod, err := intArg(tc.TypeName.Typmods[0])
	if err != nil || mod.IsParam() || mod.Int < 1 {
		return "", "", false
	}
	col, ok := sh.columnName(tc.Arg)
	if !ok {
		return "", "", false
	}
	parts := make([]string, len(names))
	for i, nm := range names {
		parts[i] = sqltext.QuoteIdent(nm.GetString_().GetSval())
	}
	return col + exprSep + ExprHalfvec + exprSep + strconv.FormatInt(mod.Int, 10), strings.Join(parts, "."), true
}

// splitColumnKey splits a column key of distance into the column and its expression.
func splitColumnKey(key string) (string, ColumnExpr) {
	col, rest, ok := strings.Cut(key, exprSep)
	if !ok {
		return key, ColumnExpr{}
	}
	kind, dims, _ := strings.Cut(rest, exprSep)
	n, _ := strconv.Atoi(dims)
	return col, ColumnExpr{Kind: kind, Dims: n}
}

// columnKey is the key distance returns for the ORDER BY's column (and expression).
func (sh *Shape) columnKey() string {
	if sh.Expr.Kind == "" {
		return sh.Column
	}
	return sh.Column + exprSep + sh.Expr.Kind + exprSep + strconv.Itoa(sh.Expr.Dims)
}

// findExpr returns the twin of the expression index sh's distance is on.
func (p *Planner) findExpr(sh *Shape) (Target, bool) {
	es, ok := p.search.(ExprSearcher)
	if !ok {
		return Target{}, false
	}
	return es.FindExpr(sh.Schema, sh.Table, sh.Column, sh.Expr, sh.Metric)
}

// distanceColumnNode returns the left side of the distance in an ORDER BY key that distance or
// similarity matched (nil otherwise).
func (sh *Shape) distanceColumnNode(n *pg.Node) *pg.Node {
	e := n.GetAExpr()
	if e == nil {
		return nil
	}
	if _, _, _, ok := sh.similarity(n); ok {
		e = e.Rexpr.GetAExpr()
	}
	return e.GetLexpr()
}
