package hnsw_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
)

// TestSearchKeys: the exact search over a key list ranks exactly those keys (absent and deleted
// ones skipped) with pgvector's distances, for every metric; a codes-only index refuses.
func TestSearchKeys(t *testing.T) {
	const n, d = 500, 8
	r := rand.New(rand.NewPCG(1, 2))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, d)
		for j := range vecs[i] {
			vecs[i][j] = float32(r.NormFloat64())
		}
	}
	q := vecs[0]
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine, ann.L1} {
		x, err := hnsw.New(hnsw.DefaultConfig(m, d))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vecs {
			if err := x.Add(ann.IntKey(int64(i)), v); err != nil {
				t.Fatal(err)
			}
		}
		x.Delete(ann.IntKey(3))
		var keys []ann.Key
		for i := 0; i < n; i += 3 {
			keys = append(keys, ann.IntKey(int64(i)))
		}
		keys = append(keys, ann.IntKey(9999)) // not in the index
		got, err := x.SearchKeys(context.Background(), q, 10, keys)
		if err != nil {
			t.Fatal(err)
		}
		type kd struct {
			k int64
			d float64
		}
		var want []kd
		for i := 6; i < n; i += 3 { // 0 and 3: 0 is q itself (kept), 3 is deleted
			want = append(want, kd{int64(i), m.Distance(q, vecs[i])})
		}
		want = append(want, kd{0, m.Distance(q, vecs[0])})
		sort.Slice(want, func(a, b int) bool { return want[a].d < want[b].d })
		for i := range got {
			if got[i].Key.Int() != want[i].k || math.Abs(got[i].Distance-want[i].d) > 1e-5*math.Max(1, math.Abs(want[i].d)) {
				t.Fatalf("%v: #%d %v %g, want %d %g", m, i, got[i].Key, got[i].Distance, want[i].k, want[i].d)
			}
		}
		if len(got) != 10 {
			t.Fatalf("%v: %d results", m, len(got))
		}
		few, err := x.SearchKeys(context.Background(), q, 10, keys[:4])
		if err != nil || len(few) != 3 { // 0, 6, 9 (3 is deleted)
			t.Fatalf("%v: %v %v", m, few, err)
		}
	}
	cfg := hnsw.DefaultConfig(ann.L2, d)
	cfg.Quantizer = "sq8"
	x, err := hnsw.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.SearchKeys(context.Background(), q, 10, nil); !errors.Is(err, ann.ErrUnsupported) {
		t.Fatalf("codes only: %v", err)
	}
}
