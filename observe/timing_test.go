package observe

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vecgate/vecgate/proxy"
)

type fakeJob struct{ rounds int }

func (j *fakeJob) Next(context.Context, int) (string, bool, bool, error) {
	j.rounds++
	return "SELECT 1", j.rounds >= 2, false, nil
}

func (j *fakeJob) TableCheck() string { return "SELECT true, true" }

type fakeFastJob struct{ fakeJob }

func (*fakeFastJob) FastColumns() []string                      { return []string{"bigint"} }
func (*fakeFastJob) FastKey() string                            { return "k" }
func (*fakeFastJob) Answer(context.Context) ([][]string, error) { return [][]string{{"1"}}, nil }
func (*fakeFastJob) Consistency() (string, time.Duration)       { return "eventual", time.Second }

func observations(t *testing.T, o *Observer, path string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.latency.WithLabelValues(path).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestTimedJobs: the latency wrapper keeps the optional interfaces the proxy relies on and
// observes one duration per answered statement.
func TestTimedJobs(t *testing.T) {
	o := New(Source{Counts: &Counts{}}, Config{})
	ctx := context.Background()

	plain := o.timeJob(&fakeJob{}, time.Now())
	if _, ok := plain.(proxy.FastJob); ok {
		t.Error("a plain job became a FastJob")
	}
	if _, ok := plain.(proxy.Consistent); ok {
		t.Error("a plain job became Consistent")
	}
	for done := false; !done; {
		_, done, _, _ = plain.Next(ctx, 0)
	}
	if n := observations(t, o, "rewrite"); n != 1 {
		t.Errorf("%d rewrite observations, want 1", n)
	}

	fast := o.timeJob(&fakeFastJob{}, time.Now())
	fj, ok := fast.(proxy.FastJob)
	if !ok {
		t.Fatal("FastJob lost")
	}
	c, ok := fast.(proxy.Consistent)
	if !ok {
		t.Fatal("Consistent lost")
	}
	if mode, wait := c.Consistency(); mode != "eventual" || wait != time.Second {
		t.Errorf("Consistency %q %s", mode, wait)
	}
	if fj.FastKey() != "k" || fj.TableCheck() != "SELECT true, true" || len(fj.FastColumns()) != 1 {
		t.Error("fast methods not delegated")
	}
	if rows, err := fj.Answer(ctx); err != nil || len(rows) != 1 {
		t.Fatalf("Answer %v %v", rows, err)
	}
	if n := observations(t, o, "fast"); n != 1 {
		t.Errorf("%d fast observations, want 1", n)
	}
	if o.timeJob(nil, time.Now()) != nil {
		t.Error("nil job wrapped")
	}
}
