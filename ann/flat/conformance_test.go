package flat_test

import (
	"io"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/internal/anntest"
)

func TestConformance(t *testing.T) {
	anntest.Conformance(t, anntest.Impl{
		New:  func(m ann.Metric, dims int) (ann.Index, error) { return flat.New(flat.DefaultConfig(m, dims)) },
		Load: func(r io.Reader) (ann.Index, error) { return flat.Load(r, flat.Config{}) },
	})
}
