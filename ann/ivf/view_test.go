package ivf_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/ivf"
)

// TestViewWhileWriting: a View written while rows are added (new keys and upserts) and deleted —
// in cells and among the pending rows — and a retrain swaps in new cells holds exactly the
// bytes Save wrote just before it was frozen; the index keeps every change and loads again.
func TestViewWhileWriting(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  ivf.Config
	}{
		{"flat", ivf.Config{Metric: ann.L2, Dims: 16, Lists: 20}},
		{"sq8-vectors", ivf.Config{Metric: ann.Cosine, Dims: 16, Lists: 20, Codes: ivf.CodesSQ8, KeepVectors: true}},
		{"pq", ivf.Config{Metric: ann.L2, Dims: 16, Lists: 10, Codes: ivf.CodesPQ, PQSegments: 4}},
		{"binary", ivf.Config{Metric: ann.Cosine, Dims: 64, Lists: 10, Codes: ivf.CodesBinary, KeepVectors: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds := makeData(3000, c.cfg.Dims, 5, c.cfg.Metric == ann.Cosine)
			x := build(t, c.cfg, ds)
			rng := rand.New(rand.NewPCG(3, 4))
			d := c.cfg.Dims
			vec := func() []float32 {
				v := make([]float32, d)
				for i := range v {
					v[i] = rng.Float32()*20 - 10 // far out: some rows drift to the pending rows
				}
				return v
			}
			for i := range 50 { // pending (drifted) rows before the freeze, some deleted after
				if err := x.Add(ann.IntKey(int64(10000+i)), vec()); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 100 {
				x.Delete(ds.Keys[i])
			}
			var ref bytes.Buffer
			if err := x.Save(&ref); err != nil {
				t.Fatal(err)
			}
			v := x.Freeze()
			var wg sync.WaitGroup
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(5, 6))
				for i := range 300 {
					k := ann.IntKey(int64(20000 + i))
					if i%3 == 1 {
						k = ds.Keys[500+i]
					}
					v := make([]float32, d)
					for j := range v {
						v[j] = rng.Float32()*2 - 1
					}
					if i%10 == 0 {
						for j := range v {
							v[j] *= 40
						}
					}
					if err := x.Add(k, v); err != nil {
						t.Error(err)
						return
					}
					x.Delete(ds.Keys[1000+i])
					if i%25 == 0 {
						x.Delete(ann.IntKey(int64(10000 + i/25)))
					}
					if i == 150 {
						if err := x.Retrain(context.Background()); err != nil {
							t.Error(err)
						}
					}
				}
			})
			var got bytes.Buffer
			if err := v.Write(&got); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			v.Release()
			if !bytes.Equal(got.Bytes(), ref.Bytes()) {
				t.Fatalf("the view wrote %d bytes unlike Save's %d before the changes", got.Len(), ref.Len())
			}
			y, err := ivf.Load(bytes.NewReader(got.Bytes()), ivf.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if want := 3000 + 50 - 100; y.Len() != want {
				t.Fatalf("the view's file holds %d rows, want %d", y.Len(), want)
			}
			var after bytes.Buffer
			if err := x.Save(&after); err != nil {
				t.Fatal(err)
			}
			z, err := ivf.Load(&after, ivf.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if z.Len() != x.Len() {
				t.Fatalf("saved after the view: %d rows, the index %d", z.Len(), x.Len())
			}
		})
	}
}
