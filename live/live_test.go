package live_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

var target = replication.Target{Schema: "public", Table: "items", Column: "emb"}

func info(defs ...string) replication.TargetInfo {
	cm, _ := catalog.MetricForOperator("<->")
	return replication.TargetInfo{
		Target: target, OID: 16384, Kind: catalog.TypeVector, Dims: 3,
		Key:     []catalog.Column{{Name: "id", Type: "bigint"}},
		Indexes: []catalog.Index{{Name: "items_emb", Column: "emb", Method: "hnsw", Metric: cm, M: 16, EfConstruction: 64, Valid: true}},
	}
}

func key(n int64) replication.Key {
	return replication.Key(binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func row(n int64, v ...float32) replication.Row {
	return replication.Row{Key: key(n), Vector: replication.Vector{Kind: catalog.TypeVector, Dim: len(v), Values: v}}
}

// load upserts rowOf(1) … rowOf(n) into s and commits them at LSN 1 (an initial load).
func load(t *testing.T, s *live.Set, n int64, rowOf func(i int64) replication.Row) {
	t.Helper()
	for i := int64(1); i <= n; i++ {
		if err := s.Upsert(target, rowOf(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
}

// snapshotInto writes s's snapshot and reads it into r.
func snapshotInto(t *testing.T, s, r *live.Set) {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if err := r.ReadSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
}

func ids(t *testing.T, s *live.Set, k int) []int64 {
	t.Helper()
	res, err := s.Search(context.Background(), "public", "items", "emb", ann.L2, []float32{0, 0, 0}, k)
	if errors.Is(err, ann.ErrEmpty) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return intKeys(res)
}

// TestApply drives the Set as replication does: inserts, an update, a key change, a NULL vector,
// deletes and a truncate, checking the index after each.
func TestApply(t *testing.T) {
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{info()}); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 5; i++ {
		if err := s.Upsert(target, row(i, float32(i), 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// The initial load is inserted as a batch when it commits.
	if got := ids(t, s, 10); len(got) != 0 {
		t.Fatalf("before the load committed: %v", got)
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, 10); len(got) != 5 || got[0] != 1 {
		t.Fatalf("after inserts: %v", got)
	}
	if err := s.Upsert(target, row(5, 0.5, 0, 0)); err != nil { // update moves 5 to the front
		t.Fatal(err)
	}
	r := row(6, 0.1, 0, 0) // key change 4 → 6 with a new vector
	r.OldKey = key(4)
	if err := s.Upsert(target, r); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, 10); len(got) != 5 || got[0] != 6 || got[1] != 5 {
		t.Fatalf("after update and key change: %v", got)
	}
	if err := s.Upsert(target, replication.Row{Key: key(3)}); err != nil { // NULL vector leaves
		t.Fatal(err)
	}
	if err := s.Delete(target, key(1)); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, 10); len(got) != 3 {
		t.Fatalf("after NULL and delete: %v", got)
	}
	keep := replication.Row{Key: key(2), KeepVector: true}
	if err := s.Upsert(target, keep); err != nil {
		t.Fatal(err)
	}
	changed := replication.Row{Key: key(7), OldKey: key(2), KeepVector: true}
	if err := s.Upsert(target, changed); err != nil {
		t.Fatalf("key change with an unchanged vector: %v", err)
	}
	if got := ids(t, s, 10); len(got) != 3 || !contains(got, 7) || contains(got, 2) {
		t.Fatalf("after a key change with the vector kept: %v", got)
	}
	missing := replication.Row{Key: key(8), OldKey: key(99), KeepVector: true}
	if err := s.Upsert(target, missing); !errors.Is(err, replication.ErrRejected) {
		t.Fatalf("key change of a row the index does not hold: %v", err)
	}
	if err := s.Truncate(target); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, 10); len(got) != 0 {
		t.Fatalf("after truncate: %v", got)
	}
	if err := s.Upsert(target, row(9, 1, 2)); !errors.Is(err, replication.ErrRejected) {
		t.Fatalf("wrong dimension: %v", err)
	}
}

// TestQuantisedDefinition: an sq8 index defined through vecgate takes its first rows at Commit
// (training on them), then finds rows and deletes them like any other.
func TestQuantisedDefinition(t *testing.T) {
	s := live.New(nil)
	s.SetDefinitions([]indexdef.Spec{{Schema: "public", Name: "items_sq8", Table: "items", Column: "emb",
		Method: "hnsw", Metric: ann.L2, Quantizer: "sq8", Mode: "offload"}})
	ti := info()
	ti.Indexes = nil
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 300; i++ {
		if err := s.Upsert(target, row(i, float32(i%17), float32(i%5), float32(i%3))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(target, key(17*5*3)); err != nil { // a pending row: removed before training
		t.Fatal(err)
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	ix := s.Indexes()
	if len(ix) != 1 || ix[0].Exact || ix[0].Len() != 299 {
		t.Fatalf("quantised index: %d indexes, %+v", len(ix), ix)
	}
	if err := s.Delete(target, key(1)); err != nil {
		t.Fatal(err)
	}
	if ix[0].Len() != 298 {
		t.Fatalf("after delete: %d rows", ix[0].Len())
	}
}

func contains(xs []int64, x int64) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestHighDimTwinSearchesCodes: a twin of a pgvector index on 600-d vectors searches SQ8 codes
// and reranks with the float32 vectors: exact distances (each row's own vector at 0), every row
// found, deletes honoured.
// hashVec returns row i's vector of dims components in [0, 1), from a xorshift seeded by i.
func hashVec(i int64, dims int) []float32 {
	v := make([]float32, dims)
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	for d := range v {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		v[d] = float32(x%1000) / 1000
	}
	return v
}

func TestHighDimTwinSearchesCodes(t *testing.T) {
	const dims = 600
	ti := info()
	ti.Dims = dims
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	vec := func(i int64) []float32 { return hashVec(i, dims) }
	load(t, s, 400, func(i int64) replication.Row { return row(i, vec(i)...) })
	if err := s.Delete(target, key(7)); err != nil {
		t.Fatal(err)
	}
	ix := s.Indexes()
	if len(ix) != 1 || !ix[0].Exact || ix[0].Len() != 399 {
		t.Fatalf("twin: %+v", ix)
	}
	for _, i := range []int64{1, 50, 123, 399} {
		res, err := s.Search(context.Background(), "public", "items", "emb", ann.L2, vec(i), 3)
		if err != nil || len(res) != 3 || res[0].Key.Int() != i || res[0].Distance != 0 {
			t.Fatalf("row %d: %v %v", i, res, err)
		}
	}
	res, err := s.Search(context.Background(), "public", "items", "emb", ann.L2, vec(7), 1)
	if err != nil || len(res) != 1 || res[0].Key.Int() == 7 {
		t.Fatalf("deleted row 7 still found: %v %v", res, err)
	}
}

// TestBulkLoad: rows of the initial load wait and go in as batches (parallel insert); changes to
// rows still waiting — an update, a delete, a key change with the vector kept — apply to them,
// and after the commit the index holds exactly the table. Later rows go straight in.
func TestBulkLoad(t *testing.T) {
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{info()}); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	for i := int64(1); i <= n; i++ {
		if err := s.Upsert(target, row(i, float32(i), 1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Upsert(target, row(7, 0.5, 0, 0)); err != nil { // update of a waiting row
		t.Fatal(err)
	}
	if err := s.Delete(target, key(3)); err != nil {
		t.Fatal(err)
	}
	moved := row(9, 0, 0, 0) // key change 9 → 5000, vector unchanged (TOASTed, not sent)
	moved.OldKey, moved.Key, moved.Vector, moved.KeepVector = key(9), key(5000), replication.Vector{}, true
	if err := s.Upsert(target, moved); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	ix, ok := s.Lookup("public", "items", "emb", ann.L2)
	if !ok || ix.Len() != n-1 {
		t.Fatalf("index holds %d rows, want %d", ix.Len(), n-1)
	}
	if got := ids(t, s, 3); len(got) != 3 || got[0] != 7 || got[1] != 1 || got[2] != 2 {
		t.Fatalf("nearest to the origin: %v, want [7 1 2]", got)
	}
	res, err := ix.Search(context.Background(), []float32{9, 1, 0}, 1, ann.SearchOptions{})
	if err != nil || len(res) != 1 || res[0].Key.Int() != 5000 || res[0].Distance != 0 {
		t.Fatalf("the moved row: %v %v", res, err)
	}
	if err := s.Upsert(target, row(6000, 0, 0, 0)); err != nil { // after the load: at once
		t.Fatal(err)
	}
	if got := ids(t, s, 1); len(got) != 1 || got[0] != 6000 {
		t.Fatalf("a row after the load is not searchable before its commit: %v", got)
	}
}

// intKeys lists the integer keys of search results, in order.
func intKeys(res []ann.Result) []int64 {
	out := make([]int64, len(res))
	for i, r := range res {
		out[i] = r.Key.Int()
	}
	return out
}

// TestEachTwinRefusesAlone: a column with an L2 and a cosine index. A zero vector is invalid for
// cosine: the cosine twin refuses it (replication is told the refusal is handled, so it deletes
// nothing), the L2 twin keeps it. Each twin is Complete only while it holds every row that has a
// vector and no row has a NULL one.
func TestEachTwinRefusesAlone(t *testing.T) {
	s := live.New(nil)
	ti := info()
	cos, _ := catalog.MetricForOperator("<=>")
	ti.Indexes = append(ti.Indexes, catalog.Index{Name: "items_cos", Column: "emb", Method: "hnsw", Metric: cos, M: 16, EfConstruction: 64, Valid: true})
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	load(t, s, 3, func(i int64) replication.Row { return row(i, float32(i), 1, 0) })
	l2, _ := s.Lookup("public", "items", "emb", ann.L2)
	cs, _ := s.Lookup("public", "items", "emb", ann.Cosine)
	err := s.Upsert(target, row(4, 0, 0, 0))
	if !errors.Is(err, replication.ErrRejectedHandled) || !errors.Is(err, replication.ErrRejected) {
		t.Fatalf("zero vector: %v, want ErrRejectedHandled", err)
	}
	if l2.Len() != 4 || cs.Len() != 3 || !l2.Complete() || cs.Complete() {
		t.Fatalf("L2 twin %d rows (complete %v), cosine twin %d (complete %v); want 4 (true), 3 (false)", l2.Len(), l2.Complete(), cs.Len(), cs.Complete())
	}
	if got := ids(t, s, 1); len(got) != 1 || got[0] != 4 {
		t.Fatalf("L2 nearest to the origin: %v, want the zero vector's row 4", got)
	}
	// A snapshot keeps which rows each twin left out.
	var buf bytes.Buffer
	if err := s.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	s2 := live.New(nil)
	// A damaged payload is refused and leaves the Set as it was (the checksum is checked before
	// the state is replaced).
	damaged := bytes.Clone(buf.Bytes())
	damaged[len(damaged)-12] ^= 1
	if err := s2.ReadSnapshot(bytes.NewReader(damaged)); !errors.Is(err, ann.ErrCorrupt) {
		t.Fatalf("damaged snapshot: %v, want ErrCorrupt", err)
	}
	if _, ok := s2.Lookup("public", "items", "emb", ann.L2); ok {
		t.Fatal("a damaged snapshot replaced the Set's state")
	}
	if err := s2.ReadSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	l2b, _ := s2.Lookup("public", "items", "emb", ann.L2)
	csb, _ := s2.Lookup("public", "items", "emb", ann.Cosine)
	if !l2b.Complete() || csb.Complete() || l2b.Len() != 4 || csb.Len() != 3 {
		t.Fatalf("from a snapshot: L2 twin %d rows (complete %v), cosine %d (complete %v)", l2b.Len(), l2b.Complete(), csb.Len(), csb.Complete())
	}
	// The row gets a valid vector: both hold it.
	if err := s.Upsert(target, row(4, 0, 0, 1)); err != nil || cs.Len() != 4 || !cs.Complete() {
		t.Fatalf("valid again: %v, cosine twin %d rows, complete %v", err, cs.Len(), cs.Complete())
	}
	// A NULL vector: neither holds the row, neither is complete, until the row goes.
	if err := s.Upsert(target, replication.Row{Key: key(4)}); err != nil || l2.Complete() || cs.Complete() || l2.Len() != 3 {
		t.Fatalf("NULL vector: %v, complete %v %v, L2 rows %d", err, l2.Complete(), cs.Complete(), l2.Len())
	}
	if err := s.Delete(target, key(4)); err != nil || !l2.Complete() || !cs.Complete() {
		t.Fatalf("after delete: %v, complete %v %v", err, l2.Complete(), cs.Complete())
	}
}

// TestVectorDirAndRetire: an SQ8 twin keeps its vectors in a file under Options.VectorDir (its
// answers exact, through a snapshot read back); a twin replaced by a reset, a truncate or Close
// is closed (its memory released), and a search still holding it fails instead of answering
// "no rows".
func TestVectorDirAndRetire(t *testing.T) {
	const dims = 600
	ti := info()
	ti.Dims = dims
	opts := live.DefaultOptions()
	opts.SQ8MinDims, opts.VectorDir = 512, t.TempDir()
	s := live.NewWith(nil, opts)
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	vec := func(i int64) []float32 { return hashVec(i, dims) }
	load(t, s, 300, func(i int64) replication.Row { return row(i, vec(i)...) })
	r := live.NewWith(nil, opts)
	snapshotInto(t, s, r)
	for _, set := range []*live.Set{s, r} {
		res, err := set.Search(context.Background(), "public", "items", "emb", ann.L2, vec(42), 3)
		if err != nil || len(res) != 3 || res[0].Key.Int() != 42 || res[0].Distance != 0 {
			t.Fatalf("row 42: %v %v", res, err)
		}
	}
	retired := func(what string, ix *live.Index) {
		t.Helper()
		if _, err := ix.Search(context.Background(), vec(42), 3, ann.SearchOptions{}); err == nil || errors.Is(err, ann.ErrEmpty) {
			t.Errorf("%s: search of the replaced twin: %v, want an error other than ErrEmpty", what, err)
		}
	}
	old := s.Indexes()[0]
	if err := s.Truncate(target); err != nil {
		t.Fatal(err)
	}
	retired("truncate", old)
	old = s.Indexes()[0]
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	retired("reset", old)
	old = r.Indexes()[0]
	r.Close()
	retired("close", old)
	if len(r.Indexes()) != 0 {
		t.Errorf("closed set holds %d twins", len(r.Indexes()))
	}
}
