package hnsw_test

import (
	"io"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/internal/anntest"
)

// TestConformance runs the ann.Index contract on float32 graphs and on SQ8 graphs with and
// without the vectors kept for the rerank. A search with ef 400 on the suite's sets of at most
// 400 rows ranks every row.
func TestConformance(t *testing.T) {
	for _, v := range []struct {
		name      string
		quantizer string
		keep      bool
	}{{"float32", "", false}, {"sq8+vectors", "sq8", true}, {"sq8", "sq8", false}} {
		t.Run(v.name, func(t *testing.T) {
			anntest.Conformance(t, anntest.Impl{
				New: func(m ann.Metric, dims int) (ann.Index, error) {
					cfg := hnsw.DefaultConfig(m, dims)
					cfg.Seed, cfg.Quantizer, cfg.KeepVectors = 1, v.quantizer, v.keep
					return hnsw.New(cfg)
				},
				Load:       func(r io.Reader) (ann.Index, error) { return hnsw.Load(r, hnsw.Config{}) },
				Exhaustive: ann.SearchOptions{EF: 400, Oversample: 1000},
				Estimates:  v.quantizer != "" && !v.keep,
			})
		})
	}
}
