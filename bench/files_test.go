package bench

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/vecgate/vecgate/ann"
)

// TestRunEngineFiles: bench engine over files: one row per swept setting, exact search finds the
// exact neighbours, and queries of another dimension are refused.
func TestRunEngineFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := GenConfig{N: 500, Dims: 8, Seed: 3}
	write := func(name string, data []float32, dims int) string {
		p := filepath.Join(dir, name)
		if err := WriteFile(p, func(w io.Writer) error { return WriteFvecs(w, data, dims) }); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := EngineFiles{Data: write("base.fvecs", Clustered(cfg), 8), Queries: write("q.fvecs", ClusteredQueries(cfg, 20), 8),
		Spec: IndexSpec{Kind: "flat", Metric: ann.L2, Threads: 1}, K: 5}
	rows, err := RunEngineFiles(context.Background(), f, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Recall != 1 || rows[0].Setting != "exact" {
		t.Errorf("flat: %+v", rows)
	}
	f.Spec = IndexSpec{Kind: "ivf", Metric: ann.L2, Lists: 4, Threads: 1, Seed: 1}
	f.Probes = []int{1, 4}
	if rows, err = RunEngineFiles(context.Background(), f, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Setting != "probes=1" || rows[1].Recall != 1 {
		t.Errorf("ivf, probes 1 and 4 of 4 lists: %+v", rows)
	}
	f.Queries = write("q4.fvecs", make([]float32, 8), 4)
	var de *ann.DimensionError
	if _, err := RunEngineFiles(context.Background(), f, io.Discard, io.Discard); !errors.As(err, &de) {
		t.Errorf("queries of 4 dims over 8: %v", err)
	}
}
