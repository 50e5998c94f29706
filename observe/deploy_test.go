package observe

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vecgate/vecgate/proxy"
)

// The Grafana dashboard and the Prometheus alert rules of deploy/ are checked against the metrics
// an Observer really exports: every metric name and label their expressions use must be one the
// registry describes (go_* and process_* included), so renaming a metric breaks this test instead
// of a dashboard.

const (
	dashboardPath = "../deploy/grafana/vecgate.json"
	alertsDir     = "../deploy/prometheus"
)

// exported is what an Observer's registry exports: metric names with their label names, and which
// families are histograms or summaries (their series are name_bucket, name_sum, name_count).
type exported struct {
	labels    map[string][]string
	histogram map[string]bool // true: histogram (has _bucket and le); false: summary
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)".*variableLabels: \{([^}]*)\}\}$`)

func exportedMetrics(t *testing.T) exported {
	t.Helper()
	o := New(Source{Counts: &Counts{}}, Config{})
	e := exported{labels: map[string][]string{}, histogram: map[string]bool{}}
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range o.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read descriptor %s", d)
		}
		var labels []string
		for l := range strings.SplitSeq(m[2], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				labels = append(labels, l)
			}
		}
		e.labels[m[1]] = labels
	}
	// Types come from a gather: observe one statement of each path so the histogram is there.
	o.Hook().Intercepted(proxy.PathFast, time.Millisecond)
	o.Hook().Intercepted(proxy.PathRewrite, time.Millisecond)
	fams, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			e.histogram[f.GetName()] = true
		case dto.MetricType_SUMMARY:
			e.histogram[f.GetName()] = false
		}
	}
	for _, name := range []string{"vecgate_intercept_duration_seconds", "vecgate_index_rows", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := e.labels[name]; !ok {
			t.Fatalf("the registry does not describe %s: descriptors unread?", name)
		}
	}
	if !e.histogram["vecgate_intercept_duration_seconds"] {
		t.Fatal("vecgate_intercept_duration_seconds not gathered as a histogram")
	}
	return e
}

// series resolves a series name as written in PromQL to its family and extra labels (le for a
// histogram's buckets, quantile for a summary's).
func (e exported) series(name string) (labels []string, ok bool) {
	if l, ok := e.labels[name]; ok {
		if hist, typed := e.histogram[name]; typed && !hist {
			l = append(slices.Clone(l), "quantile")
		}
		return l, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		hist, typed := e.histogram[base]
		if !found || !typed || (suffix == "_bucket" && !hist) {
			continue
		}
		l := slices.Clone(e.labels[base])
		if suffix == "_bucket" {
			l = append(l, "le")
		}
		return l, true
	}
	return nil, false
}

var (
	promStringRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promRangeRE  = regexp.MustCompile(`\[[^\]]*\]`)
	// Numbers and durations (anything from a digit on), names, matcher braces, parentheses.
	promTokenRE  = regexp.MustCompile(`[0-9][0-9A-Za-z_.]*|[A-Za-z_:][A-Za-z0-9_:]*|\{[^}]*\}|[()]`)
	promMatchRE  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)`)
	promGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	promKeywords = map[string]bool{"bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true}
	// Labels Prometheus adds to every scraped series.
	targetLabels = []string{"instance", "job"}
)

// checkExpr returns what is wrong in the PromQL expression expr: a metric name vecgate does not
// export, a label a selector matches on that its metric does not have, a label it groups by that
// none of its metrics has, no metric at all. A small scanner, not a PromQL parser: it knows
// selectors, function calls, grouping clauses and the keywords; strings and range brackets are
// blanked first.
func checkExpr(e exported, expr string) []string {
	var bad []string
	s := promStringRE.ReplaceAllString(expr, `""`)
	s = promRangeRE.ReplaceAllString(s, "")
	toks := promTokenRE.FindAllString(s, -1)
	var metrics, grouped []string
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		switch {
		case tok == "(" || tok == ")" || strings.HasPrefix(tok, "{") || tok[0] >= '0' && tok[0] <= '9':
			continue
		case promGrouping[strings.ToLower(tok)]:
			if next == "(" {
				for i += 2; i < len(toks) && toks[i] != ")"; i++ {
					grouped = append(grouped, toks[i])
				}
			}
			continue
		case promKeywords[strings.ToLower(tok)], next == "(", strings.EqualFold(next, "by"), strings.EqualFold(next, "without"):
			continue // a keyword, a function, an aggregation (sum by (…) (…))
		}
		labels, ok := e.series(tok)
		if !ok {
			bad = append(bad, fmt.Sprintf("%q is not a metric vecgate exports", tok))
			continue
		}
		metrics = append(metrics, tok)
		if strings.HasPrefix(next, "{") {
			for _, m := range promMatchRE.FindAllStringSubmatch(next, -1) {
				if l := m[1]; !slices.Contains(labels, l) && !slices.Contains(targetLabels, l) {
					bad = append(bad, fmt.Sprintf("%s has no label %q (its labels: %v)", tok, l, labels))
				}
			}
		}
	}
	if len(metrics) == 0 {
		bad = append(bad, "no metric")
	}
	for _, l := range grouped {
		found := slices.Contains(targetLabels, l)
		for _, m := range metrics {
			labels, _ := e.series(m)
			found = found || slices.Contains(labels, l)
		}
		if !found {
			bad = append(bad, fmt.Sprintf("grouping by %q, a label of none of %v", l, metrics))
		}
	}
	return bad
}

// TestCheckExpr: the expression check finds what it is there to find.
func TestCheckExpr(t *testing.T) {
	e := exportedMetrics(t)
	for _, ok := range []string{
		`sum by (reason) (rate(vecgate_forwarded_total{instance=~"$instance",reason!="not_vector"}[5m]))`,
		`histogram_quantile(0.99, sum by (le, path) (rate(vecgate_intercept_duration_seconds_bucket[5m])))`,
		`increase(vecgate_replication_initial_loads_total[1h]) > 0 and vecgate_replication_initial_loads_total > 1`,
		`vecgate_replication_lag_bytes > 256 * 1024 * 1024 offset 5m`,
		`go_gc_duration_seconds{quantile="0.5"} > 1e3`,
		`vecgate_index_rows / on (instance, table) group_left vecgate_index_bytes`,
	} {
		if bad := checkExpr(e, ok); len(bad) > 0 {
			t.Errorf("check rejects %s: %v", ok, bad)
		}
	}
	for _, bad := range []string{
		`rate(vecgate_intercepted_totals[5m])`,                                          // no such metric
		`vecgate_forwarded_total{reasons="lagging"}`,                                    // no such label
		`sum by (path) (rate(vecgate_forwarded_total[5m]))`,                             // label of another metric
		`rate(vecgate_forwarded_total_bucket[5m])`,                                      // not a histogram
		`rate(vecgate_intercept_duration_seconds_bucket{path="fast",quantile="1"}[5m])`, // a summary's label
		`1 + 1`, // no metric
		`sum without (rows) (vecgate_index_rows)`, // no such label
	} {
		if got := checkExpr(e, bad); len(got) == 0 {
			t.Errorf("check accepts %s", bad)
		}
	}
}

// dashboard is the part of a Grafana dashboard model the check reads.
type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var labelValuesRE = regexp.MustCompile(`label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)`)

// TestDashboard: deploy/grafana/vecgate.json is a Grafana dashboard (the fields Grafana needs to
// import it, panels on a 24-column grid without overlaps, the Prometheus data source chosen by
// its variable) whose every query reads metrics and labels vecgate exports.
func TestDashboard(t *testing.T) {
	e := exportedMetrics(t)
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON value", dashboardPath)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 || len(d.Panels) == 0 {
		t.Fatalf("not a dashboard: title %q uid %q schemaVersion %d, %d panels", d.Title, d.UID, d.SchemaVersion, len(d.Panels))
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: definition %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		if labels, ok := e.series(m[1]); !ok || !slices.Contains(append(labels, targetLabels...), m[2]) {
			t.Errorf("variable %s: %s has no label %s", v.Name, m[1], m[2])
		}
	}
	if vars["datasource"] != "datasource" {
		t.Errorf("no datasource variable: %v", vars)
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	queries := 0
	for _, p := range d.Panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("%s: id missing or repeated", where)
		}
		ids[p.ID] = true
		if !slices.Contains([]string{"row", "stat", "timeseries", "table", "gauge", "bargauge"}, p.Type) || p.Title == "" {
			t.Errorf("%s: type %q", where, p.Type)
		}
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v off the 24-column grid", where, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("%s overlaps %s at %d,%d", where, other, x, y)
				}
				taken[cell{x, y}] = where
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource %+v, want prometheus ${datasource}", where, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refs := map[string]bool{}
		for _, q := range p.Targets {
			if q.RefID == "" || refs[q.RefID] {
				t.Errorf("%s: refId %q missing or repeated", where, q.RefID)
			}
			refs[q.RefID] = true
			for _, b := range checkExpr(e, q.Expr) {
				t.Errorf("%s, query %s: %s\n\t%s", where, q.RefID, b, q.Expr)
			}
			queries++
		}
	}
	t.Logf("%d panels, %d queries checked", len(d.Panels), queries)
}

// alertExprs reads the expr of each rule of a Prometheus rules file: single-line values and
// block scalars (expr: |). Not a YAML parser; promtool checks the file itself.
func alertExprs(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lines := strings.Split(string(raw), "\n")
	alert := ""
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if v, ok := strings.CutPrefix(line, "- alert:"); ok {
			alert = strings.TrimSpace(v)
			continue
		}
		v, ok := strings.CutPrefix(line, "expr:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "|" || v == ">" {
			indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
			var block []string
			for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent) {
				i++
				block = append(block, lines[i])
			}
			v = strings.Join(block, "\n")
		}
		if alert == "" {
			t.Fatalf("%s: expr outside an alert: %s", path, v)
		}
		out[alert] = v
		alert = ""
	}
	return out
}

// TestAlertRules: every alert of deploy/prometheus/alerts.yml reads metrics and labels vecgate
// exports; with promtool (Debian prometheus, installed by .ci/run) the file passes
// `promtool check rules` and its unit tests, alerts_test.yml.
func TestAlertRules(t *testing.T) {
	e := exportedMetrics(t)
	path := filepath.Join(alertsDir, "alerts.yml")
	exprs := alertExprs(t, path)
	if len(exprs) < 8 {
		t.Fatalf("%d alerts read from %s", len(exprs), path)
	}
	for alert, expr := range exprs {
		for _, b := range checkExpr(e, expr) {
			t.Errorf("alert %s: %s\n\t%s", alert, b, expr)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian package prometheus; .ci/run installs it): rules not checked by promtool")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = alertsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
