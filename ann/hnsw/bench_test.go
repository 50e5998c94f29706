package hnsw_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/internal/anntest"
)

var (
	benchOnce sync.Once
	benchDS   anntest.Dataset
	benchIdx  *hnsw.Index
)

func benchIndex(b *testing.B) (*hnsw.Index, anntest.Dataset) {
	benchOnce.Do(func() {
		benchDS = makeData(50000, 128, 1000, false)
		// One thread: a deterministic graph, so runs compare code, not graphs.
		benchIdx = build(b, ann.L2, benchDS, func(c *hnsw.Config) { c.Threads = 1 })
	})
	return benchIdx, benchDS
}

// BenchmarkSearch measures single-thread search; allocations per query
// must stay constant (no allocation per candidate).
func BenchmarkSearch(b *testing.B) {
	x, ds := benchIndex(b)
	for _, ef := range []int{20, 40, 80} {
		b.Run("ef="+strconv.Itoa(ef), func(b *testing.B) {
			b.ReportAllocs()
			opts := ann.SearchOptions{EF: ef}
			for i := 0; b.Loop(); i++ {
				if _, err := x.Search(context.Background(), ds.Queries[i%len(ds.Queries)], 10, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkInsert(b *testing.B) {
	ds := makeData(20000, 128, 1, false)
	b.ReportAllocs()
	for b.Loop() {
		build(b, ann.L2, ds, func(c *hnsw.Config) { c.Threads = 1 })
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20000, "ns/insert")
}
