package observe

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vecgate/vecgate/proxy"
)

// The status page (GET / on --http-listen): the Status of one moment as HTML for people,
// server-rendered with no script and no outside asset, refreshing itself. Every figure that
// /metrics also exports carries the metric's name, labels and exact value in data-metric,
// data-labels and data-value attributes (the tests compare them with a scrape).

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes":   formatBytes,
	"seconds": FormatSeconds,
	"pct":     func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"labels":  pageLabels,
	"float":   func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) },
	"load":    FormatLoad,
	"deref":   func(f *float64) float64 { return *f },
	"ivf":     func(method string) bool { return strings.HasPrefix(method, "ivf") }, // twins with lists to train
	"duration": func(s float64) string {
		if math.IsNaN(s) {
			return "–"
		}
		return time.Duration(s * float64(time.Second)).Round(time.Microsecond).String()
	},
}).Parse(pageHTML))

// PageRefresh is how often the status page reloads itself (?refresh=N seconds overrides it, 0
// turns it off).
const PageRefresh = 5 * time.Second

// pageData is what the page template shows.
type pageData struct {
	Status
	Ready          bool
	ReadyReason    string
	Refresh        int       // seconds; 0 none
	Outcomes       []outcome // intercepted by path, then forwarded by reason (most first)
	ForwardedTotal int64
	Latency        []pathLatency
	TotalRows      int64
	TotalBytes     int64
	// The slot's WAL (Replication's, dereferenced): known or not.
	SlotRetained, SlotSafe   int64
	SlotKnown, SlotSafeKnown bool
	Current                  []LogEntry // errors standing now: replication's last, the catalog's
	Errors                   []LogEntry // the last warnings and errors logged, newest first
	ErrorsLogged             int64
	NoErrorLog               bool          // no Config.Errors: warnings and errors are not kept
	Took                     time.Duration // to gather the figures
}

// outcome is one line of the statements table.
type outcome struct {
	What   string
	Count  int64
	Share  float64 // of all statements (intercepted and forwarded)
	Reason string  // forwarded: the reason (vecgate_forwarded_total{reason})
	Fast   bool    // intercepted from memory (vecgate_fast_path_total)
}

// pathLatency is the time to answer intercepted statements of one path since start, from
// vecgate_intercept_duration_seconds.
type pathLatency struct {
	Path     string
	Count    uint64
	P50, P99 float64 // seconds; NaN without samples
}

// page gathers the status page's figures.
func (o *Observer) page() pageData {
	start := time.Now()
	d := pageData{Status: o.Status(), Refresh: int(PageRefresh / time.Second)}
	d.Ready, d.ReadyReason = o.Ready()
	for _, n := range d.Forwarded {
		d.ForwardedTotal += n
	}
	var forwarded []outcome
	for r, n := range d.Forwarded {
		forwarded = append(forwarded, outcome{What: "forwarded: " + r, Count: n, Reason: r})
	}
	sort.Slice(forwarded, func(i, j int) bool {
		a, b := forwarded[i], forwarded[j]
		return a.Count > b.Count || a.Count == b.Count && a.Reason < b.Reason
	})
	d.Outcomes = append([]outcome{
		{What: "intercepted: from memory", Count: d.FastPath, Fast: true},
		{What: "intercepted: id-list rewrite through Postgres", Count: d.Intercepted - d.FastPath},
	}, forwarded...)
	if all := d.Intercepted + d.ForwardedTotal; all > 0 {
		for i := range d.Outcomes {
			d.Outcomes[i].Share = float64(d.Outcomes[i].Count) / float64(all)
		}
	}
	if r := d.Replication; r != nil {
		if r.SlotRetainedWAL != nil {
			d.SlotKnown, d.SlotRetained = true, int64(*r.SlotRetainedWAL)
		}
		if r.SlotSafeWAL != nil {
			d.SlotSafeKnown, d.SlotSafe = true, *r.SlotSafeWAL
		}
		if r.LastError != "" {
			d.Current = append(d.Current, LogEntry{Time: d.Time, Level: "replication", Message: r.LastError})
		}
	}
	if d.CatalogError != "" {
		d.Current = append(d.Current, LogEntry{Time: d.Time, Level: "catalog", Message: d.CatalogError})
	}
	for _, p := range []proxy.Path{proxy.PathFast, proxy.PathRewrite} {
		var m dto.Metric
		if err := o.latency.WithLabelValues(string(p)).(prometheus.Metric).Write(&m); err != nil {
			continue
		}
		h := m.GetHistogram()
		d.Latency = append(d.Latency, pathLatency{Path: string(p), Count: h.GetSampleCount(),
			P50: HistogramQuantile(0.5, h), P99: HistogramQuantile(0.99, h)})
	}
	d.TotalRows, _ = IndexedRows(o.src.Set)
	for _, ix := range d.Indexes {
		d.TotalBytes += ix.Bytes
	}
	if o.opt.Errors != nil {
		d.Errors, d.ErrorsLogged = o.opt.Errors.Last()
	} else {
		d.NoErrorLog = true
	}
	d.Took = time.Since(start)
	return d
}

func (o *Observer) servePage(w http.ResponseWriter, r *http.Request) {
	d := o.page()
	if v := r.URL.Query().Get("refresh"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			d.Refresh = n
		}
	}
	var b strings.Builder
	if err := pageTemplate.Execute(&b, d); err != nil {
		o.log.Warn("status page", "err", err)
		http.Error(w, "status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
}

// HistogramQuantile estimates the q-quantile (0 ≤ q ≤ 1) of the observations of a cumulative
// histogram as Prometheus' histogram_quantile does: linear interpolation within the bucket the
// rank falls in (from 0 for the first bucket), the highest finite bound when it falls in the
// +Inf bucket; NaN without observations.
func HistogramQuantile(q float64, h *dto.Histogram) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 || q < 0 || q > 1 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, cum := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if math.IsInf(upper, 1) {
			break
		}
		if cum >= rank {
			if cum == below {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/(cum-below)
		}
		lower, below = upper, cum
	}
	return lower // in the +Inf bucket: the highest finite bound
}

// formatBytes is n in binary units for people: "812 B", "1.5 KiB", "3.2 GiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for math.Abs(f) >= unit && i < 6 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i-1])
}

// pageLabels renders label pairs for a data-labels attribute as a JSON object:
// {"table":"public.t","column":"emb"}.
func pageLabels(kv ...string) (string, error) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, err := json.Marshal(m)
	return string(b), err
}
