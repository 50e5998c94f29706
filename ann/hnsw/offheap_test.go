package hnsw_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
)

// TestNodeArraysOffHeap: the vectors, codes and links of an index are not on the Go heap (the
// heap grows by far less than they take), and Close gives them back.
func TestNodeArraysOffHeap(t *testing.T) {
	const n, dims = 4000, 256
	ds := makeData(n, dims, 1, false)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	x := build(t, ann.L2, ds, nil)
	grew := int64(heap()) - int64(before)
	runtime.KeepAlive(ds.Data) // not freed between the two readings
	vectors := int64(n * dims * 4)
	t.Logf("heap grew %d for %d bytes of vectors", grew, vectors)
	if grew > vectors/4 && !raceOn { // under -race anonymous chunks stay on the heap (race_on.go)
		t.Errorf("the Go heap grew by %d bytes for %d bytes of vectors: node arrays on the heap?", grew, vectors)
	}
	if x.MemoryBytes() < vectors {
		t.Errorf("MemoryBytes %d does not count the %d bytes of vectors off the heap", x.MemoryBytes(), vectors)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if b := x.MemoryBytes(); b > vectors/8 {
		t.Errorf("MemoryBytes %d after Close", b)
	}
}

// TestClose: after Close, searches, inserts and saves fail with ErrClosed (never an answer from
// an empty index: the planner would take ErrEmpty as "no rows"), and the rest sees an empty index.
func TestClose(t *testing.T) {
	ds := makeData(1500, 32, 5, false)
	for _, c := range []struct {
		name string
		mod  func(*hnsw.Config)
	}{
		{"float32", nil},
		{"sq8", func(c *hnsw.Config) { c.Quantizer, c.KeepVectors = "sq8", true }},
		{"sq8 vector file", func(c *hnsw.Config) { c.Quantizer, c.KeepVectors, c.VectorDir = "sq8", true, t.TempDir() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := build(t, ann.L2, ds, c.mod)
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			if err := x.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			ctx := context.Background()
			if _, err := x.Search(ctx, ds.Queries[0], 3, ann.SearchOptions{}); !errors.Is(err, hnsw.ErrClosed) || errors.Is(err, ann.ErrEmpty) {
				t.Errorf("search after Close: %v", err)
			}
			if _, err := x.SearchKeys(ctx, ds.Queries[0], 3, ds.Keys[:5]); !errors.Is(err, hnsw.ErrClosed) {
				t.Errorf("search keys after Close: %v", err)
			}
			if err := x.Add(ann.IntKey(-1), ds.Row(0)); !errors.Is(err, hnsw.ErrClosed) {
				t.Errorf("add after Close: %v", err)
			}
			if err := x.AddBatch(ctx, ds.Keys[:3], ds.Data[:3*ds.Dims]); !errors.Is(err, hnsw.ErrClosed) {
				t.Errorf("add batch after Close: %v", err)
			}
			if err := x.Save(&bytes.Buffer{}); !errors.Is(err, hnsw.ErrClosed) {
				t.Errorf("save after Close: %v", err)
			}
			if _, err := x.Requantize(ctx); err != nil && !errors.Is(err, hnsw.ErrClosed) {
				t.Errorf("requantize after Close: %v", err)
			}
			if x.Len() != 0 || x.Delete(ds.Keys[0]) {
				t.Errorf("closed index: Len %d, Delete found a key", x.Len())
			}
			if _, ok := x.Vector(ds.Keys[0]); ok {
				t.Error("closed index returned a vector")
			}
			x.Compact()
			x.Relink()
			x.Reorder()
		})
	}
}

// TestCloseWhileBusy closes an index while searches and inserts run: each search answers in full
// or fails with ErrClosed, nothing reads a released array (the race detector and the unmapped
// pages would say so), and nothing is allocated again after Close.
func TestCloseWhileBusy(t *testing.T) {
	ds := makeData(3000, 32, 20, false)
	x := build(t, ann.L2, ds, func(c *hnsw.Config) { c.Quantizer, c.KeepVectors = "sq8", true })
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if g == 0 {
					err = x.Add(ann.IntKey(int64(10000+i)), ds.Row(i%3000))
				} else {
					var res []ann.Result
					res, err = x.Search(ctx, ds.Queries[i%len(ds.Queries)], 10, ann.SearchOptions{})
					if err == nil && len(res) != 10 {
						err = errors.New("short answer")
					}
				}
				if errors.Is(err, hnsw.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for x.Len() < 3100 {
		runtime.Gosched()
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b := x.MemoryBytes(); b > 1<<16 {
		t.Errorf("MemoryBytes %d after Close: arrays allocated again", b)
	}
}

// TestVectorDir: a quantised index that keeps its vectors in a file (Config.VectorDir) answers
// exactly as one that keeps them in memory, through a reorder, a re-quantisation and a save and
// load; the file is unlinked (the directory stays empty) and goes with Close.
func TestVectorDir(t *testing.T) {
	for _, m := range []ann.Metric{ann.L2, ann.Cosine, ann.InnerProduct} {
		t.Run(m.Name(), func(t *testing.T) {
			dir := t.TempDir()
			ds := makeData(2500, 64, 30, m == ann.InnerProduct)
			sq := func(c *hnsw.Config) { c.Quantizer, c.KeepVectors, c.Threads = "sq8", true, 1 }
			mem := build(t, m, ds, sq)
			file := build(t, m, ds, func(c *hnsw.Config) { sq(c); c.VectorDir = dir })
			defer mem.Close()
			defer file.Close()
			same := func(when string, a, b *hnsw.Index) {
				t.Helper()
				for i, q := range ds.Queries {
					ra, err := a.Search(context.Background(), q, 10, ann.SearchOptions{})
					if err != nil {
						t.Fatal(err)
					}
					rb, err := b.Search(context.Background(), q, 10, ann.SearchOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(ra, rb) {
						t.Fatalf("%s: query %d: in memory %v, in a file %v", when, i, ra, rb)
					}
				}
			}
			same("built", mem, file)
			if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
				t.Fatalf("vector dir holds %v (%v): the file should be unlinked", ents, err)
			}
			if maps, err := os.ReadFile("/proc/self/maps"); err == nil && !strings.Contains(string(maps), dir+"/.hnsw-vectors-") {
				t.Fatalf("no mapping of a vector file in %s", dir)
			}
			file.DropResident()
			same("pages dropped", mem, file)
			if v, ok := file.Vector(ds.Keys[7]); !ok || !slices.Equal(v, ds.Row(7)) && m != ann.Cosine {
				t.Fatalf("vector from the file: %v %v", v, ok)
			}
			mem.Reorder()
			file.Reorder()
			same("reordered", mem, file)
			if _, err := file.Requantize(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := mem.Requantize(context.Background()); err != nil {
				t.Fatal(err)
			}
			same("requantized", mem, file)
			var buf bytes.Buffer
			if err := file.Save(&buf); err != nil {
				t.Fatal(err)
			}
			y, err := hnsw.Load(&buf, hnsw.Config{VectorDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer y.Close()
			same("loaded", mem, y)
		})
	}
}

// BenchmarkSearchVectorDir: what reading the reranked vectors from a file (pread) costs a
// search of an SQ8 twin, against vectors in (off-heap) memory. 1536-d, k 10, default ef.
func BenchmarkSearchVectorDir(b *testing.B) {
	ds := makeData(5000, 1536, 200, false)
	for _, c := range []struct {
		name string
		dir  string
	}{{"memory", ""}, {"file", b.TempDir()}} {
		x := build(b, ann.Cosine, ds, func(cfg *hnsw.Config) { cfg.Quantizer, cfg.KeepVectors, cfg.VectorDir = "sq8", true, c.dir })
		x.DropResident()
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				if _, err := x.Search(context.Background(), ds.Queries[i%len(ds.Queries)], 10, ann.SearchOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		x.Close()
	}
}
