package hnsw_test

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/internal/anntest"
)

// TestDriftedRowsFound inserts, one at a time, rows far outside the range an SQ8 codec was trained
// on (×50, with a spike where no trained row has one): every one of them must be found by a
// search with its own vector — first for an index that keeps vectors, among the candidates for a
// codes-only one — live, after a save and load, and after a re-quantisation. Without the side
// list most of them are not (they share their clipped codes).
func TestDriftedRowsFound(t *testing.T) {
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine} {
		for _, keep := range []bool{true, false} {
			name := m.Name() + "/codes-only"
			if keep {
				name = m.Name() + "/kept-vectors"
			}
			t.Run(name, func(t *testing.T) {
				base := makeData(2000, 64, 0, false)
				x := build(t, m, base, func(c *hnsw.Config) { c.Quantizer, c.KeepVectors = "sq8", keep })
				out := anntest.Outliers(60, 64, 50, 1_000_000, 3)
				for i, k := range out.Keys {
					if err := x.Add(k, out.Row(i)); err != nil {
						t.Fatal(err)
					}
				}
				// Under cosine a row's spike decides how far it clips: most, not all, go past.
				if got := x.Drifted(); got != out.Len() && (m != ann.Cosine || got < out.Len()/2) {
					t.Errorf("%d rows drifted, want %d", got, out.Len())
				}
				all := anntest.Concat(base, out)
				k := 1
				if !keep {
					k = 10
				}
				check := func(when string, x *hnsw.Index) {
					t.Helper()
					if n := anntest.NearestFound(t, x, m, all, out, k, ann.SearchOptions{}); n != out.Len() {
						t.Errorf("%s: %d of %d drifted rows found", when, n, out.Len())
					}
				}
				check("live", x)
				var buf bytes.Buffer
				if err := x.Save(&buf); err != nil {
					t.Fatal(err)
				}
				y, err := hnsw.Load(&buf, hnsw.Config{})
				if err != nil {
					t.Fatal(err)
				}
				if y.Drifted() != x.Drifted() || y.DriftBound() != x.DriftBound() {
					t.Errorf("loaded: %d drifted, bound %v; saved %d, %v", y.Drifted(), y.DriftBound(), x.Drifted(), x.DriftBound())
				}
				check("loaded", y)
				// 60 rows ×50 would stretch the range 50×: the re-quantisation is dropped and they
				// stay on the side list (a unit vector's spike stretches it less: under cosine it
				// may go ahead).
				did, err := y.Requantize(context.Background())
				if err != nil || did && m != ann.Cosine {
					t.Errorf("requantize: %v %v", did, err)
				}
				check("after requantize", y)
				// Deleting them empties the side list.
				for _, k := range out.Keys {
					y.Delete(k)
				}
				if y.Drifted() != 0 {
					t.Errorf("%d drifted after deleting every outlier", y.Drifted())
				}
			})
		}
	}
}

// TestRequantizeWhileServing grows an SQ8 index with as many rows again ×3 (most clip past the
// bound), then re-quantises while searches and inserts run: the new codec covers every row, the
// side list empties, every row is still its own nearest neighbour, and recall on the original
// rows stays.
func TestRequantizeWhileServing(t *testing.T) {
	for _, keep := range []bool{true, false} {
		t.Run(map[bool]string{true: "kept-vectors", false: "codes-only"}[keep], func(t *testing.T) {
			const n = 1000
			base := makeData(n, 32, 40, false)
			x := build(t, ann.L2, base, func(c *hnsw.Config) { c.Quantizer, c.KeepVectors = "sq8", keep })
			before := anntest.Recall(t, x, ann.L2, base, 10, ann.SearchOptions{EF: 80}, nil)
			wide := anntest.Dataset{Dims: 32}
			for i := range n {
				for _, v := range base.Row(i) {
					wide.Data = append(wide.Data, 3*v+0.5)
				}
				wide.Keys = append(wide.Keys, ann.IntKey(int64(100_000+i)))
			}
			for i, k := range wide.Keys[:n-200] {
				if err := x.Add(k, wide.Row(i)); err != nil {
					t.Fatal(err)
				}
			}
			drifted := x.Drifted()
			if drifted < n/4 {
				t.Fatalf("only %d of %d rows ×3 drifted", drifted, n-200)
			}
			// Searches and inserts run through the re-quantisation.
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var searches atomic.Int64
			var failed atomic.Value
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					if _, err := x.Search(ctx, base.Row(i%n), 10, ann.SearchOptions{}); err != nil && ctx.Err() == nil {
						failed.Store(err)
						return
					}
					searches.Add(1)
				}
			})
			wg.Go(func() {
				for i := n - 200; i < n; i++ {
					if err := x.Add(wide.Keys[i], wide.Row(i)); err != nil {
						failed.Store(err)
						return
					}
				}
			})
			did, err := x.Requantize(context.Background())
			for searches.Load() < 50 {
				runtime.Gosched()
			}
			cancel()
			wg.Wait()
			if e := failed.Load(); e != nil {
				t.Fatal(e)
			}
			if err != nil || !did {
				t.Fatalf("requantize: %v %v", did, err)
			}
			st := x.DriftStats()
			if st.Requantizations != 1 || st.Drifted > drifted/20 {
				t.Errorf("after requantize: %+v (drifted before: %d)", st, drifted)
			}
			t.Logf("drifted %d -> %d; searches during: %d", drifted, st.Drifted, searches.Load())
			all := anntest.Concat(base, wide)
			k := 1
			if !keep {
				k = 10
			}
			if f := anntest.NearestFound(t, x, ann.L2, all, wide, k, ann.SearchOptions{}); f != n {
				t.Errorf("%d of %d wide rows found", f, n)
			}
			some := anntest.Dataset{Dims: 32}
			for i := 0; i < n; i += 10 {
				some.Data, some.Keys = append(some.Data, base.Row(i)...), append(some.Keys, base.Keys[i])
			}
			if f := anntest.NearestFound(t, x, ann.L2, all, some, k, ann.SearchOptions{}); f != some.Len() {
				t.Errorf("%d of %d original rows found", f, some.Len())
			}
			after := anntest.Recall(t, x, ann.L2, all, 10, ann.SearchOptions{EF: 80}, nil)
			t.Logf("recall@10 before %.3f, after (all rows) %.3f", before, after)
			if after < before-0.05 {
				t.Errorf("recall fell from %.3f to %.3f", before, after)
			}
		})
	}
}
