package observe

import (
	"bytes"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/vecgate/vecgate/proxy"
)

func TestHistogramQuantile(t *testing.T) {
	h := func(count uint64, bounds []float64, cum []uint64) *dto.Histogram {
		x := &dto.Histogram{SampleCount: proto.Uint64(count)}
		for i, b := range bounds {
			x.Bucket = append(x.Bucket, &dto.Bucket{UpperBound: proto.Float64(b), CumulativeCount: proto.Uint64(cum[i])})
		}
		return x
	}
	for _, c := range []struct {
		h    *dto.Histogram
		q    float64
		want float64
	}{
		{h(20, []float64{1, 2}, []uint64{10, 20}), 0.5, 1},
		{h(20, []float64{1, 2}, []uint64{10, 20}), 0.75, 1.5},
		{h(20, []float64{1, 2}, []uint64{10, 20}), 0.25, 0.5},
		{h(25, []float64{1, 2}, []uint64{10, 20}), 0.99, 2},           // in +Inf: the highest finite bound
		{h(4, []float64{0.1, 0.2, 0.4}, []uint64{0, 0, 4}), 0.5, 0.3}, // empty buckets below
		{h(4, []float64{0.1, 0.2, 0.4}, []uint64{0, 4, 4}), 0.99, 0.1 + 0.1*0.99},
	} {
		if got := HistogramQuantile(c.q, c.h); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("q=%v of %v: %v, want %v", c.q, c.h, got, c.want)
		}
	}
	if got := HistogramQuantile(0.5, h(0, []float64{1}, []uint64{0})); !math.IsNaN(got) {
		t.Errorf("no observations: %v", got)
	}
}

func TestErrorLog(t *testing.T) {
	var out bytes.Buffer
	el := NewErrorLog(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelError}), 3)
	log := slog.New(el)
	log.Info("not kept")
	log.Warn("kept, not printed", "n", 1)
	log.With("subsystem", "replication").WithGroup("g").Error("printed", "k", "two words", slog.Group("h", "x", 1))
	got, total := el.Last()
	if total != 2 || len(got) != 2 {
		t.Fatalf("%d kept of %d: %+v", len(got), total, got)
	}
	if got[0].Message != "printed" || got[0].Level != "ERROR" || got[0].Attrs != `subsystem=replication g.k="two words" g.h.x=1` {
		t.Errorf("newest %+v", got[0])
	}
	if got[1].Message != "kept, not printed" || got[1].Attrs != "n=1" {
		t.Errorf("oldest %+v", got[1])
	}
	if s := out.String(); strings.Contains(s, "kept") || !strings.Contains(s, "printed") {
		t.Errorf("wrapped handler wrote %q", s)
	}
	for i := range 5 {
		log.Warn("w", "i", i)
	}
	got, total = el.Last()
	if total != 7 || len(got) != 3 || got[0].Attrs != "i=4" || got[2].Attrs != "i=2" {
		t.Errorf("after overflow: %d %+v", total, got)
	}
}

// TestPageWithoutReplication: the page renders for a gateway that forwards everything, with the
// statement counts and the logged errors, no script and no outside asset, refreshing itself
// unless ?refresh=0.
func TestPageWithoutReplication(t *testing.T) {
	el := NewErrorLog(slog.DiscardHandler, 0)
	o := New(Source{Counts: &Counts{}}, Config{Errors: el, Version: "test"})
	h := o.Hook()
	for range 3 {
		h.Intercepted(proxy.PathFast, 2*time.Millisecond)
	}
	h.Forwarded(proxy.ReasonNotVector)
	slog.New(el).Warn("upstream <gone>", "err", "dial tcp: refused")
	addr, err := o.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	get := func(path string) (string, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return resp.Header.Get("Content-Type"), string(b)
	}
	ct, page := get("/")
	if ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh" content="5">`,
		`data-metric="vecgate_intercepted_total" data-value="3">3<`,
		`data-metric="vecgate_fast_path_total" data-value="3">3<`,
		`data-labels="{&#34;reason&#34;:&#34;not_vector&#34;}" data-value="1">1<`,
		`data-labels="{&#34;path&#34;:&#34;fast&#34;}" data-value="3">3<`,
		"interception is off",
		"upstream &lt;gone&gt;", `err=&#34;dial tcp: refused&#34;`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s\n%s", want, page)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://", "<link", "<img"} {
		if strings.Contains(page, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	if _, page := get("/?refresh=0"); strings.Contains(page, "http-equiv") {
		t.Error("?refresh=0 still refreshes")
	}
	resp, err := http.Get("http://" + addr.String() + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nothing: %d", resp.StatusCode)
	}
}
