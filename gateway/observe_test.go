package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/proxy"
	"github.com/vecgate/vecgate/replication"
)

// serveObserver starts o's catalog refresher and its HTTP endpoints on a free loopback port.
func serveObserver(t testing.TB, o *observe.Observer) string {
	t.Helper()
	o.Start()
	addr, err := o.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return addr.String()
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape fetches /metrics and parses it with Prometheus' own text parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// metricValue returns the value of the sample of family name whose labels include want.
func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func mustMetric(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := metricValue(t, fams, name, labels)
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return v
}

func count(t *testing.T, c *pgx.Conn, table string) int64 {
	t.Helper()
	var n int64
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMetricsEndpoint scrapes /metrics of a running gateway after intercepted and forwarded
// queries and checks the values against the live state and the table.
func TestMetricsEndpoint(t *testing.T) {
	f := newFixture(t, 2000)
	addr := serveObserver(t, f.g.Observer())
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	for range 5 {
		if got := ids(t, via, q, f.vector()); len(got) != 5 {
			t.Fatalf("%d rows", len(got))
		}
	}
	// A vector query in a transaction that wrote is forwarded (reason counted).
	tx, err := via.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE items SET title = 'x' WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT id FROM items ORDER BY emb <-> '`+f.vector()+`' LIMIT 5`, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, addr)
	snap := f.g.Stats()
	if snap.Intercepted < 5 {
		t.Fatalf("only %d intercepted: %v", snap.Intercepted, snap)
	}
	if got := mustMetric(t, fams, "vecgate_intercepted_total", nil); got != float64(snap.Intercepted) {
		t.Errorf("vecgate_intercepted_total %v, counters say %d", got, snap.Intercepted)
	}
	if got := mustMetric(t, fams, "vecgate_fast_path_total", nil); got != float64(snap.FastPath) {
		t.Errorf("vecgate_fast_path_total %v, counters say %d", got, snap.FastPath)
	}
	// Every intercepted statement but a cancelled one is timed, under its path (proxy.Observer).
	timed := map[string]uint64{}
	for _, m := range fams["vecgate_intercept_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			timed[l.GetValue()] += m.GetHistogram().GetSampleCount()
		}
	}
	if timed["fast"] != uint64(snap.FastPath) || timed["rewrite"] != uint64(snap.Intercepted-snap.FastPath-snap.Canceled) {
		t.Errorf("vecgate_intercept_duration_seconds samples %v, counters say %v", timed, snap)
	}
	forwarded := 0
	for reason, n := range snap.Forwarded {
		if reason != "" {
			forwarded++
			if got := mustMetric(t, fams, "vecgate_forwarded_total", map[string]string{"reason": reason}); got != float64(n) {
				t.Errorf("vecgate_forwarded_total{reason=%q} %v, counters say %d", reason, got, n)
			}
		}
	}
	if forwarded == 0 {
		t.Errorf("no forward reason counted: %v", snap)
	}
	if n := len(fams["vecgate_forwarded_total"].GetMetric()); n != forwarded {
		t.Errorf("%d forwarded_total series, %d reasons", n, forwarded)
	}

	labels := map[string]string{"table": "public.items", "column": "emb", "metric": "<->", "source": "items_emb_hnsw"}
	rows := count(t, direct, "items")
	if got := mustMetric(t, fams, "vecgate_index_rows", labels); got != float64(rows) {
		t.Errorf("vecgate_index_rows %v, table has %d", got, rows)
	}
	if got := mustMetric(t, fams, "vecgate_index_bytes", labels); got <= 0 {
		t.Errorf("vecgate_index_bytes %v", got)
	}
	if got := mustMetric(t, fams, "vecgate_replication_state", map[string]string{"state": "streaming"}); got != 1 {
		t.Errorf("streaming state gauge %v", got)
	}
	if got := mustMetric(t, fams, "vecgate_replication_state", map[string]string{"state": "loading"}); got != 0 {
		t.Errorf("loading state gauge %v", got)
	}
	if got := mustMetric(t, fams, "vecgate_ready", nil); got != 1 {
		t.Errorf("vecgate_ready %v", got)
	}
	applied := mustMetric(t, fams, "vecgate_replication_applied_lsn", nil)
	if now := float64(f.g.stream.Status().Applied); applied <= 0 || applied > now {
		t.Errorf("applied lsn %v, stream now at %v", applied, now)
	}
	if got := mustMetric(t, fams, "vecgate_initial_load_rows", nil); got != 2000 {
		t.Errorf("vecgate_initial_load_rows %v, loaded 2000", got)
	}
	if got := mustMetric(t, fams, "vecgate_initial_load_running", nil); got != 0 {
		t.Errorf("vecgate_initial_load_running %v", got)
	}
	if got := mustMetric(t, fams, "vecgate_sessions", nil); got < 1 {
		t.Errorf("vecgate_sessions %v with a client connected", got)
	}
	for _, name := range []string{"vecgate_replication_lag_bytes", "vecgate_replication_lag_seconds", "go_goroutines"} {
		if v := mustMetric(t, fams, name, nil); v < 0 || math.IsNaN(v) {
			t.Errorf("%s = %v", name, v)
		}
	}

	if code, body := httpGet(t, "http://"+addr+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != 200 || !strings.HasPrefix(body, "ready") {
		t.Errorf("/readyz: %d %q", code, body)
	}
}

// TestReadyz: /readyz answers 503 with the reason until replication has loaded, then 200.
func TestReadyz(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE t (id int PRIMARY KEY, emb vector(3))`,
		`INSERT INTO t SELECT g, ARRAY[g, 1, 2]::vector FROM generate_series(1, 100) g`,
		`CREATE INDEX ON t USING hnsw (emb vector_l2_ops)`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	set := live.New(slog.New(slog.DiscardHandler))
	rcfg := replication.DefaultConfig()
	rcfg.DSN, rcfg.Applier, rcfg.Name = dsn, set, fmt.Sprintf("r%d", rand.Uint32())
	stream, err := replication.New(rcfg)
	if err != nil {
		t.Fatal(err)
	}
	o := observe.New(observe.Source{Set: set, Stream: stream, Counts: &observe.Counts{}},
		observe.Config{Upstream: dsn, Refresh: 50 * time.Millisecond})
	addr := serveObserver(t, o)

	code, body := httpGet(t, "http://"+addr+"/readyz")
	if code != http.StatusServiceUnavailable || body != "not ready: replication starting\n" {
		t.Errorf("before start: /readyz %d %q", code, body)
	}
	if fams := scrape(t, addr); mustMetric(t, fams, "vecgate_ready", nil) != 0 {
		t.Error("vecgate_ready is 1 before start")
	}
	if err := stream.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stream.Close() })
	for deadline := time.Now().Add(60 * time.Second); !stream.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %+v", stream.Status())
		}
	}
	code, body = httpGet(t, "http://"+addr+"/readyz")
	if code != http.StatusOK || !strings.HasPrefix(body, "ready: streaming") {
		t.Errorf("after load: /readyz %d %q", code, body)
	}
	if code, _ := httpGet(t, "http://"+addr+"/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
}

// TestStatusAgainstCatalog: every pgvector index appears in the status with the catalog's metric,
// m and ef_construction and the table's row count; a table without a key is listed as skipped;
// `vecgate status` prints the same table.
func TestStatusAgainstCatalog(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE docs (id bigint PRIMARY KEY, emb vector(8))`,
		`INSERT INTO docs SELECT g, (SELECT array_agg(sin(g * d))::vector(8) FROM generate_series(1, 8) d) FROM generate_series(1, 300) g`,
		`CREATE INDEX docs_cos ON docs USING hnsw (emb vector_cosine_ops) WITH (m = 8, ef_construction = 40)`,
		`CREATE INDEX docs_ip ON docs USING hnsw (emb vector_ip_ops)`,
		`CREATE TABLE small (id int PRIMARY KEY, emb vector(4))`,
		`INSERT INTO small SELECT g, ARRAY[g, 1, 2, 3]::vector FROM generate_series(1, 120) g`,
		`CREATE INDEX small_ivf ON small USING ivfflat (emb vector_l2_ops) WITH (lists = 4)`,
		`CREATE TABLE nokey (emb vector(4))`,
		`ANALYZE`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", dsn
	cfg.Logger = slog.New(slog.DiscardHandler)
	g, err := startGateway(ctx, cfg, Config{Intercept: true, SlotName: fmt.Sprintf("s%d", rand.Uint32())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Close(sctx)
	})
	for deadline := time.Now().Add(60 * time.Second); !g.stream.Ready() || indexed(g) < 2*300+120; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %+v", g.stream.Status())
		}
	}
	// Without an observer the status still lists the indexes (parameters unknown).
	if s := g.Status(); len(s.Indexes) != 3 || s.Indexes[0].M != 0 {
		t.Fatalf("status without observer: %+v", s.Indexes)
	}
	addr := serveObserver(t, g.Observer())
	var s observe.Status
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s = g.Status()
		if len(s.Indexes) == 3 && s.Indexes[0].SourceMethod != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalog parameters never arrived: %+v (error %q)", s.Indexes, s.CatalogError)
		}
	}

	cat, err := catalog.Discover(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tab := range cat.Tables {
		for _, ci := range tab.Indexes {
			var got *observe.IndexStatus
			for i := range s.Indexes {
				if s.Indexes[i].Source == ci.Name {
					got = &s.Indexes[i]
				}
			}
			if got == nil {
				t.Errorf("index %s missing from status %+v", ci.Name, s.Indexes)
				continue
			}
			seen[ci.Name] = true
			wantM, wantEf, wantKind := ci.M, ci.EfConstruction, "hnsw"
			if ci.Method != "hnsw" { // an IVF twin: no graph parameters
				wantM, wantEf, wantKind = 0, 0, "ivf-flat"
			}
			rows := count(t, c, tab.Ident())
			if got.Table != tab.QualifiedName() || got.Column != ci.Column || got.Metric != ci.Metric.Operator() ||
				got.SourceMethod != ci.Method || got.M != wantM || got.EfConstruction != wantEf || got.Rows != rows ||
				got.State != "ready" || got.Method != wantKind || got.Bytes <= 0 {
				t.Errorf("status of %s: %+v; catalog %+v, %d rows", ci.Name, *got, ci, rows)
			}
			if got.AppliedLSN == "" || got.AppliedLSN == "0/0" {
				t.Errorf("%s applied LSN %q", ci.Name, got.AppliedLSN)
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("catalog has %d indexes in status, want 3", len(seen))
	}
	// Spot-check the literal values too, not only agreement with the catalog.
	for _, ix := range s.Indexes {
		if ix.Source == "docs_cos" && (ix.M != 8 || ix.EfConstruction != 40 || ix.Metric != "<=>" || ix.Rows != 300) {
			t.Errorf("docs_cos: %+v", ix)
		}
		if ix.Source == "small_ivf" && (ix.SourceMethod != "ivfflat" || ix.Lists != 4 || ix.Rows != 120) {
			t.Errorf("small_ivf: %+v", ix)
		}
	}
	var skipped *observe.SkippedTarget
	for i := range s.Skipped {
		if s.Skipped[i].Table == "public.nokey" {
			skipped = &s.Skipped[i]
		}
	}
	if skipped == nil || skipped.Reason == "" {
		t.Errorf("public.nokey not skipped with a reason: %+v", s.Skipped)
	}
	if s.Replication == nil || s.Replication.State != "streaming" || !s.Replication.Ready {
		t.Errorf("replication: %+v", s.Replication)
	}

	cols, rows := s.Rows()
	if strings.Join(cols, ",") != "table,column,method,metric,m,ef_construction,source,state,rows,bytes,applied_lsn,lag_bytes,lag,note" {
		t.Errorf("columns %v", cols)
	}
	found := false
	for _, r := range rows {
		if len(r) != len(cols) {
			t.Fatalf("row %v has %d cells for %d columns", r, len(r), len(cols))
		}
		if r[0] == "public.docs" && r[3] == "<=>" {
			found = true
			if r[4] != "8" || r[5] != "40" || r[6] != "docs_cos (hnsw)" || r[7] != "ready" || r[8] != "300" {
				t.Errorf("docs_cos row %v", r)
			}
		}
		if r[0] == "public.nokey" && (r[7] != "skipped" || r[13] == "") {
			t.Errorf("nokey row %v", r)
		}
	}
	if !found {
		t.Errorf("no row for docs_cos in %v", rows)
	}

	// The /status document, as `vecgate status` prints it.
	code, body := httpGet(t, "http://"+addr+"/status")
	if code != http.StatusOK {
		t.Fatalf("/status: %d %s", code, body)
	}
	var js observe.Status
	if err := json.Unmarshal([]byte(body), &js); err != nil {
		t.Fatalf("/status: %v", err)
	}
	if len(js.Indexes) != 3 {
		t.Errorf("/status: %d indexes", len(js.Indexes))
	}
	var out bytes.Buffer
	if err := js.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, w := range []string{"replication: streaming", "public.docs", "docs_cos (hnsw)", "small_ivf (ivfflat)", "public.nokey", "skipped", "ef_construction"} {
		if !strings.Contains(text, w) {
			t.Errorf("status text lacks %q:\n%s", w, text)
		}
	}
}
