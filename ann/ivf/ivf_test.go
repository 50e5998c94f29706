package ivf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"math"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/ann/ivf"
	"github.com/vecgate/vecgate/bench"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type dataset struct {
	dims    int
	data    []float32
	queries [][]float32
	keys    []ann.Key
}

func makeData(n, dims, nq int, normalize bool) dataset {
	cfg := bench.GenConfig{N: n, Dims: dims, Clusters: 40, Seed: 5, Normalize: normalize}
	ds := dataset{dims: dims, data: bench.Clustered(cfg), queries: bench.Rows(bench.ClusteredQueries(cfg, nq), dims)}
	for i := range n {
		ds.keys = append(ds.keys, ann.IntKey(int64(i)))
	}
	return ds
}

func (ds dataset) row(i int) []float32 { return ds.data[i*ds.dims : (i+1)*ds.dims] }

func recall(t *testing.T, x ann.Index, m ann.Metric, ds dataset, k int, opts ann.SearchOptions, keep func(int) bool) float64 {
	t.Helper()
	ex, _ := flat.New(flat.DefaultConfig(m, ds.dims))
	for i, key := range ds.keys {
		if keep == nil || keep(i) {
			ex.Add(key, ds.row(i))
		}
	}
	hit, total := 0, 0
	for _, q := range ds.queries {
		want, _ := ex.Search(context.Background(), q, k, ann.SearchOptions{})
		got, err := x.Search(context.Background(), q, k, opts)
		if err != nil {
			t.Fatal(err)
		}
		set := map[ann.Key]bool{}
		for _, r := range want {
			set[r.Key] = true
		}
		for _, r := range got {
			if keep != nil && !keep(int(r.Key.Int())) {
				t.Fatalf("excluded key %v returned", r.Key)
			}
			if set[r.Key] {
				hit++
			}
		}
		total += len(want)
	}
	return float64(hit) / float64(total)
}

func build(t *testing.T, cfg ivf.Config, ds dataset) *ivf.Index {
	t.Helper()
	x, err := ivf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.AddBatch(context.Background(), ds.keys, ds.data); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestRecallCodesAndMetrics(t *testing.T) {
	type tc struct {
		codes string
		keep  bool
		min   float64 // recall@10 with all probes
	}
	cases := []tc{{"flat", false, 0.999}, {"sq8", false, 0.85}, {"sq8", true, 0.99}, {"pq", true, 0.9}, {"binary", true, 0.6}} // 32 bits per vector here
	for _, m := range []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine} {
		ds := makeData(3000, 32, 30, m == ann.InnerProduct)
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s/keep=%v", m.Name(), c.codes, c.keep), func(t *testing.T) {
				cfg := ivf.DefaultConfig(m, 32)
				cfg.Lists, cfg.Codes, cfg.KeepVectors, cfg.Seed = 16, c.codes, c.keep, 1
				cfg.PQSegments = 16
				x := build(t, cfg, ds)
				all := recall(t, x, m, ds, 10, ann.SearchOptions{Probes: 16}, nil)
				some := recall(t, x, m, ds, 10, ann.SearchOptions{Probes: 4}, nil)
				t.Logf("recall@10 probes=16 %.3f probes=4 %.3f, %d bytes", all, some, x.MemoryBytes())
				if all < c.min {
					t.Errorf("recall %.3f < %.3f", all, c.min)
				}
				if some > all+0.02 {
					t.Errorf("fewer probes gave better recall: %.3f > %.3f", some, all)
				}
			})
		}
	}
}

func TestPendingTrainDeleteFilter(t *testing.T) {
	ds := makeData(1500, 8, 20, false)
	cfg := ivf.DefaultConfig(ann.L2, 8)
	cfg.Lists, cfg.TrainRows = 8, 1000
	x, _ := ivf.New(cfg)
	for i := range 999 {
		if err := x.Add(ds.keys[i], ds.row(i)); err != nil {
			t.Fatal(err)
		}
	}
	if x.Trained() {
		t.Fatal("trained before TrainRows")
	}
	keep999 := func(i int) bool { return i < 999 }
	if r := recall(t, x, ann.L2, ds, 5, ann.SearchOptions{}, keep999); r != 1 {
		t.Fatalf("pending scan recall %.3f, want exact", r)
	}
	for i := 999; i < 1500; i++ {
		x.Add(ds.keys[i], ds.row(i))
	}
	if !x.Trained() || x.Len() != 1500 {
		t.Fatalf("trained %v len %d", x.Trained(), x.Len())
	}
	for i := 0; i < 1500; i += 2 {
		if !x.Delete(ds.keys[i]) {
			t.Fatal("delete missed")
		}
	}
	odd := func(i int) bool { return i%2 == 1 }
	if r := recall(t, x, ann.L2, ds, 5, ann.SearchOptions{Probes: 8}, odd); r != 1 {
		t.Fatalf("all-probe recall after deletes %.3f", r)
	}
	// A selective filter widens probes until k rows are found.
	rare := func(i int) bool { return i%2 == 1 && i%50 == 1 }
	res, err := x.Search(context.Background(), ds.queries[0], 10, ann.SearchOptions{Probes: 1,
		Filter: func(k ann.Key) bool { return rare(int(k.Int())) }})
	if err != nil || len(res) != 10 {
		t.Fatalf("filtered search: %d results, %v", len(res), err)
	}
	// Upsert moves the vector.
	far := []float32{40, 40, 40, 40, 40, 40, 40, 40}
	x.Add(ds.keys[1], far)
	res, _ = x.Search(context.Background(), far, 1, ann.SearchOptions{Probes: 8})
	if res[0].Key != ds.keys[1] || res[0].Distance != 0 {
		t.Fatalf("upsert: %v", res)
	}
}

func TestDriftRetrain(t *testing.T) {
	ds := makeData(2000, 8, 10, false)
	cfg := ivf.DefaultConfig(ann.L2, 8)
	cfg.Lists = 8
	x := build(t, cfg, dataset{dims: 8, data: ds.data[:1000*8], keys: ds.keys[:1000]})
	for i := 1000; i < 2000; i++ {
		v := ds.row(i)
		shifted := make([]float32, 8)
		for j := range v {
			shifted[j] = v[j] + 20
		}
		x.Add(ds.keys[i], shifted)
	}
	if d := x.Drift(); d < 1.5 {
		t.Fatalf("drift %.2f after shifting half the data", d)
	}
	if err := x.Retrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := x.Drift(); d != 0 {
		t.Fatalf("drift %.2f right after retrain", d)
	}
	if x.Len() != 2000 {
		t.Fatalf("Len %d", x.Len())
	}
}

func TestBadInputAndSaveLoad(t *testing.T) {
	ctx := context.Background()
	x, _ := ivf.New(ivf.DefaultConfig(ann.Cosine, 4))
	if _, err := x.Search(ctx, []float32{1, 2, 3, 4}, 1, ann.SearchOptions{}); !errors.Is(err, ann.ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	if err := x.Add(ann.IntKey(1), []float32{0, 0, 0, 0}); !errors.Is(err, ann.ErrZeroVector) {
		t.Errorf("zero: %v", err)
	}
	if err := x.Add(ann.IntKey(1), []float32{1, float32(math.NaN()), 0, 0}); !errors.Is(err, ann.ErrNaN) {
		t.Errorf("nan: %v", err)
	}
	if _, err := ivf.New(ivf.Config{Dims: 4, Codes: "pq", Metric: ann.L1}); err == nil {
		t.Error("pq with L1 accepted")
	}
	for _, codes := range []string{"flat", "sq8", "pq", "binary"} {
		ds := makeData(600, 8, 5, false)
		cfg := ivf.DefaultConfig(ann.L2, 8)
		cfg.Lists, cfg.Codes, cfg.KeepVectors, cfg.PQSegments = 4, codes, codes == "binary", 4
		y := build(t, cfg, ds)
		y.Delete(ds.keys[7])
		var buf bytes.Buffer
		if err := y.Save(&buf); err != nil {
			t.Fatal(err)
		}
		data := buf.Bytes()
		z, err := ivf.Load(bytes.NewReader(data), ivf.Config{})
		if err != nil {
			t.Fatalf("%s: %v", codes, err)
		}
		for _, q := range ds.queries {
			a, _ := y.Search(ctx, q, 5, ann.SearchOptions{Probes: 2})
			b, _ := z.Search(ctx, q, 5, ann.SearchOptions{Probes: 2})
			if !slices.Equal(a, b) {
				t.Fatalf("%s: results differ after load", codes)
			}
		}
		for _, n := range []int{0, 20, len(data) / 2, len(data) - 1} {
			if _, err := ivf.Load(bytes.NewReader(data[:n]), ivf.Config{}); !errors.Is(err, ann.ErrCorrupt) {
				t.Errorf("%s truncated at %d: %v", codes, n, err)
			}
		}
	}
	// An untrained index (pending only) round-trips too.
	x.Add(ann.TextKey("a"), []float32{1, 2, 3, 4})
	var buf bytes.Buffer
	x.Save(&buf)
	z, err := ivf.Load(&buf, ivf.Config{})
	if err != nil || z.Len() != 1 || z.Trained() {
		t.Fatalf("pending round trip: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, codes := range []string{"flat", "sq8", "pq", "binary"} {
		cfg := ivf.DefaultConfig(ann.L2, 4)
		cfg.Lists, cfg.Codes, cfg.PQSegments = 2, codes, 2
		x, _ := ivf.New(cfg)
		ds := makeData(40, 4, 1, false)
		x.AddBatch(context.Background(), ds.keys, ds.data)
		var buf bytes.Buffer
		x.Save(&buf)
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := ivf.Load(bytes.NewReader(data), ivf.Config{})
		if err != nil {
			return
		}
		x.Search(context.Background(), []float32{1, 2, 3, 4}, 3, ann.SearchOptions{Probes: 2})
		x.Add(ann.IntKey(-5), []float32{1, 1, 1, 1})
	})
}

// FuzzLoadChecksummed mutates a valid file and fixes its checksum, so the
// structural checks behind the checksum are exercised.
func FuzzLoadChecksummed(f *testing.F) {
	var files [][]byte
	for _, codes := range []string{"flat", "sq8", "pq", "binary"} {
		cfg := ivf.DefaultConfig(ann.L2, 4)
		cfg.Lists, cfg.Codes, cfg.PQSegments, cfg.KeepVectors = 2, codes, 2, codes == "sq8"
		x, _ := ivf.New(cfg)
		ds := makeData(40, 4, 1, false)
		x.AddBatch(context.Background(), ds.keys, ds.data)
		var buf bytes.Buffer
		x.Save(&buf)
		files = append(files, buf.Bytes())
	}
	f.Add(uint8(0), uint32(100), byte(7), uint32(0))
	f.Add(uint8(2), uint32(60), byte(0x80), uint32(3))
	f.Fuzz(func(t *testing.T, which uint8, pos uint32, val byte, cut uint32) {
		orig := files[int(which)%len(files)]
		body := slices.Clone(orig[:len(orig)-8])
		body[int(pos)%len(body)] ^= val
		if cut > 0 {
			body = body[:len(body)-int(cut)%len(body)]
		}
		sum := crc64.Checksum(body, crc64.MakeTable(crc64.ECMA))
		data := binary.LittleEndian.AppendUint64(body, sum)
		x, err := ivf.Load(bytes.NewReader(data), ivf.Config{})
		if err != nil {
			if !errors.Is(err, ann.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		x.Search(context.Background(), []float32{1, 2, 3, 4}, 3, ann.SearchOptions{Probes: 2})
		x.Add(ann.IntKey(-5), []float32{1, 1, 1, 1})
		x.Delete(ann.IntKey(3))
		x.Retrain(context.Background())
	})
}
