package flat_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"go.uber.org/goleak"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func randVecs(r *rand.Rand, n, dims int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dims)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// reference computes the exact answer the slow way with ann.Metric.Distance.
func reference(m ann.Metric, keys []ann.Key, vecs [][]float32, q []float32, k int, farthest bool, keep func(ann.Key) bool) []ann.Result {
	var rs []ann.Result
	for i, v := range vecs {
		if keep != nil && !keep(keys[i]) {
			continue
		}
		rs = append(rs, ann.Result{Key: keys[i], Distance: m.Distance(q, v)})
	}
	sort.SliceStable(rs, func(a, b int) bool {
		if farthest {
			return rs[a].Distance > rs[b].Distance
		}
		return rs[a].Distance < rs[b].Distance
	})
	return rs[:min(k, len(rs))]
}

func sameResults(t *testing.T, got, want []ann.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i].Distance-want[i].Distance) > 1e-4*math.Max(1, math.Abs(want[i].Distance)) {
			t.Fatalf("result %d: distance %v, want %v", i, got[i].Distance, want[i].Distance)
		}
		// Keys may swap only on (near) ties.
		if got[i].Key != want[i].Key && math.Abs(got[i].Distance-want[i].Distance) > 1e-5 {
			t.Fatalf("result %d: key %v, want %v", i, got[i].Key, want[i].Key)
		}
	}
}

func build(t testing.TB, m ann.Metric, n, dims int, seed uint64) (*flat.Index, []ann.Key, [][]float32) {
	r := rand.New(rand.NewPCG(seed, 1))
	vecs := randVecs(r, n, dims)
	keys := make([]ann.Key, n)
	x, err := flat.New(flat.DefaultConfig(m, dims))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		keys[i] = ann.IntKey(int64(i * 3))
		if err := x.Add(keys[i], v); err != nil {
			t.Fatal(err)
		}
	}
	return x, keys, vecs
}

func TestExactMatchesReference(t *testing.T) {
	ctx := context.Background()
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine, ann.L1} {
		t.Run(m.Name(), func(t *testing.T) {
			// 3000 x 40 forces the parallel blocked path.
			x, keys, vecs := build(t, m, 3000, 40, 7)
			r := rand.New(rand.NewPCG(9, 9))
			for _, q := range randVecs(r, 5, 40) {
				for _, far := range []bool{false, true} {
					got, err := x.Search(ctx, q, 10, ann.SearchOptions{Farthest: far})
					if err != nil {
						t.Fatal(err)
					}
					sameResults(t, got, reference(m, keys, vecs, q, 10, far, nil))
				}
				even := func(k ann.Key) bool { return k.Int()%2 == 0 }
				got, err := x.Search(ctx, q, 7, ann.SearchOptions{Filter: even})
				if err != nil {
					t.Fatal(err)
				}
				sameResults(t, got, reference(m, keys, vecs, q, 7, false, even))
			}
		})
	}
}

func TestAllowedSubsetAndProgress(t *testing.T) {
	x, keys, vecs := build(t, ann.L2, 5000, 16, 3)
	allowed := []ann.Key{keys[10], keys[20], keys[4000], ann.IntKey(-1), keys[10]}
	in := map[ann.Key]bool{keys[10]: true, keys[20]: true, keys[4000]: true}
	q := vecs[0]
	res, err := x.SearchBatch(context.Background(), [][]float32{q}, 5, flat.BatchOptions{Allowed: allowed})
	if err != nil {
		t.Fatal(err)
	}
	sameResults(t, res[0], reference(ann.L2, keys, vecs, q, 5, false, func(k ann.Key) bool { return in[k] }))

	var last, calls int
	qs := randVecs(rand.New(rand.NewPCG(1, 1)), 40, 16)
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

func TestUpsertDelete(t *testing.T) {
	ctx := context.Background()
	x, keys, _ := build(t, ann.L2, 100, 4, 5)
	q := []float32{100, 100, 100, 100}
	if err := x.Add(keys[5], q); err != nil {
		t.Fatal(err)
	}
	if x.Len() != 100 {
		t.Fatalf("Len after upsert = %d", x.Len())
	}
	res, _ := x.Search(ctx, q, 1, ann.SearchOptions{})
	if res[0].Key != keys[5] || res[0].Distance != 0 {
		t.Fatalf("upserted vector not found: %+v", res)
	}
	if !x.Delete(keys[5]) || x.Delete(keys[5]) {
		t.Fatal("Delete reported wrong presence")
	}
	res, _ = x.Search(ctx, q, 100, ann.SearchOptions{})
	if len(res) != 99 || slices.ContainsFunc(res, func(r ann.Result) bool { return r.Key == keys[5] }) {
		t.Fatalf("deleted key returned or wrong count %d", len(res))
	}
	for _, k := range keys {
		x.Delete(k)
	}
	if _, err := x.Search(ctx, q, 1, ann.SearchOptions{}); !errors.Is(err, ann.ErrEmpty) {
		t.Fatalf("empty search err = %v", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	x, _, _ := build(t, ann.Cosine, 10, 3, 1)
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name string
		vec  []float32
		want error
	}{
		{"dims", []float32{1, 2}, ann.ErrDimension},
		{"nan", []float32{1, nan, 2}, ann.ErrNaN},
		{"inf", []float32{1, inf, 2}, ann.ErrInf},
		{"zero", []float32{0, 0, 0}, ann.ErrZeroVector},
	}
	for _, c := range cases {
		if err := x.Add(ann.IntKey(99), c.vec); !errors.Is(err, c.want) {
			t.Errorf("Add %s: %v, want %v", c.name, err, c.want)
		}
		if _, err := x.Search(ctx, c.vec, 1, ann.SearchOptions{}); !errors.Is(err, c.want) {
			t.Errorf("Search %s: %v, want %v", c.name, err, c.want)
		}
	}
	var de *ann.DimensionError
	if err := x.Add(ann.IntKey(1), []float32{1}); !errors.As(err, &de) || de.Want != 3 || de.Got != 1 {
		t.Errorf("DimensionError = %v", err)
	}
	if _, err := x.Search(ctx, []float32{1, 2, 3}, 0, ann.SearchOptions{}); !errors.Is(err, ann.ErrBadK) {
		t.Errorf("k=0: %v", err)
	}
	if _, err := flat.New(flat.Config{Metric: ann.L2}); err == nil {
		t.Error("dims 0 accepted")
	}
}

func TestSaveLoad(t *testing.T) {
	ctx := context.Background()
	x, _, vecs := build(t, ann.Cosine, 200, 8, 2)
	x.Add(ann.TextKey("hello"), vecs[3])
	x.Add(ann.UUIDKey([16]byte{1, 2, 3}), vecs[4])
	var buf bytes.Buffer
	if err := x.Save(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	y, err := flat.Load(bytes.NewReader(data), flat.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if y.Len() != x.Len() || y.Metric() != ann.Cosine || y.Dims() != 8 {
		t.Fatalf("loaded %d/%v/%d", y.Len(), y.Metric(), y.Dims())
	}
	a, _ := x.Search(ctx, vecs[3], 5, ann.SearchOptions{})
	b, _ := y.Search(ctx, vecs[3], 5, ann.SearchOptions{})
	if !slices.Equal(a, b) {
		t.Fatalf("results differ after load: %v vs %v", a, b)
	}
	for _, n := range []int{0, 10, 20, len(data) / 2, len(data) - 1} {
		if _, err := flat.Load(bytes.NewReader(data[:n]), flat.Config{}); !errors.Is(err, ann.ErrCorrupt) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	bad := slices.Clone(data)
	bad[len(bad)/2] ^= 1
	if _, err := flat.Load(bytes.NewReader(bad), flat.Config{}); !errors.Is(err, ann.ErrCorrupt) {
		t.Errorf("flipped bit: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	x, _, _ := build(f, ann.L2, 5, 3, 1)
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
	vecs := randVecs(r, 2000, 12)
	data := slices.Concat(vecs...)
	keys := make([]ann.Key, len(vecs))
	for i := range keys {
		keys[i] = ann.IntKey(int64(i))
	}
	qs := randVecs(r, 70, 12)
	gt, err := flat.GroundTruth(context.Background(), ann.InnerProduct, 12, data, qs, 5, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range qs {
		want := reference(ann.InnerProduct, keys, vecs, q, 5, false, nil)
		for j := range want {
			if int64(gt[i][j]) != want[j].Key.Int() {
				t.Fatalf("query %d rank %d: %d want %d", i, j, gt[i][j], want[j].Key.Int())
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := flat.GroundTruth(ctx, ann.L2, 12, data, qs, 5, 2, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func BenchmarkSearch(b *testing.B) {
	for _, dims := range []int{128, 1536} {
		n := 20000
		x, _, vecs := build(b, ann.InnerProduct, n, dims, 1)
		b.Run(ann.InnerProduct.Name()+"/"+itoa(dims), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				x.Search(context.Background(), vecs[i%n], 10, ann.SearchOptions{})
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)*1e9/float64(n), "ns/row")
			b.ReportMetric(float64(n*dims*4)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}

func itoa(n int) string {
	return string(rune('0'+n/1000%10)) + string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}
