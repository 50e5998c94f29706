package hnsw_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
)

func randVecs(rng *rand.Rand, n, dims int) []float32 {
	v := make([]float32, n*dims)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return v
}

// TestViewWhileWriting: a View written while inserts (new keys and upserts), deletes (past the
// compaction ratio, with freed slots and upper rows waiting for reuse) and searches run holds
// exactly the bytes Save wrote just before it was frozen; the index keeps every change and
// loads again. Float32 and SQ8 (with and without vectors), an index still in its first,
// doubling chunk, and one closed while its view is open.
func TestViewWhileWriting(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   hnsw.Config
		rows  int
		close bool
	}{
		{"l2", hnsw.Config{Metric: ann.L2, Dims: 16, M: 8, EFConstruction: 32}, 3000, false},
		{"cosine-sq8-vectors", hnsw.Config{Metric: ann.Cosine, Dims: 24, M: 8, EFConstruction: 32, Quantizer: "sq8", KeepVectors: true}, 2500, false},
		{"ip-sq8-codes", hnsw.Config{Metric: ann.InnerProduct, Dims: 24, M: 8, EFConstruction: 32, Quantizer: "sq8"}, 2500, false},
		{"small", hnsw.Config{Metric: ann.L2, Dims: 8, M: 6, EFConstruction: 16}, 300, false},
		{"closed", hnsw.Config{Metric: ann.L2, Dims: 8, M: 6, EFConstruction: 16}, 2000, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(c.rows)))
			x, err := hnsw.New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			d := c.cfg.Dims
			keys := make([]ann.Key, c.rows)
			for i := range keys {
				keys[i] = ann.IntKey(int64(i))
			}
			if err := x.AddBatch(context.Background(), keys, randVecs(rng, c.rows, d)); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < c.rows/5; i++ { // past CompactRatio: compacted, slots freed
				x.Delete(keys[i])
			}
			for i := c.rows / 5; i < c.rows/5+10; i++ { // tombstones left
				x.Delete(keys[i])
			}
			var ref bytes.Buffer
			if err := x.Save(&ref); err != nil {
				t.Fatal(err)
			}
			v, err := x.Freeze()
			if err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(9, 9))
				<-start
				for i := range 400 {
					k := ann.IntKey(int64(c.rows + i))
					if i%3 == 1 { // an upsert of an existing key
						k = keys[(c.rows/2+i)%c.rows]
					}
					if err := x.Add(k, randVecs(rng, 1, d)); err != nil && !c.close {
						t.Error(err)
						return
					}
					if i%2 == 0 {
						x.Delete(keys[(c.rows/5+10+i)%c.rows])
					}
					if _, err := x.Search(context.Background(), randVecs(rng, 1, d), 5, ann.SearchOptions{}); err != nil && !c.close {
						t.Error(err)
						return
					}
				}
			})
			close(start)
			if c.close {
				x.Close() // the view's arrays stay until Release
			}
			var got bytes.Buffer
			if err := v.Write(&got); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			v.Release()
			if !bytes.Equal(got.Bytes(), ref.Bytes()) {
				t.Fatalf("the view wrote %d bytes unlike Save's %d before the changes", got.Len(), ref.Len())
			}
			if c.close {
				return
			}
			y, err := hnsw.Load(bytes.NewReader(got.Bytes()), hnsw.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer y.Close()
			if want := c.rows - c.rows/5 - 10; y.Len() != want {
				t.Fatalf("the view's file holds %d rows, want %d", y.Len(), want)
			}
			// After the view: the index compacts and reuses slots again, and saves its changes.
			x.Compact()
			if x.Tombstones() != 0 {
				t.Errorf("%d tombstones after Compact", x.Tombstones())
			}
			var after bytes.Buffer
			if err := x.Save(&after); err != nil {
				t.Fatal(err)
			}
			z, err := hnsw.Load(&after, hnsw.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer z.Close()
			if z.Len() != x.Len() {
				t.Fatalf("saved after the view: %d rows, the index %d", z.Len(), x.Len())
			}
			res, err := z.Search(context.Background(), randVecs(rng, 1, d), 10, ann.SearchOptions{})
			if err != nil || len(res) != 10 {
				t.Fatalf("search after reload: %d results, %v", len(res), err)
			}
		})
	}
}
