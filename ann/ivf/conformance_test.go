package ivf_test

import (
	"io"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/ivf"
	"github.com/vecgate/vecgate/internal/anntest"
)

// TestConformance runs the ann.Index contract on every code kind, with the vectors kept for the
// rerank and (quantised) without. Four lists, trained once 100 rows are pending; probing all four
// with a rerank of every candidate ranks every row.
func TestConformance(t *testing.T) {
	for _, codes := range []string{ivf.CodesFlat, ivf.CodesSQ8, ivf.CodesPQ, ivf.CodesBinary} {
		for _, keep := range []bool{true, false} {
			if codes == ivf.CodesFlat && !keep {
				continue
			}
			name := codes
			if codes != ivf.CodesFlat && keep {
				name += "+vectors"
			}
			t.Run(name, func(t *testing.T) {
				anntest.Conformance(t, anntest.Impl{
					New: func(m ann.Metric, dims int) (ann.Index, error) {
						cfg := ivf.DefaultConfig(m, dims)
						cfg.Lists, cfg.TrainRows, cfg.Seed, cfg.PQSegments = 4, 100, 1, 4
						cfg.Codes, cfg.KeepVectors = codes, keep
						return ivf.New(cfg)
					},
					Load:       func(r io.Reader) (ann.Index, error) { return ivf.Load(r, ivf.Config{}) },
					Exhaustive: ann.SearchOptions{Probes: 4, Oversample: 1000},
					Estimates:  codes != ivf.CodesFlat && !keep,
				})
			})
		}
	}
}
