package catalog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/pgtest"
)

func TestMetric(t *testing.T) {
	cases := []struct {
		opclass string
		want    catalog.Metric
		op      string
	}{
		{"vector_l2_ops", catalog.MetricL2, "<->"},
		{"vector_ip_ops", catalog.MetricInnerProduct, "<#>"},
		{"vector_cosine_ops", catalog.MetricCosine, "<=>"},
		{"vector_l1_ops", catalog.MetricL1, "<+>"},
		{"halfvec_l2_ops", catalog.MetricL2, "<->"},
		{"halfvec_cosine_ops", catalog.MetricCosine, "<=>"},
		{"sparsevec_ip_ops", catalog.MetricInnerProduct, "<#>"},
		{"bit_hamming_ops", catalog.MetricHamming, "<~>"},
		{"bit_jaccard_ops", catalog.MetricJaccard, "<%>"},
	}
	for _, c := range cases {
		m, ok := catalog.MetricForOpclass(c.opclass)
		if !ok || m != c.want || m.Operator() != c.op {
			t.Errorf("%s: got %v %q ok=%v, want %v %q", c.opclass, m, m.Operator(), ok, c.want, c.op)
		}
		back, ok := catalog.MetricForOperator(c.op)
		if !ok || back != c.want {
			t.Errorf("operator %s: got %v", c.op, back)
		}
	}
	for _, bad := range []string{"", "int4_ops", "vector_hamming_ops", "bit_l2_ops", "vector_l2"} {
		if _, ok := catalog.MetricForOpclass(bad); ok {
			t.Errorf("%q: want unknown", bad)
		}
	}
}

func TestDiscover(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	_, err := c.Exec(ctx, `
		CREATE SCHEMA s;
		CREATE TABLE items (id bigint PRIMARY KEY, title text, embedding vector(3), h halfvec(4), b bit(8), sp sparsevec(10));
		CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 8);
		CREATE INDEX items_ivf ON items USING ivfflat (h halfvec_l2_ops) WITH (lists = 7);
		CREATE INDEX items_bit ON items USING hnsw (b bit_hamming_ops);
		CREATE INDEX items_ip ON items USING hnsw (embedding vector_ip_ops) WITH (ef_construction = '0x64'); -- stored as written: read as Postgres reads it
		CREATE TABLE s.multi (a int, b text, v vector, PRIMARY KEY (b, a));
		CREATE TABLE nopk (v vector(2));
		CREATE TABLE ident (u int NOT NULL, v vector(2));
		CREATE UNIQUE INDEX ident_u ON ident (u);
		ALTER TABLE ident REPLICA IDENTITY USING INDEX ident_u;
		CREATE TABLE nothing (id int PRIMARY KEY, v vector(2));
		ALTER TABLE nothing REPLICA IDENTITY NOTHING;
		CREATE TABLE arr (id int PRIMARY KEY, vs vector(2)[]);
		CREATE TABLE plain (id int PRIMARY KEY, x text);
	`)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Discover(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []catalog.VectorType{catalog.TypeVector, catalog.TypeHalfvec, catalog.TypeBit, catalog.TypeSparsevec} {
		if cat.TypeOIDs[k] == 0 {
			t.Errorf("type %v not found", k)
		}
	}
	if got := len(cat.Tables); got != 6 {
		t.Fatalf("tables: got %d, want 6: %+v", got, cat.Tables)
	}
	if cat.Table("public", "plain") != nil {
		t.Error("table without vectors listed")
	}
	items := cat.Table("public", "items")
	if items == nil || items.Skip != "" {
		t.Fatalf("items: %+v", items)
	}
	if len(items.Key) != 1 || items.Key[0].Name != "id" || items.KeySource != "primary key" {
		t.Errorf("items key: %+v %q", items.Key, items.KeySource)
	}
	wantDims := map[string]struct {
		kind catalog.VectorType
		dims int
	}{"embedding": {catalog.TypeVector, 3}, "h": {catalog.TypeHalfvec, 4}, "b": {catalog.TypeBit, 8}, "sp": {catalog.TypeSparsevec, 10}}
	if len(items.Vectors) != 4 {
		t.Fatalf("items vectors: %+v", items.Vectors)
	}
	for _, v := range items.Vectors {
		w := wantDims[v.Name]
		if v.Kind != w.kind || v.Dims != w.dims || v.Skip != "" {
			t.Errorf("column %s: got %v(%d) skip %q, want %v(%d)", v.Name, v.Kind, v.Dims, v.Skip, w.kind, w.dims)
		}
	}
	wantIdx := map[string]catalog.Index{
		"items_hnsw": {Name: "items_hnsw", Column: "embedding", Method: "hnsw", Opclass: "vector_cosine_ops", Metric: catalog.MetricCosine, M: 8, EfConstruction: 64, Valid: true},
		"items_ivf":  {Name: "items_ivf", Column: "h", Method: "ivfflat", Opclass: "halfvec_l2_ops", Metric: catalog.MetricL2, Lists: 7, Valid: true},
		"items_bit":  {Name: "items_bit", Column: "b", Method: "hnsw", Opclass: "bit_hamming_ops", Metric: catalog.MetricHamming, M: 16, EfConstruction: 64, Valid: true},
		"items_ip":   {Name: "items_ip", Column: "embedding", Method: "hnsw", Opclass: "vector_ip_ops", Metric: catalog.MetricInnerProduct, M: 16, EfConstruction: 100, Valid: true},
	}
	if len(items.Indexes) != len(wantIdx) {
		t.Errorf("indexes: %+v", items.Indexes)
	}
	for _, ix := range items.Indexes {
		if ix != wantIdx[ix.Name] {
			t.Errorf("index %s: got %+v, want %+v", ix.Name, ix, wantIdx[ix.Name])
		}
	}
	multi := cat.Table("s", "multi")
	if multi == nil || multi.Skip != "" || len(multi.Key) != 2 || multi.Key[0].Name != "b" || multi.Key[1].Name != "a" {
		t.Errorf("multi: %+v", multi)
	} else if multi.Vectors[0].Dims != 0 || multi.Ident() != `"s"."multi"` {
		t.Errorf("multi: dims %d ident %s", multi.Vectors[0].Dims, multi.Ident())
	}
	ident := cat.Table("public", "ident")
	if ident == nil || ident.Skip != "" || len(ident.Key) != 1 || ident.Key[0].Name != "u" || ident.KeySource != "replica identity index ident_u" {
		t.Errorf("ident: %+v", ident)
	}
	for _, name := range []string{"nopk", "nothing", "arr"} {
		tb := cat.Table("public", name)
		if tb == nil || tb.Skip == "" {
			t.Errorf("%s: want skipped, got %+v", name, tb)
		} else {
			t.Logf("%s skipped: %s", name, tb.Skip)
		}
	}
}

// TestDiscoverPartitions: a partitioned table is skipped (a publication cannot hold it) but
// listed with its key and its leaves at every level of sub-partitioning, in OID order; the
// leaves are tables of their own with the key and the index created on the parent.
func TestDiscoverPartitions(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	_, err := c.Exec(ctx, `
		CREATE TABLE p (a int, b bigint, v vector(2), PRIMARY KEY (a, b)) PARTITION BY LIST (a);
		CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1);
		CREATE TABLE p2 PARTITION OF p FOR VALUES IN (2) PARTITION BY RANGE (b);
		CREATE TABLE p2x PARTITION OF p2 FOR VALUES FROM (0) TO (10);
		CREATE TABLE p2y PARTITION OF p2 FOR VALUES FROM (10) TO (20);
		CREATE TABLE pd PARTITION OF p DEFAULT;
		CREATE TABLE empty (a int PRIMARY KEY, v vector(2)) PARTITION BY RANGE (a);
		CREATE INDEX ON p USING hnsw (v vector_l2_ops);`)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Discover(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	p := cat.Table("public", "p")
	if p == nil || !p.Partitioned || p.Skip == "" || len(p.Key) != 2 || p.Key[0].Name != "a" || p.Key[1].Name != "b" {
		t.Fatalf("p: %+v", p)
	}
	var names []string
	for i, l := range p.Leaves {
		names = append(names, l.Name)
		if i > 0 && l.OID <= p.Leaves[i-1].OID {
			t.Errorf("leaves not in OID order: %+v", p.Leaves)
		}
		leaf := cat.Table(l.Schema, l.Name)
		if leaf == nil || leaf.OID != l.OID || leaf.Skip != "" || len(leaf.Key) != 2 || len(leaf.Indexes) != 1 {
			t.Errorf("leaf %s: %+v", l.Name, leaf)
		}
	}
	if got := strings.Join(names, ","); got != "p1,p2x,p2y,pd" {
		t.Errorf("p's leaves: %s, want p1,p2x,p2y,pd", got)
	}
	if p2 := cat.Table("public", "p2"); p2 == nil || !p2.Partitioned || len(p2.Leaves) != 2 {
		t.Errorf("p2 (a partition that is partitioned): %+v", p2)
	}
	if e := cat.Table("public", "empty"); e == nil || !e.Partitioned || len(e.Leaves) != 0 {
		t.Errorf("empty: %+v", e)
	}
}
