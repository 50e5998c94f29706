package catalog_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestDiscoverExpressionIndexes: the expression indexes of pgvector's README for vectors past
// 2,000 dimensions are recognised on their column; other expressions are not.
func TestDiscoverExpressionIndexes(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	_, err := c.Exec(ctx, `
		CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3072), "Odd Name" vector(3), h halfvec(3));
		CREATE INDEX e_half ON items USING hnsw ((embedding::halfvec(3072)) halfvec_cosine_ops);
		CREATE INDEX e_half_l2 ON items USING ivfflat (CAST("Odd Name" AS halfvec(3)) halfvec_l2_ops) WITH (lists = 3);
		CREATE INDEX e_bq ON items USING hnsw ((binary_quantize(embedding)::bit(3072)) bit_hamming_ops);
		CREATE INDEX e_bq_j ON items USING hnsw ((binary_quantize("Odd Name")::bit(3)) bit_jaccard_ops);
		CREATE INDEX e_subvector ON items USING hnsw ((subvector(embedding, 1, 3)::vector(3)) vector_l2_ops);
		CREATE INDEX e_half_of_half ON items USING hnsw ((h::halfvec(3)) halfvec_l2_ops);
		CREATE FUNCTION my_half(vector) RETURNS halfvec IMMUTABLE LANGUAGE sql SET search_path = public AS 'SELECT $1::halfvec';
		CREATE INDEX e_user_fn ON items USING hnsw ((my_half("Odd Name")::halfvec(3)) halfvec_l2_ops);
	`)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Discover(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	items := cat.Table("public", "items")
	if items == nil {
		t.Fatal("items not found")
	}
	type rec struct {
		column string
		expr   catalog.IndexExpr
		dims   int
		metric catalog.Metric
	}
	want := map[string]rec{
		"e_half":         {"embedding", catalog.ExprHalfvec, 3072, catalog.MetricCosine},
		"e_half_l2":      {"Odd Name", catalog.ExprHalfvec, 3, catalog.MetricL2},
		"e_bq":           {"embedding", catalog.ExprBinaryQuantize, 3072, catalog.MetricHamming},
		"e_bq_j":         {"Odd Name", catalog.ExprBinaryQuantize, 3, catalog.MetricJaccard},
		"e_subvector":    {"", "", 0, catalog.MetricL2},
		"e_half_of_half": {"h", "", 0, catalog.MetricL2}, // a no-op cast: Postgres stores a column index
		"e_user_fn":      {"", "", 0, catalog.MetricL2},
	}
	got := map[string]rec{}
	for _, ix := range items.Indexes {
		got[ix.Name] = rec{ix.Column, ix.Expr, ix.ExprDims, ix.Metric}
		if !ix.Expression && ix.Name != "e_half_of_half" {
			t.Errorf("%s: not an expression index", ix.Name)
		}
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s: got %+v (found %v), want %+v", name, g, ok, w)
		}
	}
}
