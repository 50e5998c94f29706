package ivf_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/ivf"
	"github.com/vecgate/vecgate/internal/anntest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// makeData returns n clustered rows of dims floats (40 clusters, seed 5) and nq queries.
func makeData(n, dims, nq int, normalize bool) anntest.Dataset {
	return anntest.Clustered(n, dims, nq, 40, 5, normalize)
}

func build(t *testing.T, cfg ivf.Config, ds anntest.Dataset) *ivf.Index {
	t.Helper()
	x, err := ivf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.AddBatch(context.Background(), ds.Keys, ds.Data); err != nil {
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
				all := anntest.Recall(t, x, m, ds, 10, ann.SearchOptions{Probes: 16}, nil)
				some := anntest.Recall(t, x, m, ds, 10, ann.SearchOptions{Probes: 4}, nil)
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
		if err := x.Add(ds.Keys[i], ds.Row(i)); err != nil {
			t.Fatal(err)
		}
	}
	if x.Trained() {
		t.Fatal("trained before TrainRows")
	}
	keep999 := func(i int) bool { return i < 999 }
	if r := anntest.Recall(t, x, ann.L2, ds, 5, ann.SearchOptions{}, keep999); r != 1 {
		t.Fatalf("pending scan recall %.3f, want exact", r)
	}
	for i := 999; i < 1500; i++ {
		x.Add(ds.Keys[i], ds.Row(i))
	}
	if !x.Trained() || x.Len() != 1500 {
		t.Fatalf("trained %v len %d", x.Trained(), x.Len())
	}
	for i := 0; i < 1500; i += 2 {
		if !x.Delete(ds.Keys[i]) {
			t.Fatal("delete missed")
		}
	}
	odd := func(i int) bool { return i%2 == 1 }
	if r := anntest.Recall(t, x, ann.L2, ds, 5, ann.SearchOptions{Probes: 8}, odd); r != 1 {
		t.Fatalf("all-probe recall after deletes %.3f", r)
	}
	// A selective filter widens probes until k rows are found.
	rare := func(i int) bool { return i%2 == 1 && i%50 == 1 }
	res, err := x.Search(context.Background(), ds.Queries[0], 10, ann.SearchOptions{Probes: 1,
		Filter: func(k ann.Key) bool { return rare(int(k.Int())) }})
	if err != nil || len(res) != 10 {
		t.Fatalf("filtered search: %d results, %v", len(res), err)
	}
	// Upsert moves the vector.
	far := []float32{40, 40, 40, 40, 40, 40, 40, 40}
	x.Add(ds.Keys[1], far)
	res, _ = x.Search(context.Background(), far, 1, ann.SearchOptions{Probes: 8})
	if res[0].Key != ds.Keys[1] || res[0].Distance != 0 {
		t.Fatalf("upsert: %v", res)
	}
}

func TestDriftRetrain(t *testing.T) {
	ds := makeData(2000, 8, 10, false)
	cfg := ivf.DefaultConfig(ann.L2, 8)
	cfg.Lists = 8
	x := build(t, cfg, anntest.Dataset{Dims: 8, Data: ds.Data[:1000*8], Keys: ds.Keys[:1000]})
	for i := 1000; i < 2000; i++ {
		v := ds.Row(i)
		shifted := make([]float32, 8)
		for j := range v {
			shifted[j] = v[j] + 20
		}
		x.Add(ds.Keys[i], shifted)
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

// TestBadInputAndSaveLoad: what is IVF's own (bad vectors, damaged files and round trips of
// every code kind are TestConformance's): configurations refused, an untrained index saved.
func TestBadInputAndSaveLoad(t *testing.T) {
	if _, err := ivf.New(ivf.Config{Dims: 4, Codes: "pq", Metric: ann.L1}); !errors.Is(err, ann.ErrUnsupported) {
		t.Errorf("pq with L1: %v", err)
	}
	// An untrained index (pending only) round-trips.
	x, _ := ivf.New(ivf.DefaultConfig(ann.Cosine, 4))
	x.Add(ann.TextKey("a"), []float32{1, 2, 3, 4})
	var buf bytes.Buffer
	if err := x.Save(&buf); err != nil {
		t.Fatal(err)
	}
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
		x.AddBatch(context.Background(), ds.Keys, ds.Data)
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
		x.AddBatch(context.Background(), ds.Keys, ds.Data)
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
