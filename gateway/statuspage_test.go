package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image/png"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	dto "github.com/prometheus/client_model/go"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/replication"
)

// TestSlotWALMetrics: the observer reads the replication slot's WAL upstream and exports it
// (vecgate_replication_slot_retained_wal_bytes, vecgate_replication_slot_safe_wal_bytes) and
// shows it in /status. Retained plus safe is max_slot_wal_keep_size (both are read in one query,
// so they agree to Postgres' segment rounding).
func TestSlotWALMetrics(t *testing.T) {
	f := newFixture(t, 300)
	addr := serveObserver(t, f.g.Observer())
	direct := pgtest.Connect(t, f.dsn)
	var keep int64 // max_slot_wal_keep_size in bytes; -1 unbounded
	if err := direct.QueryRow(context.Background(),
		`SELECT CASE WHEN setting::int8 < 0 THEN -1 ELSE setting::int8 * 1024 * 1024 END FROM pg_settings WHERE name = 'max_slot_wal_keep_size'`).Scan(&keep); err != nil {
		t.Fatal(err)
	}
	var retained float64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ok bool
		if retained, ok = metricValue(t, scrape(t, addr), "vecgate_replication_slot_retained_wal_bytes", nil); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no vecgate_replication_slot_retained_wal_bytes after 30 s")
		}
	}
	fams := scrape(t, addr)
	if retained <= 0 {
		t.Errorf("slot retains %v bytes", retained)
	}
	safe, ok := metricValue(t, fams, "vecgate_replication_slot_safe_wal_bytes", nil)
	if keep < 0 {
		if ok {
			t.Errorf("safe WAL %v with max_slot_wal_keep_size unbounded", safe)
		}
	} else {
		r := mustMetric(t, fams, "vecgate_replication_slot_retained_wal_bytes", nil)
		const seg = 16 << 20
		if !ok || math.Abs(r+safe-float64(keep)) > 2*seg {
			t.Errorf("retained %v + safe %v (present %v), max_slot_wal_keep_size %d", r, safe, ok, keep)
		}
	}
	st := f.g.Status()
	rs := st.Replication
	if rs == nil || rs.SlotRetainedWAL == nil || rs.SlotWALStatus != "reserved" {
		t.Fatalf("status replication %+v", rs)
	}
	var text strings.Builder
	if err := st.WriteText(&text); err != nil || !strings.Contains(text.String(), " of WAL\n") {
		t.Errorf("vecgate status says nothing of the slot's WAL (%v):\n%s", err, text.String())
	}
}

// pageFigure is one figure of the status page that /metrics also exports: an element with
// data-metric (and data-labels, data-value, data-quantile or data-lsn) and its text.
type pageFigure struct {
	metric   string
	labels   map[string]string
	value    string // data-value, or data-lsn's LSN
	quantile string
	lsn      bool
	text     string
}

var (
	figureTagRE = regexp.MustCompile(`<[a-z]+((?:\s+[a-z-]+="[^"]*")*\s+data-metric="[^"]*"(?:\s+[a-z-]+="[^"]*")*)\s*>([^<]*)`)
	figureAttRE = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

// pageFigures reads the figures of a status page, as vecgate served it or as a browser
// serialized its DOM.
func pageFigures(t *testing.T, page string) []pageFigure {
	t.Helper()
	var out []pageFigure
	for _, m := range figureTagRE.FindAllStringSubmatch(page, -1) {
		f := pageFigure{text: strings.TrimSpace(html.UnescapeString(m[2]))}
		for _, a := range figureAttRE.FindAllStringSubmatch(m[1], -1) {
			v := html.UnescapeString(a[2])
			switch a[1] {
			case "data-metric":
				f.metric = v
			case "data-value":
				f.value = v
			case "data-quantile":
				f.quantile = v
			case "data-lsn":
				f.value, f.lsn = v, true
			case "data-labels":
				if err := json.Unmarshal([]byte(v), &f.labels); err != nil {
					t.Fatalf("data-labels %q: %v", v, err)
				}
			}
		}
		out = append(out, f)
	}
	return out
}

// histogramOf is the histogram of family name whose labels include want.
func histogramOf(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Histogram {
next:
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		return m.GetHistogram()
	}
	return nil
}

// compareFigures returns the figures of the page that differ from both scrapes, one taken
// before the page was read and one after (figures that move by themselves, such as the applied
// LSN on keepalives, equal one of them or, for the LSN, lie between them).
func compareFigures(t *testing.T, figs []pageFigure, before, after map[string]*dto.MetricFamily) []string {
	t.Helper()
	var bad []string
	for _, f := range figs {
		b, err := figureWant(t, f, before)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		a, err := figureWant(t, f, after)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		var got float64
		if f.lsn {
			lsn, err := replication.ParseLSN(f.value)
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s: LSN %q: %v", f.metric, f.value, err))
				continue
			}
			got = float64(lsn)
		} else if got, err = strconv.ParseFloat(f.value, 64); err != nil {
			bad = append(bad, fmt.Sprintf("%s%v: value %q", f.metric, f.labels, f.value))
			continue
		}
		same := func(w float64) bool { return got == w || math.IsNaN(got) && math.IsNaN(w) }
		if !same(b) && !same(a) && !(f.lsn && b <= got && got <= a) {
			bad = append(bad, fmt.Sprintf("%s%v: page %v, /metrics %v before and %v after", f.metric, f.labels, got, b, a))
		}
		// A figure shown as a plain number shows the exact value.
		if n, err := strconv.ParseFloat(f.text, 64); err == nil && n != got {
			bad = append(bad, fmt.Sprintf("%s%v: shows %q for %v", f.metric, f.labels, f.text, got))
		}
	}
	return bad
}

// figureWant is the value of the page's figure f in the scrape fams.
func figureWant(t *testing.T, f pageFigure, fams map[string]*dto.MetricFamily) (float64, error) {
	t.Helper()
	switch {
	case f.quantile != "":
		q, _ := strconv.ParseFloat(f.quantile, 64)
		h := histogramOf(fams, f.metric, f.labels)
		if h == nil {
			return 0, fmt.Errorf("%s%v: no histogram in /metrics", f.metric, f.labels)
		}
		return observe.HistogramQuantile(q, h), nil
	case strings.HasSuffix(f.metric, "_count"):
		h := histogramOf(fams, strings.TrimSuffix(f.metric, "_count"), f.labels)
		if h == nil {
			return 0, fmt.Errorf("%s%v: no histogram in /metrics", f.metric, f.labels)
		}
		return float64(h.GetSampleCount()), nil
	}
	v, ok := metricValue(t, fams, f.metric, f.labels)
	if !ok {
		return 0, fmt.Errorf("%s%v on the page, not in /metrics", f.metric, f.labels)
	}
	return v, nil
}

// statusPageFixture starts a gateway on a database with an HNSW twin (2,000 rows) and an IVF
// twin, sends it intercepted and forwarded statements, serves its observer and waits until the
// slot's WAL has been read. It returns the HTTP address.
func statusPageFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range append(itemsTable(2000),
		`CREATE INDEX items_emb_hnsw ON items USING hnsw (emb vector_l2_ops)`,
		`CREATE TABLE docs (id int PRIMARY KEY, emb vector(4))`,
		`INSERT INTO docs SELECT g, ARRAY[g % 7, g % 11, g % 13, 1]::vector FROM generate_series(1, 400) g`,
		`CREATE INDEX docs_ivf ON docs USING ivfflat (emb vector_cosine_ops) WITH (lists = 4)`,
		`ANALYZE`,
	) {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	el := observe.NewErrorLog(slog.DiscardHandler, 0)
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("p%d", rand.Uint32()),
		Observe: observe.Config{Errors: el, Version: "page-test"}, Recall: observe.RecallConfig{Rate: 1, PerSecond: 1e6}})
	waitIndexed(t, g, 2000+400)
	f := &fixture{dsn: dsn, via: viaDSN(dsn, g), g: g, rng: rand.New(rand.NewPCG(3, 5))}
	addr := serveObserver(t, g.Observer())
	// A warning logged through the gateway's error log shows on the page.
	slog.New(el).Warn("page test warning", "subsystem", "test")

	via := pgtest.Connect(t, f.via)
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	for range 20 {
		if got := ids(t, via, q, f.vector()); len(got) != 5 {
			t.Fatalf("%d rows", len(got))
		}
	}
	for _, s := range []string{
		`SELECT count(*) FROM items`,
		`SELECT id FROM docs ORDER BY emb <=> '[1,2,3,4]' DESC LIMIT 3`, // an IVF twin: no scan for the farthest
		`SELECT id FROM docs ORDER BY emb <=> '[1,2,3,4]' LIMIT 3`,
	} {
		if _, err := via.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if st := g.Stats(); st.FastPath == 0 || st.Forwarded["not_vector"] == 0 || st.Forwarded["desc"] == 0 {
		t.Fatalf("counts %v", st)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := g.Status()
		spot := slices.ContainsFunc(st.Indexes, func(ix observe.IndexStatus) bool { return ix.RecallSamples >= 10 })
		if rs := st.Replication; rs != nil && rs.SlotRetainedWAL != nil && spot {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot WAL not read, or fewer than 10 recall samples checked, in 30 s")
		}
	}
	return f, addr
}

// checkPageAgainstMetrics compares the page read by read (the served HTML, or a browser's DOM)
// with /metrics scraped before and after, again while figures that move by themselves
// (replication lag and WAL, read in the background) differ from both, up to 5 times. Every figure of the page must be one /metrics has, and
// the page must show the figures listed.
func checkPageAgainstMetrics(t *testing.T, addr string, read func() string) {
	t.Helper()
	var bad []string
	var figs []pageFigure
	for range 5 {
		before := scrape(t, addr)
		figs = pageFigures(t, read())
		if bad = compareFigures(t, figs, before, scrape(t, addr)); len(bad) == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, b := range bad {
		t.Error(b)
	}
	shown := map[string]int{}
	for _, f := range figs {
		shown[f.metric]++
	}
	for name, n := range map[string]int{
		"vecgate_ready": 1, "vecgate_sessions": 1, "vecgate_intercepted_total": 1, "vecgate_fast_path_total": 2,
		"vecgate_forwarded_total": 2, "vecgate_initial_load_rows": 1, "vecgate_index_rows": 2, "vecgate_index_bytes": 2,
		"vecgate_index_retrains_total": 1, "vecgate_index_trained_rows": 1, "vecgate_replication_applied_lsn": 1,
		"vecgate_replication_lag_bytes": 1, "vecgate_replication_lag_seconds": 1,
		"vecgate_replication_slot_retained_wal_bytes": 1, "vecgate_replication_slot_safe_wal_bytes": 1,
		"vecgate_replication_initial_loads_total": 1, "vecgate_replication_rejected_rows_total": 1,
		"vecgate_intercept_duration_seconds_count": 2, "vecgate_intercept_duration_seconds": 4,
		"vecgate_recall_spot": 1, "vecgate_recall_spot_samples_total": 1,
	} {
		if shown[name] < n {
			t.Errorf("the page shows %d figures of %s, want at least %d", shown[name], name, n)
		}
	}
	t.Logf("%d figures of the page equal /metrics", len(figs))
}

// TestStatusPage: the page at / of a running gateway shows its twins, replication, statements,
// latency and last errors, and every figure it shares with /metrics equals the scrape.
func TestStatusPage(t *testing.T) {
	_, addr := statusPageFixture(t)
	var page string
	checkPageAgainstMetrics(t, addr, func() string {
		code, body := httpGet(t, "http://"+addr+"/?refresh=0")
		if code != http.StatusOK {
			t.Fatalf("/: %d %s", code, body)
		}
		page = body
		return body
	})
	for _, want := range []string{"public.items", "public.docs", "ivf-flat", "hnsw", "items_emb_hnsw", "docs_ivf",
		"page test warning", "subsystem=test", "forwarded: desc", "streaming"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// chromium is a headless Chromium on PATH (Debian chromium; .ci/run installs it), or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// runChromium runs headless Chromium with args on url, its profile in a temporary directory,
// and returns its standard output.
func runChromium(t *testing.T, bin, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, append(all, url)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, stderr.String())
	}
	return out
}

// TestStatusPageInChromium: a headless Chromium renders the status page of a running gateway:
// the screenshot shows the page (its size, the green "ready" badge, text), and the figures of
// the DOM Chromium built equal /metrics. VECGATE_SCREENSHOT=path keeps the screenshot.
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no chromium on PATH (Debian package chromium; .ci/run installs it): the status page is not rendered in a browser")
	}
	_, addr := statusPageFixture(t)
	url := "http://" + addr + "/?refresh=0"

	shot := filepath.Join(t.TempDir(), "status.png")
	if keep := os.Getenv("VECGATE_SCREENSHOT"); keep != "" {
		shot = keep
	}
	const width, height = 1280, 1600
	runChromium(t, bin, url, "--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", width, height))
	fh, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(fh)
	fh.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Errorf("screenshot %v, want %dx%d", b, width, height)
	}
	// The page's colours: the "ready" badge (#dafbe1), table headers (#f6f8fa), dark text.
	seen := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
		}
	}
	dark := 0
	for c, n := range seen {
		if int(c[0])+int(c[1])+int(c[2]) < 200 {
			dark += n
		}
	}
	if seen[[3]uint8{0xda, 0xfb, 0xe1}] < 100 || seen[[3]uint8{0xf6, 0xf8, 0xfa}] < 1000 || dark < 2000 {
		t.Errorf("screenshot does not look like the page: %d badge, %d header, %d dark pixels of %d colours",
			seen[[3]uint8{0xda, 0xfb, 0xe1}], seen[[3]uint8{0xf6, 0xf8, 0xfa}], dark, len(seen))
	}

	var dom string
	checkPageAgainstMetrics(t, addr, func() string {
		dom = string(runChromium(t, bin, url, "--dump-dom"))
		return dom
	})
	if !strings.Contains(dom, "public.items") || !strings.Contains(dom, "page test warning") {
		t.Errorf("Chromium's DOM lacks the twins or the errors:\n%s", dom)
	}
}

// hundredTwinGateway starts a gateway on a database of 100 tables of 50 rows, each with an HNSW
// index (100 twins), and serves its observer; it returns the page's URL.
func hundredTwinGateway(tb testing.TB) string {
	tb.Helper()
	dsn := pgtest.NewDB(tb)
	c := pgtest.Connect(tb, dsn)
	ctx := context.Background()
	const tables, rows = 100, 50
	if _, err := c.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN FOR i IN 0..%d LOOP
		EXECUTE format('CREATE TABLE t%%s (id int PRIMARY KEY, emb vector(8))', i);
		EXECUTE format('INSERT INTO t%%s SELECT g, (SELECT array_agg(sin(g * d + %%s))::vector(8) FROM generate_series(1, 8) d) FROM generate_series(1, %d) g', i, i);
		EXECUTE format('CREATE INDEX t%%s_hnsw ON t%%s USING hnsw (emb vector_l2_ops)', i, i);
	END LOOP; END $$`, tables-1, rows)); err != nil {
		tb.Fatal(err)
	}
	g := startTestGateway(tb, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("h%d", rand.Uint32())})
	waitIndexed(tb, g, tables*rows)
	return "http://" + serveObserver(tb, g.Observer()) + "/?refresh=0"
}

func getPage(tb testing.TB, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s: %d %v", url, resp.StatusCode, err)
	}
	return b.String()
}

// TestStatusPage100Twins: with 100 twins the page lists each and is served, figures gathered and
// rendered, in under 100 ms (the median of 21 requests over loopback; pageBudget under the race
// detector).
func TestStatusPage100Twins(t *testing.T) {
	url := hundredTwinGateway(t)
	var times []time.Duration
	var page string
	for range 21 {
		start := time.Now()
		page = getPage(t, url)
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	if n := strings.Count(page, `data-metric="vecgate_index_rows"`); n != 100 {
		t.Errorf("%d twins on the page, want 100", n)
	}
	if med := times[len(times)/2]; med > pageBudget {
		t.Errorf("page with 100 twins: median %s, slowest %s; want under %s", med, times[len(times)-1], pageBudget)
	} else {
		t.Logf("page with 100 twins (%d bytes): median %s, slowest %s", len(page), med, times[len(times)-1])
	}
}

// BenchmarkStatusPage100Twins: one request of the status page of a gateway with 100 twins.
func BenchmarkStatusPage100Twins(b *testing.B) {
	url := hundredTwinGateway(b)
	for b.Loop() {
		getPage(b, url)
	}
}
