package live

import (
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/replication"
)

// Twins of expression indexes (catalog.Index.Expr). An index on `(col::halfvec(n))` of a vector
// column ranks the column's values rounded to halves: its twin takes the column's rows and rounds
// them (Index.transform), so it lives in the column's entry beside the column's own twins, and
// the query path finds it by the expression (LookupExpr), never for the plain column. An index
// on `(binary_quantize(col)::bit(n))` likewise holds the column's sign bits (a Hamming twin,
// bits.go).

// expressionTwin reports whether the expression index ci on t gets a twin: a recognised
// `col::halfvec(n)` or `binary_quantize(col)::bit(n)` of a vector column of n dimensions.
func expressionTwin(t replication.TargetInfo, ci catalog.Index) bool {
	return (ci.Expr == catalog.ExprHalfvec || ci.Expr == catalog.ExprBinaryQuantize) && t.Kind == catalog.TypeVector && ci.ExprDims == t.Dims
}

// LookupExpr returns the twin of the expression index expr (a catalog.IndexExpr's name) of dims
// dimensions on schema.table.column for metric m ("" schema: public, as Lookup).
func (s *Set) LookupExpr(schema, table, column, expr string, dims int, m ann.Metric) (*Index, bool) {
	if expr == "" {
		return nil, false
	}
	return s.find(schema, table, column, func(ix *Index) bool {
		return ix.Metric == m && string(ix.expr) == expr && ix.dims == dims
	})
}
