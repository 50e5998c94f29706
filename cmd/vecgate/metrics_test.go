package main

import (
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vecgate/vecgate/proxy"
)

func observations(t *testing.T, o *observer, path string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.latency.WithLabelValues(path).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestCountsObserve: the counts the proxy reports to (proxy.Observer) keep one figure per
// outcome and time intercepted statements by path into vecgate_intercept_duration_seconds.
func TestCountsObserve(t *testing.T) {
	o := newObserver(&gateway{counts: newCounts()}, observerOptions{})
	c := newCounts()
	c.latency = o.latency
	c.Intercepted(proxy.PathFast, time.Millisecond)
	c.Intercepted(proxy.PathRewrite, 2*time.Millisecond)
	c.Intercepted(proxy.PathRewrite, 3*time.Millisecond)
	c.Canceled()
	c.Forwarded(proxy.ReasonLagging)
	c.Forwarded(proxy.ReasonLagging)
	c.Forwarded(proxy.ReasonNotVector)
	if n := observations(t, o, "fast"); n != 1 {
		t.Errorf("%d fast observations, want 1", n)
	}
	if n := observations(t, o, "rewrite"); n != 2 {
		t.Errorf("%d rewrite observations, want 2", n)
	}
	got := c.snapshot()
	if got.Intercepted != 4 || got.Fast != 1 || got.Canceled != 1 || got.Forwarded[proxy.ReasonLagging] != 2 ||
		got.Forwarded[proxy.ReasonNotVector] != 1 || len(got.Forwarded) != 2 {
		t.Errorf("counts %+v", got)
	}
	want := map[string]int64{"intercept": 4, "fast": 1, "canceled": 1, "forward:lagging": 2, "forward:not_vector": 1}
	if k := got.keyed(); !maps.Equal(k, want) {
		t.Errorf("keyed %v, want %v", k, want)
	}
}
