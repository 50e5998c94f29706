package live_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

const ivfDims = 8

// ivfInfo is items.emb (8-d) with a pgvector ivfflat index of lists lists.
func ivfInfo(lists int) replication.TargetInfo {
	cm, _ := catalog.MetricForOperator("<->")
	return replication.TargetInfo{
		Target: target, Kind: catalog.TypeVector, Dims: ivfDims,
		Key:     []catalog.Column{{Name: "id", Type: "bigint"}},
		Indexes: []catalog.Index{{Name: "items_ivf", Column: "emb", Method: "ivfflat", Metric: cm, Lists: lists, Valid: true}},
	}
}

func ivfVectors(n int) map[int64][]float32 {
	r := rand.New(rand.NewPCG(3, 5))
	out := map[int64][]float32{}
	for i := int64(1); i <= int64(n); i++ {
		c := float32(r.IntN(10))
		v := make([]float32, ivfDims)
		for d := range v {
			v[d] = c + r.Float32()
		}
		out[i] = v
	}
	return out
}

// exactTop is the brute-force top k of vecs under L2.
func exactTop(vecs map[int64][]float32, q []float32, k int) []int64 {
	type kd struct {
		k int64
		d float64
	}
	var all []kd
	for id, v := range vecs {
		var s float64
		for i := range v {
			s += float64(v[i]-q[i]) * float64(v[i]-q[i])
		}
		all = append(all, kd{id, s})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].d < all[j].d || all[i].d == all[j].d && all[i].k < all[j].k })
	var out []int64
	for _, x := range all[:min(k, len(all))] {
		out = append(out, x.k)
	}
	return out
}

func searchKeys(t *testing.T, ix *live.Index, q []float32, k, probes int) []int64 {
	t.Helper()
	res, err := ix.Search(context.Background(), q, k, ann.SearchOptions{Probes: probes})
	if err != nil {
		t.Fatal(err)
	}
	return intKeys(res)
}

// TestIVFTwin: a pgvector ivfflat index gets an exact IVF twin with its lists; loaded row by row
// it trains once it holds enough rows, then probes lists (fewer rows at one probe, all at every
// list, in exact order); deletes, updates, key changes with the vector kept and a truncate apply.
func TestIVFTwin(t *testing.T) {
	const lists, rows = 8, 1500
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{ivfInfo(lists)}); err != nil {
		t.Fatal(err)
	}
	vecs := ivfVectors(rows)
	load(t, s, rows, func(i int64) replication.Row { return row(i, vecs[i]...) })
	ix, ok := s.Lookup("public", "items", "emb", ann.L2)
	if !ok || ix.Kind() != "ivf-flat" || ix.Lists() != lists || ix.Probes() != live.DefaultProbes(lists) || !ix.Exact || ix.Len() != rows {
		t.Fatalf("twin: %v %+v", ok, ix)
	}
	q := vecs[42]
	if n := len(searchKeys(t, ix, q, rows, 1)); n >= rows || n == 0 {
		t.Fatalf("one probe of a trained index returned %d of %d rows", n, rows)
	}
	if got, want := searchKeys(t, ix, q, 20, lists), exactTop(vecs, q, 20); !slices.Equal(got, want) {
		t.Fatalf("all lists probed: %v, exact %v", got, want)
	}

	// Delete, update (moves 7 onto q), key change keeping the vector (42 → 5000).
	if err := s.Delete(target, key(43)); err != nil {
		t.Fatal(err)
	}
	delete(vecs, 43)
	if err := s.Upsert(target, row(7, q...)); err != nil {
		t.Fatal(err)
	}
	vecs[7] = q
	moved := replication.Row{Key: key(5000), OldKey: key(42), KeepVector: true}
	if err := s.Upsert(target, moved); err != nil {
		t.Fatal(err)
	}
	vecs[5000] = vecs[42]
	delete(vecs, 42)
	if err := s.Commit(2); err != nil {
		t.Fatal(err)
	}
	got := searchKeys(t, ix, q, 20, lists)
	if want := exactTop(vecs, q, 20); !slices.Equal(got, want) || !contains(got, 5000) || !contains(got, 7) || contains(got, 42) || contains(got, 43) {
		t.Fatalf("after delete, update, key change: %v, exact %v", got, want)
	}

	if err := s.Truncate(target); err != nil {
		t.Fatal(err)
	}
	ix, _ = s.Lookup("public", "items", "emb", ann.L2)
	if ix.Len() != 0 || ix.Kind() != "ivf-flat" {
		t.Fatalf("after truncate: %d rows, %s", ix.Len(), ix.Kind())
	}
}

// TestIVFTwinFewRows: an IVF twin with fewer rows than lists (not trained) answers exactly.
func TestIVFTwinFewRows(t *testing.T) {
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{ivfInfo(100)}); err != nil {
		t.Fatal(err)
	}
	vecs := ivfVectors(30)
	load(t, s, 30, func(i int64) replication.Row { return row(i, vecs[i]...) })
	ix, _ := s.Lookup("public", "items", "emb", ann.L2)
	if got, want := searchKeys(t, ix, vecs[3], 10, 1), exactTop(vecs, vecs[3], 10); !slices.Equal(got, want) {
		t.Fatalf("%v, exact %v", got, want)
	}
}

// TestIVFSnapshot: IVF twins and definitions (quantised, truncated) survive a snapshot round
// trip: same kind, lists, probes, rows and answers.
func TestIVFSnapshot(t *testing.T) {
	s := live.New(nil)
	s.SetDefinitions([]indexdef.Spec{{Schema: "public", Name: "items_pq", Table: "items", Column: "emb",
		Method: "ivfflat", Metric: ann.InnerProduct, Lists: 4, Quantizer: "pq", Dims: 6, Mode: "offload"}})
	ti := ivfInfo(8)
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	vecs := ivfVectors(1200)
	load(t, s, 1200, func(i int64) replication.Row { return row(i, vecs[i]...) })
	r := live.New(nil)
	r.SetDefinitions(s.Definitions())
	snapshotInto(t, s, r)
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct} {
		a, ok1 := s.Lookup("public", "items", "emb", m)
		b, ok2 := r.Lookup("public", "items", "emb", m)
		if !ok1 || !ok2 || a.Kind() != b.Kind() || a.Lists() != b.Lists() || a.Probes() != b.Probes() ||
			a.Len() != b.Len() || a.Exact != b.Exact || a.Oversample != b.Oversample || a.Dims() != b.Dims() {
			t.Fatalf("%v: before %+v, after %+v", m, a, b)
		}
		for _, id := range []int64{1, 500, 1200} {
			if x, y := searchKeys(t, a, vecs[id], 10, 2), searchKeys(t, b, vecs[id], 10, 2); !slices.Equal(x, y) {
				t.Fatalf("%v: query %d before %v, after %v", m, id, x, y)
			}
		}
	}
	if b, _ := r.Lookup("public", "items", "emb", ann.InnerProduct); b.Kind() != "ivf-pq dims=6" || b.Exact || b.Dims() != ivfDims {
		t.Fatalf("restored definition: %s exact %v dims %d", b.Kind(), b.Exact, b.Dims())
	}
	// The restored set keeps applying changes.
	if err := r.Delete(target, key(500)); err != nil {
		t.Fatal(err)
	}
	if b, _ := r.Lookup("public", "items", "emb", ann.L2); contains(searchKeys(t, b, vecs[500], 5, 8), 500) {
		t.Fatal("deleted row found after restore")
	}
}

// TestIVFDefinitions: definitions through vecgate get the structure they name, are inexact when
// quantised or truncated (with a larger default oversample), and a bad definition is refused.
func TestIVFDefinitions(t *testing.T) {
	for _, tc := range []struct {
		def   indexdef.Spec
		kind  string
		exact bool
		over  float64
	}{
		{indexdef.Spec{Method: "ivfflat", Lists: 4}, "ivf-flat", true, 0},
		{indexdef.Spec{Method: "ivfflat", Quantizer: "sq8"}, "ivf-sq8", false, 2},
		{indexdef.Spec{Method: "ivfflat", Quantizer: "pq"}, "ivf-pq", false, 8},
		{indexdef.Spec{Method: "ivfflat", Quantizer: "binary", Oversample: 3}, "ivf-binary", false, 3},
		{indexdef.Spec{Method: "hnsw", Dims: 4}, "hnsw dims=4", false, 4},
		{indexdef.Spec{Method: "hnsw", Quantizer: "sq8", Dims: 4}, "hnsw-sq8 dims=4", false, 4},
		{indexdef.Spec{Method: "ivfflat", Quantizer: "binary", Dims: 4}, "ivf-binary dims=4", false, 10},
	} {
		d := tc.def
		d.Schema, d.Name, d.Table, d.Column, d.Metric, d.Mode = "public", "def", "items", "emb", ann.Cosine, "offload"
		s := live.New(nil)
		s.SetDefinitions([]indexdef.Spec{d})
		if err := s.Reset([]replication.TargetInfo{ivfInfo(8)}); err != nil {
			t.Fatal(err)
		}
		vecs := ivfVectors(1100)
		load(t, s, 1100, func(i int64) replication.Row { return row(i, vecs[i]...) })
		ix, ok := s.Lookup("public", "items", "emb", ann.Cosine)
		if !ok || ix.Kind() != tc.kind || ix.Exact != tc.exact || ix.Oversample != tc.over || ix.Len() != 1100 || ix.Dims() != ivfDims {
			t.Fatalf("%+v: got %v %s exact %v oversample %v rows %d", tc.def, ok, ix.Kind(), ix.Exact, ix.Oversample, ix.Len())
		}
		if got := searchKeys(t, ix, vecs[9], 50, 0); len(got) == 0 {
			t.Fatalf("%s: no candidates", tc.kind)
		}
	}
	s := live.New(nil)
	s.SetDefinitions([]indexdef.Spec{{Schema: "public", Name: "bad", Table: "items", Column: "emb",
		Method: "hnsw", Metric: ann.L2, Dims: ivfDims}})
	if err := s.Reset([]replication.TargetInfo{ivfInfo(8)}); err != nil {
		t.Fatal(err)
	}
	if ix := s.Indexes(); len(ix) != 1 || ix[0].Source != "items_ivf" {
		t.Fatalf("a definition of as many dims as the column: %+v", ix)
	}
}

// TestTwinOptions: SQ8MinDims decides which HNSW twins search codes, CodesOnly drops their
// vectors (and with them exactness).
func TestTwinOptions(t *testing.T) {
	cm, _ := catalog.MetricForOperator("<->")
	ti := replication.TargetInfo{
		Target: target, Kind: catalog.TypeVector, Dims: 64,
		Key:     []catalog.Column{{Name: "id", Type: "bigint"}},
		Indexes: []catalog.Index{{Name: "items_emb", Column: "emb", Method: "hnsw", Metric: cm, M: 16, EfConstruction: 64, Valid: true}},
	}
	for _, c := range []struct {
		opts  live.Options
		kind  string
		exact bool
	}{
		{live.DefaultOptions(), "hnsw", true},
		{live.Options{SQ8MinDims: 64}, "hnsw-sq8", true},
		{live.Options{SQ8MinDims: 64, CodesOnly: true}, "hnsw-sq8", false},
		{live.Options{SQ8MinDims: 0, CodesOnly: true}, "hnsw", true},
	} {
		s := live.NewWith(nil, c.opts)
		if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
			t.Fatal(err)
		}
		ix, ok := s.Lookup("public", "items", "emb", ann.L2)
		if !ok || ix.Kind() != c.kind || ix.Exact != c.exact {
			t.Errorf("%+v: kind %q exact %v, want %q %v", c.opts, ix.Kind(), ix.Exact, c.kind, c.exact)
		}
	}
}

// TestIVFRetrainPolicy: an IVF twin that doubles the rows it trained on retrains at the next
// commit, in the background (flat and SQ8 twins); a PQ twin keeps its lists; HNSW twins have no
// training to report. Searches after the retrain find every row.
func TestIVFRetrainPolicy(t *testing.T) {
	const lists = 8 // ivf trains at 1000 rows
	for _, c := range []struct {
		quantizer string // "": the pgvector ivfflat twin
		retrains  int
	}{{"", 1}, {"sq8", 1}, {"pq", 0}} {
		t.Run("quantizer="+c.quantizer, func(t *testing.T) {
			s := live.New(nil)
			ti := ivfInfo(lists)
			if c.quantizer != "" {
				s.SetDefinitions([]indexdef.Spec{{Schema: "public", Name: "items_q", Table: "items", Column: "emb",
					Method: "ivfflat", Metric: ann.L2, Lists: lists, Quantizer: c.quantizer}})
				ti.Indexes = nil
			}
			if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
				t.Fatal(err)
			}
			vecs := ivfVectors(2500)
			apply := func(from, to int64, lsn replication.LSN) {
				t.Helper()
				for i := from; i <= to; i++ {
					if err := s.Upsert(target, row(i, vecs[i]...)); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Commit(lsn); err != nil {
					t.Fatal(err)
				}
				s.WaitRetrains()
			}
			apply(1, 1999, 1)
			ix, _ := s.Lookup("public", "items", "emb", ann.L2)
			st, ok := ix.Training()
			if !ok || !st.Trained || st.Rows != 1000 || st.Retrains != 0 {
				t.Fatalf("below twice the rows trained on: %v %+v", ok, st)
			}
			apply(2000, 2500, 2)
			st, _ = ix.Training()
			if st.Retrains != c.retrains || ix.Len() != 2500 {
				t.Fatalf("at 2500 rows: %+v, %d rows; want %d retrains", st, ix.Len(), c.retrains)
			}
			if c.retrains > 0 && st.Rows != 2500 {
				t.Fatalf("retrained on %d rows, want 2500", st.Rows)
			}
			if c.quantizer == "" {
				q := vecs[42]
				if got, want := searchKeys(t, ix, q, 20, lists), exactTop(vecs, q, 20); !slices.Equal(got, want) {
					t.Fatalf("all lists probed after the retrain: %v, exact %v", got, want)
				}
			}
		})
	}
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{info()}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Indexes()[0].Training(); ok {
		t.Fatal("an HNSW twin reports IVF training")
	}
}
