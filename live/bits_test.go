package live_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// TestHammingTwins: a bit column's bit_hamming_ops index and a vector column's
// (binary_quantize(col)::bit(n)) index get twins that rank by Hamming distance and hand out
// Hamming distances (integers), also after a snapshot.
func TestHammingTwins(t *testing.T) {
	bitTarget := replication.Target{Schema: "public", Table: "codes", Column: "b"}
	bits := replication.TargetInfo{Target: bitTarget, OID: 16385, Kind: catalog.TypeBit, Dims: 8,
		Key: []catalog.Column{{Name: "id", Type: "bigint"}},
		Indexes: []catalog.Index{
			{Name: "codes_b", Column: "b", Method: "hnsw", Opclass: "bit_hamming_ops", Metric: catalog.MetricHamming, M: 16, EfConstruction: 64, Valid: true},
			{Name: "codes_j", Column: "b", Method: "hnsw", Opclass: "bit_jaccard_ops", Metric: catalog.MetricJaccard, M: 16, EfConstruction: 64, Valid: true},
		}}
	vec := info()
	vec.Indexes = append(vec.Indexes, catalog.Index{Name: "items_bq", Column: "emb", Method: "hnsw", Opclass: "bit_hamming_ops",
		Metric: catalog.MetricHamming, M: 16, EfConstruction: 64, Valid: true, Expression: true, Expr: catalog.ExprBinaryQuantize, ExprDims: 3})
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{bits, vec}); err != nil {
		t.Fatal(err)
	}
	for i, code := range []byte{0b0000_0000, 0b0000_0001, 0b0000_0011, 0b1111_0000, 0b1111_1111} {
		r := replication.Row{Key: key(int64(i + 1)), Vector: replication.Vector{Kind: catalog.TypeBit, Dim: 8, Bits: []byte{code}}}
		if err := s.Upsert(bitTarget, r); err != nil {
			t.Fatal(err)
		}
	}
	// Signs: row 1 (+,+,+), row 2 (+,-,-), row 3 (-,-,0).
	for i, v := range [][]float32{{1, 2, 3}, {0.5, -1, -2}, {-1, -1, 0}} {
		if err := s.Upsert(target, row(int64(i+1), v...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	check := func(s *live.Set) {
		t.Helper()
		ix, ok := s.Lookup("public", "codes", "b", ann.Hamming)
		if !ok || len(s.Indexes()) != 3 { // no Jaccard twin
			t.Fatalf("bit twin %v, %d twins", ok, len(s.Indexes()))
		}
		res, err := ix.Search(context.Background(), []float32{0, 0, 0, 0, 0, 0, 1, 1}, 5, ann.SearchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			key  int64
			dist float64
		}{{3, 0}, {2, 1}, {1, 2}, {5, 6}, {4, 6}}
		for i, r := range res {
			if r.Distance != want[i].dist || i < 3 && r.Key != ann.IntKey(want[i].key) {
				t.Errorf("bit twin result %d: %v at %v, want %d at %v", i, r.Key, r.Distance, want[i].key, want[i].dist)
			}
		}
		res, err = ix.SearchKeys(context.Background(), []float32{0, 0, 0, 0, 0, 0, 1, 1}, 2, []ann.Key{ann.IntKey(2), ann.IntKey(5)})
		if err != nil || len(res) != 2 || res[0].Distance != 1 || res[1].Distance != 6 {
			t.Errorf("bit twin, key list: %v %v", res, err)
		}
		bq, ok := s.LookupExpr("public", "items", "emb", "binary_quantize", 3, ann.Hamming)
		if !ok || bq.Halfvec() || bq.Kind() != "hnsw on binary_quantize(3)" {
			t.Fatalf("binary_quantize twin: %v %q", ok, bq.Kind())
		}
		if _, ok := s.Lookup("public", "items", "emb", ann.Hamming); ok {
			t.Fatal("the expression's twin found for the column")
		}
		res, err = bq.Search(context.Background(), []float32{3, -2, -0.5}, 3, ann.SearchOptions{}) // bits 100
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 3 || res[0].Key != ann.IntKey(2) || res[0].Distance != 0 || res[1].Key != ann.IntKey(3) || res[1].Distance != 1 || res[2].Distance != 2 {
			t.Errorf("binary_quantize twin: %v", res)
		}
	}
	check(s)
	r := live.New(nil)
	snapshotInto(t, s, r)
	check(r)
}
