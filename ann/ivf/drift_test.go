package ivf_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/ivf"
	"github.com/vecgate/vecgate/internal/anntest"
)

// TestDriftedRowsFound inserts, one at a time, rows far outside what a trained IVF's codes
// learnt (×50, positive orthant, a spike where no trained row has one): each must be among the
// candidates of a search with its own vector, for SQ8, PQ and binary codes (codes only: the
// caller reranks), live and after a save and load. Without the exact scan of drifted rows many
// share their codes and are missed.
func TestDriftedRowsFound(t *testing.T) {
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine} {
		for _, codes := range []string{ivf.CodesSQ8, ivf.CodesPQ, ivf.CodesBinary} {
			t.Run(m.Name()+"/"+codes, func(t *testing.T) {
				base := makeData(2000, 64, 0, m == ann.InnerProduct)
				cfg := ivf.DefaultConfig(m, 64)
				cfg.Lists, cfg.Codes, cfg.Seed, cfg.PQSegments = 16, codes, 1, 16
				x := build(t, cfg, base)
				out := anntest.Outliers(60, 64, 50, 1_000_000, 3)
				for i, k := range out.Keys {
					if err := x.Add(k, out.Row(i)); err != nil {
						t.Fatal(err)
					}
				}
				// Under cosine the rows stay near the centroids PQ learnt, and its codes still
				// tell them apart (every one is found below): PQ marks none drifted there.
				if got := x.Drifted(); got < out.Len()/2 && !(m == ann.Cosine && codes == ivf.CodesPQ) {
					t.Errorf("%d of %d rows drifted", got, out.Len())
				}
				all := anntest.Concat(base, out)
				opts := ann.SearchOptions{Probes: 4}
				if n := anntest.NearestFound(t, x, m, all, out, 10, opts); n != out.Len() {
					t.Errorf("live: %d of %d drifted rows found", n, out.Len())
				}
				var buf bytes.Buffer
				if err := x.Save(&buf); err != nil {
					t.Fatal(err)
				}
				y, err := ivf.Load(&buf, ivf.Config{})
				if err != nil {
					t.Fatal(err)
				}
				if y.Drifted() != x.Drifted() {
					t.Errorf("loaded %d drifted, saved %d", y.Drifted(), x.Drifted())
				}
				if n := anntest.NearestFound(t, y, m, all, out, 10, opts); n != out.Len() {
					t.Errorf("loaded: %d of %d drifted rows found", n, out.Len())
				}
				if codes == ivf.CodesSQ8 {
					// Rows ×50 would stretch the SQ8 range 50×: the retrain keeps the codec,
					// and they stay pending (unit vectors' spikes stretch it less: under
					// cosine the new codec may cover them).
					before := y.Drifted()
					if err := y.Retrain(context.Background()); err != nil {
						t.Fatal(err)
					}
					if y.Drifted() != before && m != ann.Cosine {
						t.Errorf("retrained: %d rows drifted, %d before", y.Drifted(), before)
					}
					if n := anntest.NearestFound(t, y, m, all, out, 10, opts); n != out.Len() {
						t.Errorf("retrained: %d of %d drifted rows found", n, out.Len())
					}
				}
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
