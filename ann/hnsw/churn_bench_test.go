package hnsw_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/anntest"
)

// BenchmarkChurnRecall reports recall@10 at the default ef (40) on 10,000 clustered 32-d rows
// after the build and after churn: three rounds in which a third of the rows, one at a time,
// get a new vector (an UPDATE), with a relink check every 5 writes as live's commits
// make, then a tenth are deleted and inserted again; and the recall of a graph built afresh from
// the rows as they end. It also reports the time per churn write.
func BenchmarkChurnRecall(b *testing.B) {
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine} {
		b.Run(m.String(), func(b *testing.B) {
			for b.Loop() {
				ds := makeData(10000, 32, 300, m == ann.Cosine)
				ds.Data = slices.Clone(ds.Data)
				// New vectors: from the same clusters, not copies of rows (copies would make ties
				// that recall by key counts as misses).
				pool := makeData(10000, 32, 10000, m == ann.Cosine).Queries
				x := build(b, m, ds, nil)
				before := anntest.Recall(b, x, m, ds, 10, ann.SearchOptions{}, nil)
				r := rand.New(rand.NewPCG(1, 2))
				writes := 0
				start := time.Now()
				for range 3 {
					for _, i := range r.Perm(len(ds.Keys))[:len(ds.Keys)/3] {
						v := pool[r.IntN(len(pool))]
						copy(ds.Row(i), v)
						if err := x.Add(ds.Keys[i], v); err != nil {
							b.Fatal(err)
						}
						if writes++; writes%5 == 0 {
							x.MaybeRelink()
						}
					}
					gone := r.Perm(len(ds.Keys))[:len(ds.Keys)/10]
					for _, i := range gone {
						x.Delete(ds.Keys[i])
						if writes++; writes%5 == 0 {
							x.MaybeRelink()
						}
					}
					for _, i := range gone {
						if err := x.Add(ds.Keys[i], ds.Row(i)); err != nil {
							b.Fatal(err)
						}
						if writes++; writes%5 == 0 {
							x.MaybeRelink()
						}
					}
				}
				x.MaybeRelink()
				perWrite := time.Since(start) / time.Duration(writes)
				after := anntest.Recall(b, x, m, ds, 10, ann.SearchOptions{}, nil)
				// The rows have moved: a graph built afresh from them is the measure of decay.
				fresh := anntest.Recall(b, build(b, m, ds, nil), m, ds, 10, ann.SearchOptions{}, nil)
				b.ReportMetric(before, "recall-build")
				b.ReportMetric(after, "recall-churn")
				b.ReportMetric(fresh, "recall-rebuilt")
				b.ReportMetric(float64(perWrite.Microseconds()), "µs/write")
			}
		})
	}
}
