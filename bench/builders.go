package bench

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/ann/hnsw"
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
	Threads        int
	Seed           uint64
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

// extraBuilders lets other files of this package register index kinds
// (ivf, quantised variants) without touching NewBuilder.
var extraBuilders = map[string]func(IndexSpec) (Builder, error){}

// NewBuilder returns the Builder for spec.
func NewBuilder(spec IndexSpec) (Builder, error) {
	q := spec.Quantizer
	if q == "" {
		q = "none"
	}
	if b, ok := extraBuilders[spec.Kind+"/"+q]; ok {
		return b(spec)
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
	case spec.Kind == "hnsw" && q == "none":
		return func(ctx context.Context, data []float32, dims int) (ann.Index, error) {
			cfg := hnsw.DefaultConfig(spec.Metric, dims)
			cfg.M, cfg.EFConstruction, cfg.Threads, cfg.Seed = spec.M, spec.EFConstruction, spec.Threads, spec.Seed
			cfg.InitialCapacity = len(data) / dims
			x, err := hnsw.New(cfg)
			if err != nil {
				return nil, err
			}
			return x, x.AddBatch(ctx, intKeys(len(data)/dims), data)
		}, nil
	}
	return nil, fmt.Errorf("bench: index %q with quantizer %q: %w", spec.Kind, q, ann.ErrUnsupported)
}
