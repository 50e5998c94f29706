package anntest_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/internal/anntest"
)

func flatImpl(wrap func(*flat.Index) ann.Index) anntest.Impl {
	return anntest.Impl{
		New: func(m ann.Metric, dims int) (ann.Index, error) {
			x, err := flat.New(flat.DefaultConfig(m, dims))
			if err != nil {
				return nil, err
			}
			return wrap(x), nil
		},
		Load: func(r io.Reader) (ann.Index, error) {
			x, err := flat.Load(r, flat.Config{})
			if err != nil {
				return nil, err
			}
			return wrap(x), nil
		},
	}
}

// Broken indexes, each breaking one promise.
type (
	keepsDeleted struct{ *flat.Index }
	dropsLast    struct{ *flat.Index }
	loadsEmpty   struct{ *flat.Index }
	acceptsNaN   struct{ *flat.Index }
)

func (keepsDeleted) Delete(ann.Key) bool { return true }

func (x dropsLast) Search(ctx context.Context, q []float32, k int, o ann.SearchOptions) ([]ann.Result, error) {
	rs, err := x.Index.Search(ctx, q, k, o)
	if len(rs) > 3 {
		rs = rs[:len(rs)-1]
	}
	return rs, err
}

func (x loadsEmpty) Save(w io.Writer) error {
	y, _ := flat.New(flat.DefaultConfig(x.Metric(), x.Dims()))
	var buf bytes.Buffer
	if err := y.Save(&buf); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func (x acceptsNaN) Add(key ann.Key, v []float32) error {
	_ = x.Index.Add(key, v) // the error dropped
	return nil
}

var broken = map[string]anntest.Impl{
	"keepsDeleted": flatImpl(func(x *flat.Index) ann.Index { return keepsDeleted{x} }),
	"dropsLast":    flatImpl(func(x *flat.Index) ann.Index { return dropsLast{x} }),
	"loadsEmpty":   flatImpl(func(x *flat.Index) ann.Index { return loadsEmpty{x} }),
	"acceptsNaN":   flatImpl(func(x *flat.Index) ann.Index { return acceptsNaN{x} }),
}

// TestConformanceFlat: the real flat index passes.
func TestConformanceFlat(t *testing.T) {
	anntest.Conformance(t, flatImpl(func(x *flat.Index) ann.Index { return x }))
}

// TestBrokenRunner runs the suite on the broken index named by ANNTEST_BROKEN; it is the child
// process of TestConformanceCatchesBreakage and skips otherwise.
func TestBrokenRunner(t *testing.T) {
	name := os.Getenv("ANNTEST_BROKEN")
	if name == "" {
		t.Skip("child of TestConformanceCatchesBreakage")
	}
	anntest.Conformance(t, broken[name])
}

// TestConformanceCatchesBreakage: the suite fails each broken index.
func TestConformanceCatchesBreakage(t *testing.T) {
	for name := range broken {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenRunner$", "-test.count=1")
			cmd.Env = append(os.Environ(), "ANNTEST_BROKEN="+name)
			out, err := cmd.CombinedOutput()
			if err == nil || !bytes.Contains(out, []byte("--- FAIL: TestBrokenRunner")) {
				t.Fatalf("the suite passed an index that %s (err %v):\n%s", name, err, out)
			}
		})
	}
}
