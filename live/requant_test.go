package live_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// TestSQ8TwinRequantizesAfterDrift: a 600-d twin (SQ8 codes, vectors kept) trained on rows in
// [0, 1) takes, a commit at a time, rows three times as wide. Those past the codes' range go on
// the side list (every one still its own nearest row); once 64 of them are there, the twin
// re-quantises in the background while searches and commits go on, and its status then shows one
// re-quantisation and no drifted rows, with every row still found.
func TestSQ8TwinRequantizesAfterDrift(t *testing.T) {
	const dims, rows, wide = 600, 1000, 300
	ti := info()
	ti.Dims = dims
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{ti}); err != nil {
		t.Fatal(err)
	}
	vec := func(i int64) []float32 {
		v := hashVec(i, dims)
		if i > rows {
			for d := range v {
				v[d] *= 3
			}
		}
		return v
	}
	load(t, s, rows, func(i int64) replication.Row { return row(i, vec(i)...) })
	ix := s.Indexes()[0]
	if ix.Kind() != "hnsw-sq8" {
		t.Fatalf("twin %s, want hnsw-sq8", ix.Kind())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var searches atomic.Int64
	wg.Go(func() {
		for i := int64(1); ctx.Err() == nil; i++ {
			if _, err := s.Search(ctx, "public", "items", "emb", ann.L2, vec(1+i%rows), 5); err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
			searches.Add(1)
		}
	})
	maxDrifted := 0
	for i := int64(rows + 1); i <= rows+wide; i++ {
		if err := s.Upsert(target, row(i, vec(i)...)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(replication.LSN(i)); err != nil {
			t.Fatal(err)
		}
		if q, _ := ix.Quantization(); q.Drifted > maxDrifted {
			maxDrifted = q.Drifted
		}
	}
	s.WaitRetrains()
	cancel()
	wg.Wait()
	q, ok := ix.Quantization()
	t.Logf("drifted at most %d, now %+v; %d searches", maxDrifted, q, searches.Load())
	if !ok || maxDrifted < 64 || q.Requantizations != 1 || q.Drifted != 0 {
		t.Fatalf("after %d wide rows: %+v (at most %d drifted)", wide, q, maxDrifted)
	}
	for i := int64(1); i <= rows+wide; i += 7 {
		res, err := s.Search(context.Background(), "public", "items", "emb", ann.L2, vec(i), 1)
		if err != nil || len(res) != 1 || res[0].Key.Int() != i {
			t.Fatalf("row %d: %v %v", i, res, err)
		}
	}
}
