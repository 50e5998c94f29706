package live_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// TestHalfvecExpressionTwin: the twin of an index on `(emb::halfvec(3))` holds the column's values
// rounded to halves, is found by its expression only (the column's own twin answers for the
// column), and keeps its expression through a snapshot.
func TestHalfvecExpressionTwin(t *testing.T) {
	ti := info()
	ti.Indexes = append(ti.Indexes, catalog.Index{Name: "items_half", Column: "emb", Method: "hnsw", Opclass: "halfvec_l2_ops",
		Metric: catalog.MetricL2, M: 16, EfConstruction: 64, Valid: true, Expression: true, Expr: catalog.ExprHalfvec, ExprDims: 3})
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	// 1.0001 is 1 as a half: the twin of the expression holds 1, the column's twin 1.0001.
	load(t, s, 2, func(i int64) replication.Row { return row(i, 1.0001*float32(i), 0, 0) })
	check := func(s *live.Set) {
		t.Helper()
		col, ok := s.Lookup("public", "items", "emb", ann.L2)
		if !ok || col.Expr() != "" || col.Halfvec() {
			t.Fatalf("column twin: %v %+v", ok, col)
		}
		ex, ok := s.LookupExpr("", "items", "emb", "halfvec", 3, ann.L2)
		if !ok || !ex.Halfvec() || ex.Kind() != "hnsw on halfvec(3)" || ex.Originals() {
			t.Fatalf("expression twin: %v kind %q", ok, ex.Kind())
		}
		if _, ok := s.LookupExpr("", "items", "emb", "halfvec", 4, ann.L2); ok {
			t.Fatal("a twin for halfvec(4)")
		}
		if _, ok := s.LookupExpr("", "items", "emb", "halfvec", 3, ann.Cosine); ok {
			t.Fatal("a twin for another metric")
		}
		for _, c := range []struct {
			ix   *live.Index
			want float32
		}{{col, 1.0001}, {ex, 1}} {
			res, err := c.ix.Search(context.Background(), []float32{0, 0, 0}, 1, ann.SearchOptions{})
			if err != nil || len(res) != 1 {
				t.Fatalf("%s: %v %v", c.ix.Source, res, err)
			}
			if v, ok := c.ix.Vector(res[0].Key); !ok || v[0] != c.want {
				t.Errorf("%s holds %v, want %v", c.ix.Source, v, c.want)
			}
		}
	}
	check(s)
	r := live.New(nil)
	snapshotInto(t, s, r)
	check(r)
}
