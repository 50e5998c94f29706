package hnsw_test

import (
	"context"
	"testing"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/internal/anntest"
)

// BenchmarkOneRowCommits measures inserts one at a time with MaybeRelink after each, as live
// applies one-row commits, per metric, on clustered data that is not normalised (inner
// product: rows told apart by their norms).
func BenchmarkOneRowCommits(b *testing.B) {
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.L1} {
		b.Run(m.Name(), func(b *testing.B) {
			ds := anntest.Clustered(7000, 16, 1, 50, 42, false)
			for b.Loop() {
				b.StopTimer()
				cfg := hnsw.DefaultConfig(m, ds.Dims)
				cfg.Seed = 1
				x, err := hnsw.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				if err := x.AddBatch(context.Background(), ds.Keys[:5000], ds.Data[:5000*ds.Dims]); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start, relinks := time.Now(), 0
				for i := 5000; i < 7000; i++ {
					if err := x.Add(ds.Keys[i], ds.Data[i*ds.Dims:(i+1)*ds.Dims]); err != nil {
						b.Fatal(err)
					}
					if x.MaybeRelink() {
						relinks++
					}
				}
				b.ReportMetric(2000/time.Since(start).Seconds(), "rows/s")
				b.ReportMetric(float64(relinks), "relinks")
			}
		})
	}
}
