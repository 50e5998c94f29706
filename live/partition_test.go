package live_test

import (
	"context"
	"slices"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// TestParentSearch: a partitioned table is searched through its leaves' twins, merged by
// distance (nearest or farthest first); a leaf without a twin, or keyed otherwise, leaves the
// parent unsearchable; a search after the leaves changed fails (the statement was planned with
// other leaves).
func TestParentSearch(t *testing.T) {
	s := live.New(nil)
	cm, _ := catalog.MetricForOperator("<->")
	leaf := func(name string, oid uint32, keyType string) replication.TargetInfo {
		return replication.TargetInfo{
			Target: replication.Target{Schema: "public", Table: name, Column: "emb"}, OID: oid, Kind: catalog.TypeVector, Dims: 3,
			Key:     []catalog.Column{{Name: "id", Type: keyType}},
			Indexes: []catalog.Index{{Name: name + "_emb", Column: "emb", Method: "hnsw", Metric: cm, M: 16, EfConstruction: 64, Valid: true}},
		}
	}
	if err := s.Reset([]replication.TargetInfo{leaf("p1", 101, "bigint"), leaf("p2", 102, "bigint"), leaf("p3", 103, "integer")}); err != nil {
		t.Fatal(err)
	}
	// p1 holds the odd rows, p2 the even ones: row i at distance i from the origin.
	for i := int64(1); i <= 20; i++ {
		tb := "p1"
		if i%2 == 0 {
			tb = "p2"
		}
		if err := s.Upsert(replication.Target{Schema: "public", Table: tb, Column: "emb"}, row(i, float32(i), 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	parent := func(leaves ...catalog.Leaf) catalog.Table {
		return catalog.Table{OID: 100, Schema: "public", Name: "p", Partitioned: true,
			Key: []catalog.Column{{Name: "id", Type: "bigint"}}, Leaves: leaves}
	}
	l1, l2, l3 := catalog.Leaf{OID: 101, Schema: "public", Name: "p1"}, catalog.Leaf{OID: 102, Schema: "public", Name: "p2"},
		catalog.Leaf{OID: 103, Schema: "public", Name: "p3"}
	s.SetParents([]catalog.Table{parent(l2, l1)})
	p, _, err := s.LookupParent("", "p", "emb", ann.L2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Leaves, []uint32{101, 102}) || p.Len() != 20 || p.Key != "id" || p.KeyType != "bigint" {
		t.Fatalf("parent: leaves %v, %d rows, key %s %s", p.Leaves, p.Len(), p.Key, p.KeyType)
	}
	for _, c := range []struct {
		farthest bool
		want     []int64
	}{{false, []int64{1, 2, 3, 4, 5}}, {true, []int64{20, 19, 18, 17, 16}}} {
		res, err := p.Search(context.Background(), []float32{0, 0, 0}, 5, ann.SearchOptions{Farthest: c.farthest, EF: 100})
		if err != nil {
			t.Fatal(err)
		}
		if got := intKeys(res); !slices.Equal(got, c.want) {
			t.Errorf("farthest=%v: %v, want %v", c.farthest, got, c.want)
		}
	}
	// A leaf keyed otherwise (integer, not bigint), a leaf without a twin.
	s.SetParents([]catalog.Table{parent(l1, l3)})
	if _, _, err := s.LookupParent("public", "p", "emb", ann.L2); err == nil {
		t.Error("a leaf keyed otherwise: the parent was searchable")
	}
	s.SetParents([]catalog.Table{parent(l1, catalog.Leaf{OID: 104, Schema: "public", Name: "p4"})})
	if _, _, err := s.LookupParent("public", "p", "emb", ann.L2); err == nil {
		t.Error("a leaf without a twin: the parent was searchable")
	}
	if _, err := p.Search(context.Background(), []float32{0, 0, 0}, 5, ann.SearchOptions{}); err == nil {
		t.Error("a search after the leaves changed succeeded")
	}
	if _, _, err := s.LookupParent("public", "p1", "emb", ann.L2); !live.IsNotParent(err) {
		t.Errorf("an ordinary table: %v, want not a parent", err)
	}
}
