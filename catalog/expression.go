package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// IndexExpr names an expression over one vector column that a pgvector index may index instead
// of the column itself, in the forms pgvector's README gives for vectors past HNSW's 2,000
// dimensions.
type IndexExpr string

// The expressions catalog recognises ("" for a plain column index).
const (
	// ExprHalfvec is `(col::halfvec(n))` on a vector column: the column's values rounded to
	// halves, indexed with a halfvec_*_ops class.
	ExprHalfvec IndexExpr = "halfvec"
	// ExprBinaryQuantize is `(binary_quantize(col)::bit(n))` on a vector column: one sign bit
	// per dimension, indexed with bit_hamming_ops or bit_jaccard_ops.
	ExprBinaryQuantize IndexExpr = "binary_quantize"
)

// recognizeExpressions fills Column, Expr and ExprDims of the expression indexes (Index.Expression)
// that index one of the recognised expressions of a vector column of their table. The
// expression is compared as Postgres prints it (pg_get_indexdef: a name is qualified there when
// the reading session would not find it unqualified), its type must be pgvector's halfvec or the
// built-in bit with the length printed, its operator class of that type, and every function it
// calls Postgres' own or the extension vector's. Anything else stays an unrecognised expression
// index (Column ""), which gets no twin.
func recognizeExpressions(ctx context.Context, q Querier, cat *Catalog, byOID map[uint32]*Table, relids []uint32) error {
	rows, err := q.Query(ctx, `
		SELECT i.indrelid, ic.relname, ia.atttypid, ia.atttypmod,
		       (SELECT a.attname FROM pg_attribute a
		        WHERE a.attrelid = i.indrelid AND a.attnum > 0 AND NOT a.attisdropped
		          AND pg_get_indexdef(i.indexrelid, 1, true) IN (
		                format('(%s::halfvec(%s))', quote_ident(a.attname), ia.atttypmod),
		                format('(binary_quantize(%s)::bit(%s))', quote_ident(a.attname), ia.atttypmod))),
		       pg_get_indexdef(i.indexrelid, 1, true) LIKE '(binary\_quantize(%',
		       NOT EXISTS (SELECT FROM pg_depend d
		         WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
		           AND d.refclassid = 'pg_proc'::regclass AND d.refobjid >= 16384
		           AND d.refobjid NOT IN (SELECT e.objid FROM pg_depend e JOIN pg_extension x ON x.oid = e.refobjid
		             WHERE x.extname = 'vector' AND e.refclassid = 'pg_extension'::regclass
		               AND e.classid = 'pg_proc'::regclass AND e.deptype = 'e'))
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam
		JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = 1
		WHERE am.amname IN ('hnsw', 'ivfflat') AND i.indrelid = ANY($1)
		  AND i.indexprs IS NOT NULL AND i.indnatts = 1`, relids)
	if err != nil {
		return fmt.Errorf("catalog: read expression indexes: %w", err)
	}
	var (
		relid, typ  uint32
		name        string
		typmod      int32
		column      *string
		bq, ownFuns bool
	)
	_, err = pgx.ForEachRow(rows, []any{&relid, &name, &typ, &typmod, &column, &bq, &ownFuns}, func() error {
		t := byOID[relid]
		if t == nil || column == nil || !ownFuns || typmod <= 0 {
			return nil
		}
		expr, prefix := ExprHalfvec, "halfvec_"
		if bq {
			expr, prefix = ExprBinaryQuantize, "bit_"
		}
		want := TypeHalfvec
		if bq {
			want = TypeBit
		}
		if h, ok := cat.TypeOIDs[want]; !ok || h != typ {
			return nil
		}
		v, ok := t.Vector(*column)
		if !ok || v.Kind != TypeVector {
			return nil
		}
		for i := range t.Indexes {
			ix := &t.Indexes[i]
			if ix.Name == name && ix.Expression && len(ix.Opclass) > len(prefix) && ix.Opclass[:len(prefix)] == prefix {
				ix.Column, ix.Expr, ix.ExprDims = *column, expr, int(typmod)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: read expression indexes: %w", err)
	}
	return nil
}
