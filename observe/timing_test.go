package observe

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vecgate/vecgate/proxy"
)

func observations(t *testing.T, o *Observer, path string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.latency.WithLabelValues(path).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestHookCounts: the hook the proxy reports to (proxy.Observer) keeps one figure per outcome in
// Counts and times intercepted statements by path into vecgate_intercept_duration_seconds.
func TestHookCounts(t *testing.T) {
	c := &Counts{}
	o := New(Source{Counts: c}, Config{})
	h := o.Hook()
	h.Intercepted(proxy.PathFast, time.Millisecond)
	h.Intercepted(proxy.PathRewrite, 2*time.Millisecond)
	h.Intercepted(proxy.PathRewrite, 3*time.Millisecond)
	h.Canceled()
	h.Forwarded(proxy.ReasonLagging)
	h.Forwarded(proxy.ReasonLagging)
	h.Forwarded(proxy.ReasonNotVector)
	if n := observations(t, o, "fast"); n != 1 {
		t.Errorf("%d fast observations, want 1", n)
	}
	if n := observations(t, o, "rewrite"); n != 2 {
		t.Errorf("%d rewrite observations, want 2", n)
	}
	got := c.Stats()
	if got.Intercepted != 4 || got.FastPath != 1 || got.Canceled != 1 || got.Forwarded["lagging"] != 2 ||
		got.Forwarded["not_vector"] != 1 || len(got.Forwarded) != 2 {
		t.Errorf("counts %+v", got)
	}
	// A copy: later counts do not change it.
	h.Forwarded(proxy.ReasonLagging)
	if got.Forwarded["lagging"] != 2 {
		t.Error("Stats shares its map with the counts")
	}
}
