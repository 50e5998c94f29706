package bench

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/ann/ivf"
)

// IndexSpec names an index configuration for the engine benchmark.
type IndexSpec struct {
	Kind           string // flat | hnsw | ivf
	Quantizer      string // none | sq8 | binary | pq
	Metric         ann.Metric
	M              int
	EFConstruction int
	Lists          int
	PQSegments     int
	Oversample     float64
	// CodesOnly drops the float32 vectors of a quantised index (no
	// in-memory rerank; distances are estimates).
	CodesOnly bool
	Threads   int
	Seed      uint64
}

// Label returns a short description, e.g. "hnsw m=16 efc=64".
func (s IndexSpec) Label() string {
	l := s.Kind
	switch s.Kind {
	case "hnsw":
		l += " m=" + strconv.Itoa(s.M) + " efc=" + strconv.Itoa(s.EFConstruction)
	case "ivf":
		l += " lists=" + strconv.Itoa(s.Lists)
	}
	if s.Quantizer != "" && s.Quantizer != "none" {
		l += " " + s.Quantizer
		if s.CodesOnly {
			l += " codes-only"
		} else {
			l += "+rerank"
		}
	}
	return l
}

func intKeys(n int) []ann.Key {
	keys := make([]ann.Key, n)
	for i := range keys {
		keys[i] = ann.IntKey(int64(i))
	}
	return keys
}

// NewBuilder returns the Builder for spec.
func NewBuilder(spec IndexSpec) (Builder, error) {
	q := spec.Quantizer
	if q == "" {
		q = "none"
	}
	switch {
	case spec.Kind == "flat" && q == "none":
		return func(ctx context.Context, data []float32, dims int) (ann.Index, error) {
			cfg := flat.DefaultConfig(spec.Metric, dims)
			cfg.Threads = spec.Threads
			x, err := flat.New(cfg)
			if err != nil {
				return nil, err
			}
			return x, x.AddBatch(intKeys(len(data)/dims), data)
		}, nil
	case spec.Kind == "hnsw" && (q == "none" || q == "sq8"):
		return func(ctx context.Context, data []float32, dims int) (ann.Index, error) {
			cfg := hnsw.DefaultConfig(spec.Metric, dims)
			cfg.M, cfg.EFConstruction, cfg.Threads, cfg.Seed = spec.M, spec.EFConstruction, spec.Threads, spec.Seed
			if q == "sq8" {
				cfg.Quantizer, cfg.KeepVectors = "sq8", !spec.CodesOnly
				if spec.Oversample > 0 {
					cfg.Oversample = spec.Oversample
				}
			}
			cfg.InitialCapacity = len(data) / dims
			x, err := hnsw.New(cfg)
			if err != nil {
				return nil, err
			}
			return x, x.AddBatch(ctx, intKeys(len(data)/dims), data)
		}, nil
	case spec.Kind == "ivf" || spec.Kind == "flat":
		// A quantised flat index is an IVF with one list.
		return func(ctx context.Context, data []float32, dims int) (ann.Index, error) {
			cfg := ivf.DefaultConfig(spec.Metric, dims)
			cfg.Lists, cfg.Codes, cfg.KeepVectors = spec.Lists, q, !spec.CodesOnly && q != "none"
			if spec.Kind == "flat" {
				cfg.Lists = 1
			}
			cfg.PQSegments, cfg.Threads, cfg.Seed = spec.PQSegments, spec.Threads, spec.Seed
			if spec.Oversample > 0 {
				cfg.Oversample = spec.Oversample
			}
			x, err := ivf.New(cfg)
			if err != nil {
				return nil, err
			}
			return x, x.AddBatch(ctx, intKeys(len(data)/dims), data)
		}, nil
	}
	return nil, fmt.Errorf("bench: index %q with quantizer %q: %w", spec.Kind, q, ann.ErrUnsupported)
}
