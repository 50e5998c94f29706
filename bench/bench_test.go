package bench_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/bench"
)

func TestFvecsIvecsRoundTrip(t *testing.T) {
	data := bench.Clustered(bench.GenConfig{N: 50, Dims: 7, Seed: 3})
	var buf bytes.Buffer
	if err := bench.WriteFvecs(&buf, data, 7); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 50*(4+7*4) {
		t.Fatalf("fvecs size %d", buf.Len())
	}
	got, dims, err := bench.ReadFvecs(&buf)
	if err != nil || dims != 7 || len(got) != len(data) {
		t.Fatalf("read: %v %d %d", err, dims, len(got))
	}
	for i := range got {
		if got[i] != data[i] {
			t.Fatal("fvecs round trip changed data")
		}
	}
	rows := [][]int32{{1, 2, 3}, {4, 5, 6}}
	buf.Reset()
	bench.WriteIvecs(&buf, rows)
	back, err := bench.ReadIvecs(&buf)
	if err != nil || len(back) != 2 || back[1][2] != 6 {
		t.Fatalf("ivecs: %v %v", err, back)
	}
	if _, _, err := bench.ReadFvecs(bytes.NewReader([]byte{7, 0, 0, 0, 1})); err == nil {
		t.Fatal("truncated fvecs accepted")
	}
	if _, _, err := bench.ReadFvecs(bytes.NewReader([]byte{0, 0, 0, 0x80})); err == nil {
		t.Fatal("negative dimension accepted")
	}
}

func TestGeneratorSeeded(t *testing.T) {
	cfg := bench.GenConfig{N: 100, Dims: 5, Seed: 9, Normalize: true}
	a, b := bench.Clustered(cfg), bench.Clustered(cfg)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("generator not deterministic")
		}
	}
	cfg.Seed = 10
	if c := bench.Clustered(cfg); c[0] == a[0] {
		t.Fatal("seed ignored")
	}
}

func TestRecallAndEngine(t *testing.T) {
	if r := bench.Recall([][]int32{{1, 2}, {3, 4}}, [][]int32{{2, 1}, {3, 9}}, 2); r != 0.75 {
		t.Fatalf("Recall = %v", r)
	}
	cfg := bench.GenConfig{N: 2000, Dims: 16, Seed: 1}
	data := bench.Clustered(cfg)
	qs := bench.ClusteredQueries(cfg, 20)
	truth, err := flat.GroundTruth(context.Background(), ann.L2, 16, data, bench.Rows(qs, 16), 10, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []bench.IndexSpec{
		{Kind: "flat", Metric: ann.L2},
		{Kind: "hnsw", Metric: ann.L2, M: 8, EFConstruction: 40},
		{Kind: "hnsw", Quantizer: "sq8", Metric: ann.L2, M: 8, EFConstruction: 40},
		{Kind: "ivf", Quantizer: "pq", Metric: ann.L2, Lists: 8, PQSegments: 8},
		{Kind: "flat", Quantizer: "binary", Metric: ann.L2, Oversample: 10},
	} {
		b, err := bench.NewBuilder(spec)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := bench.RunEngine(context.Background(), bench.EngineConfig{
			Name: spec.Label(), Build: b, Data: data, Dims: 16, Queries: qs, Truth: truth, K: 10, Threads: 2,
			Settings: []bench.Setting{{Label: "a", Opts: ann.SearchOptions{EF: 64, Probes: 8}}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rows[0].Recall < 0.5 || rows[0].QPS1 <= 0 || rows[0].BytesPerVector <= 0 {
			t.Errorf("%s: %+v", spec.Label(), rows[0])
		}
	}
	if _, err := bench.NewBuilder(bench.IndexSpec{Kind: "hnsw", Quantizer: "pq"}); err == nil {
		t.Error("hnsw+pq accepted")
	}
}
