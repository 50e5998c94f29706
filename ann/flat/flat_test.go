package flat_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/internal/anntest"
)

// The contract every index keeps (upserts, deletes, filters, save/load, bad input) is checked by
// TestConformance; this file checks what is flat's own: the parallel blocked scan, Farthest,
// SearchBatch and GroundTruth.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// build returns a flat index over n random rows (keys 3·row, so keys are not row numbers).
func build(t testing.TB, m ann.Metric, n, dims int, seed uint64) (*flat.Index, anntest.Dataset) {
	ds := anntest.Random(n, dims, 5, seed)
	for i := range ds.Keys {
		ds.Keys[i] = ann.IntKey(int64(i * 3))
	}
	x, err := flat.New(flat.DefaultConfig(m, dims))
	if err != nil {
		t.Fatal(err)
	}
	for i, key := range ds.Keys {
		if err := x.Add(key, ds.Row(i)); err != nil {
			t.Fatal(err)
		}
	}
	return x, ds
}

func TestExactMatchesReference(t *testing.T) {
	ctx := context.Background()
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine, ann.L1} {
		t.Run(m.Name(), func(t *testing.T) {
			// 3000 x 40 forces the parallel blocked path.
			x, ds := build(t, m, 3000, 40, 7)
			for _, q := range ds.Queries {
				for _, far := range []bool{false, true} {
					got, err := x.Search(ctx, q, 10, ann.SearchOptions{Farthest: far})
					if err != nil {
						t.Fatal(err)
					}
					anntest.SameResults(t, got, anntest.Exact(m, ds, q, 10, far, nil))
				}
				even := func(k ann.Key) bool { return k.Int()%2 == 0 }
				got, err := x.Search(ctx, q, 7, ann.SearchOptions{Filter: even})
				if err != nil {
					t.Fatal(err)
				}
				anntest.SameResults(t, got, anntest.Exact(m, ds, q, 7, false, func(i int) bool { return even(ds.Keys[i]) }))
			}
		})
	}
}

func TestAllowedSubsetAndProgress(t *testing.T) {
	x, ds := build(t, ann.L2, 5000, 16, 3)
	keys := ds.Keys
	allowed := []ann.Key{keys[10], keys[20], keys[4000], ann.IntKey(-1), keys[10]}
	in := map[ann.Key]bool{keys[10]: true, keys[20]: true, keys[4000]: true}
	q := ds.Row(0)
	res, err := x.SearchBatch(context.Background(), [][]float32{q}, 5, flat.BatchOptions{Allowed: allowed})
	if err != nil {
		t.Fatal(err)
	}
	anntest.SameResults(t, res[0], anntest.Exact(ann.L2, ds, q, 5, false, func(i int) bool { return in[keys[i]] }))

	var last, calls int
	qs := anntest.Random(40, 16, 40, 1).Queries
	_, err = x.SearchBatch(context.Background(), qs, 3, flat.BatchOptions{Progress: func(done, total int) {
		if done < last || total != 5000 {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
		calls++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if last != 5000 || calls == 0 {
		t.Errorf("progress ended at %d after %d calls", last, calls)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := flat.New(flat.Config{Metric: ann.L2}); err == nil {
		t.Error("dims 0 accepted")
	}
}

func FuzzLoad(f *testing.F) {
	x, _ := build(f, ann.L2, 5, 3, 1)
	var buf bytes.Buffer
	x.Save(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("VECGATE\x00FLAT\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		y, err := flat.Load(bytes.NewReader(data), flat.Config{})
		if err == nil {
			y.Search(context.Background(), make([]float32, y.Dims()), 1, ann.SearchOptions{})
		}
	})
}

func TestGroundTruth(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	ds := anntest.Random(2000, 12, 0, 4)
	var qs [][]float32
	for range 70 {
		qs = append(qs, anntest.RandomVector(r, 12))
	}
	gt, err := flat.GroundTruth(context.Background(), ann.InnerProduct, 12, ds.Data, qs, 5, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		want := anntest.Exact(ann.InnerProduct, ds, q, 5, false, nil)
		for j := range want {
			if int64(gt[i][j]) != want[j].Key.Int() {
				t.Fatalf("query %d rank %d: %d want %d", i, j, gt[i][j], want[j].Key.Int())
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := flat.GroundTruth(ctx, ann.L2, 12, ds.Data, qs, 5, 2, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func BenchmarkSearch(b *testing.B) {
	for _, dims := range []int{128, 1536} {
		n := 20000
		x, ds := build(b, ann.InnerProduct, n, dims, 1)
		b.Run(ann.InnerProduct.Name()+"/"+strconv.Itoa(dims), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				x.Search(context.Background(), ds.Row(i%n), 10, ann.SearchOptions{})
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)*1e9/float64(n), "ns/row")
			b.ReportMetric(float64(n*dims*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
