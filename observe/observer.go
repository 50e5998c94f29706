package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/proxy"
	"github.com/vecgate/vecgate/replication"
)

// The observer is what serve shows about a running gateway: Prometheus metrics, health and
// readiness, /status, and the initial-load progress. Everything it reports is read from the
// gateway's live state when asked (scrape, request, SHOW); the only state of its own is a cache
// of catalog facts the live set does not carry (pgvector index parameters, table row estimates)
// and of the replication slot's WAL, refreshed in the background from the upstream database, and
// the start of the current initial load (for its rate and ETA).

// Config configures an Observer.
type Config struct {
	// Upstream DSN, for the catalog facts (index parameters, row estimates). Empty: none.
	Upstream string
	Logger   *slog.Logger
	// Version is the vecgate version Status reports.
	Version string
	// ReadyMaxLag and ReadyMaxLagBytes bound replication lag for /readyz. Defaults 10s, 64 MiB.
	ReadyMaxLag      time.Duration
	ReadyMaxLagBytes uint64
	// Refresh is how often the catalog cache is checked against the live index set. Default 1s
	// (a check is free; the catalog is read only when the set of indexes changed, or every minute).
	Refresh time.Duration
	// Errors keeps the last warnings and errors logged, for the status page; nil: none shown.
	Errors *ErrorLog
}

// Source is what an Observer reads of a running gateway. Every field may be nil: Set and Stream
// are nil when interception is off.
type Source struct {
	Sessions func() int    // client sessions open now
	Accepted func() uint64 // client sessions accepted since start (vecgate_sessions_total)
	Counts   *Counts
	Set      *live.Set
	Stream   *replication.Stream
	// Recall is the recall spot-check (nil: off).
	Recall *Recall
}

// indexParams are a pgvector index's build parameters, from the catalog.
type indexParams struct {
	Method            string // hnsw or ivfflat
	M, EfConstruction int
	Lists             int
}

// Observer observes one gateway. Create it with New; Start its refresher; Close it.
type Observer struct {
	src     Source
	opt     Config
	log     *slog.Logger
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec // intercepted statement duration by path (fast, rewrite)
	// collectors are what reg serves: every metric vecgate exports is described by one of them.
	collectors []prometheus.Collector

	mu        sync.Mutex
	params    map[string]indexParams // by "schema.index"; guarded by mu
	rowsEst   map[string]float64     // reltuples by "schema.table"; guarded by mu
	catSig    string                 // live index set the cache was read for; guarded by mu
	catRead   time.Time              // guarded by mu
	catErr    string                 // last catalog read error; guarded by mu
	loadStart time.Time              // start of the initial load being watched; zero when none; guarded by mu
	loadRows0 int64                  // rows indexed when loadStart was taken; guarded by mu
	slot      slotWAL                // the replication slot's WAL, read upstream; guarded by mu
	slotTry   time.Time              // last attempt to read slot; guarded by mu

	cancel context.CancelFunc
	wg     sync.WaitGroup // refresher and HTTP servers
	srvMu  sync.Mutex
	srvs   []*http.Server // guarded by srvMu
}

// New returns an observer of src; Start runs its catalog refresher.
func New(src Source, opt Config) *Observer {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.ReadyMaxLag <= 0 {
		opt.ReadyMaxLag = 10 * time.Second
	}
	if opt.ReadyMaxLagBytes == 0 {
		opt.ReadyMaxLagBytes = 64 << 20
	}
	if opt.Refresh <= 0 {
		opt.Refresh = time.Second
	}
	o := &Observer{
		src: src, opt: opt, log: opt.Logger,
		reg: prometheus.NewRegistry(),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vecgate_intercept_duration_seconds",
			Help:    "Time to answer an intercepted statement, from planning to the last round (path: fast = from memory, rewrite = id-list rewrite through Postgres).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"path"}),
		params:  map[string]indexParams{},
		rowsEst: map[string]float64{},
	}
	o.collectors = []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		gatewayCollector{o},
		o.latency,
	}
	o.reg.MustRegister(o.collectors...)
	return o
}

// Start runs the catalog refresher in the background (a no-op without Upstream or replication).
func (o *Observer) Start() {
	if o.opt.Upstream == "" || o.src.Stream == nil || o.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		t := time.NewTicker(o.opt.Refresh)
		defer t.Stop()
		for {
			o.refresh(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the refresher and the HTTP servers.
func (o *Observer) Close() {
	if o.cancel != nil {
		o.cancel()
	}
	o.srvMu.Lock()
	for _, s := range o.srvs {
		_ = s.Close()
	}
	o.srvs = nil
	o.srvMu.Unlock()
	o.wg.Wait()
}

// indexSignature names the live index set (and the load generation) the catalog cache matches.
func (o *Observer) indexSignature() string {
	if o.src.Set == nil {
		return ""
	}
	var names []string
	for _, ix := range o.src.Set.Indexes() {
		names = append(names, ix.Schema+"."+ix.Source)
	}
	sort.Strings(names)
	res := 0
	if o.src.Stream != nil {
		res = o.src.Stream.Status().Resnapshots
	}
	return fmt.Sprintf("%d|%s", res, strings.Join(names, ","))
}

// slotWAL is what Postgres says of the replication slot's WAL: how much it retains and how much
// more may be written before max_slot_wal_keep_size invalidates it.
type slotWAL struct {
	Read     time.Time // zero: never read, or the last read failed
	Retained uint64    // pg_current_wal_lsn() - restart_lsn
	Safe     *int64    // pg_replication_slots.safe_wal_size; nil when unbounded (max_slot_wal_keep_size -1)
	Status   string    // pg_replication_slots.wal_status: reserved, extended, unreserved, lost
}

// slotEvery is how often the slot's WAL is read upstream.
const slotEvery = 10 * time.Second

// refresh reads the catalog when the live index set changed or the cache is a minute old, and the
// replication slot's WAL every slotEvery, on one connection.
func (o *Observer) refresh(ctx context.Context) {
	sig := o.indexSignature()
	slot := o.src.Stream.Status().Slot
	o.mu.Lock()
	catDue := sig != o.catSig || time.Since(o.catRead) >= time.Minute
	slotDue := slot != "" && time.Since(o.slotTry) >= slotEvery
	if slotDue {
		o.slotTry = time.Now()
	}
	o.mu.Unlock()
	if !catDue && !slotDue {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, o.opt.Upstream)
	if err != nil {
		o.refreshFailed(ctx, err, catDue, slotDue)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if slotDue {
		w, err := readSlotWAL(ctx, conn, slot)
		if err != nil {
			o.refreshFailed(ctx, err, false, true)
		} else {
			o.mu.Lock()
			o.slot = w
			o.mu.Unlock()
		}
	}
	if !catDue {
		return
	}
	params, rows, err := readCatalog(ctx, conn)
	if err != nil {
		o.refreshFailed(ctx, err, true, false)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.params, o.rowsEst, o.catSig, o.catRead, o.catErr = params, rows, sig, time.Now(), ""
}

// refreshFailed notes a failed catalog read (shown in Status) or slot read (the slot's figures
// are then unknown).
func (o *Observer) refreshFailed(ctx context.Context, err error, cat, slot bool) {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return // closing
	}
	o.log.Debug("upstream read for status", "err", err)
	o.mu.Lock()
	defer o.mu.Unlock()
	if cat {
		o.catErr = err.Error()
	}
	if slot {
		o.slot = slotWAL{}
	}
}

// readSlotWAL reads the WAL the slot retains (no row: the slot is not there yet, retaining none).
func readSlotWAL(ctx context.Context, conn *pgx.Conn, slot string) (slotWAL, error) {
	w := slotWAL{Read: time.Now()}
	var retained *int64
	err := conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, restart_lsn)::int8,
		safe_wal_size, coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&retained, &w.Safe, &w.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, nil
	}
	if err != nil {
		return slotWAL{}, err
	}
	if retained != nil && *retained > 0 {
		w.Retained = uint64(*retained)
	}
	return w, nil
}

// readCatalog reads pgvector index parameters and table row estimates.
func readCatalog(ctx context.Context, conn *pgx.Conn) (map[string]indexParams, map[string]float64, error) {
	cat, err := catalog.Discover(ctx, conn)
	if err != nil {
		return nil, nil, err
	}
	params := map[string]indexParams{}
	rows := map[string]float64{}
	var oids []uint32
	for _, t := range cat.Tables {
		oids = append(oids, t.OID)
		for _, ix := range t.Indexes {
			params[t.Schema+"."+ix.Name] = indexParams{Method: ix.Method, M: ix.M, EfConstruction: ix.EfConstruction, Lists: ix.Lists}
		}
	}
	r, err := conn.Query(ctx, `SELECT n.nspname, c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY($1)`, oids)
	if err != nil {
		return nil, nil, err
	}
	for r.Next() {
		var schema, name string
		var est float32
		if err := r.Scan(&schema, &name, &est); err != nil {
			r.Close()
			return nil, nil, err
		}
		rows[schema+"."+name] = float64(est)
	}
	if err := r.Err(); err != nil {
		return nil, nil, err
	}
	return params, rows, nil
}

// Serve serves the status page (/), /metrics, /healthz, /readyz and /status on addr until Close.
func (o *Observer) Serve(addr string) (net.Addr, error) {
	return o.listen(addr, o.handler(), "http listening", "/ /metrics /healthz /readyz /status")
}

// ServeDebug serves Go's pprof profiles under /debug/pprof/ on addr until Close (keep it on
// loopback: profiles reveal memory contents).
func (o *Observer) ServeDebug(addr string) (net.Addr, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return o.listen(addr, mux, "pprof listening", "/debug/pprof/")
}

// listen serves h on addr until Close.
func (o *Observer) listen(addr string, h http.Handler, msg, paths string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	o.srvMu.Lock()
	o.srvs = append(o.srvs, srv)
	o.srvMu.Unlock()
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Warn("http listener", "addr", ln.Addr().String(), "err", err)
		}
	}()
	o.log.Info(msg, "addr", ln.Addr().String(), "paths", paths)
	return ln.Addr(), nil
}

func (o *Observer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", o.servePage)
	mux.Handle("GET /metrics", promhttp.HandlerFor(o.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(o.log.Handler(), slog.LevelWarn)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ok, reason := o.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, reason)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(o.Status())
	})
	return mux
}

// Ready says whether the gateway answers from caught-up indexes, and why not.
func (o *Observer) Ready() (bool, string) {
	if o.src.Stream == nil {
		return true, "ready: interception off, every statement is forwarded"
	}
	st := o.src.Stream.Status()
	opt := o.opt
	switch {
	case st.State != replication.StateStreaming:
		reason := fmt.Sprintf("not ready: replication %s", st.State)
		if st.LastError != "" {
			reason += ": " + st.LastError
		}
		return false, reason
	case st.LagTime > opt.ReadyMaxLag:
		return false, fmt.Sprintf("not ready: replication lag %s exceeds ready-max-lag %s", st.LagTime.Round(time.Millisecond), opt.ReadyMaxLag)
	case st.LagBytes > opt.ReadyMaxLagBytes:
		return false, fmt.Sprintf("not ready: replication %d bytes behind, over ready-max-lag-bytes %d", st.LagBytes, opt.ReadyMaxLagBytes)
	}
	return true, fmt.Sprintf("ready: streaming, applied %s", st.Applied)
}

// Hook is what the proxy reports each client statement to (proxy.Config.Observer): the counts
// of Source.Counts, and the time of intercepted statements by path
// (vecgate_intercept_duration_seconds).
func (o *Observer) Hook() proxy.Observer { return hook{o} }

type hook struct{ o *Observer }

func (h hook) Forwarded(r proxy.Reason) {
	if c := h.o.src.Counts; c != nil {
		c.Forwarded(r)
	}
}

func (h hook) Intercepted(p proxy.Path, d time.Duration) {
	if c := h.o.src.Counts; c != nil {
		c.Intercepted(p, d)
	}
	h.o.latency.WithLabelValues(string(p)).Observe(d.Seconds())
}

func (h hook) Canceled() {
	if c := h.o.src.Counts; c != nil {
		c.Canceled()
	}
}

// gatewayCollector reads the gateway's live state at scrape time.
type gatewayCollector struct{ o *Observer }

var (
	descSessions = prometheus.NewDesc("vecgate_sessions",
		"Client sessions open now.", nil, nil)
	descSessionsTotal = prometheus.NewDesc("vecgate_sessions_total",
		"Client sessions accepted since start.", nil, nil)
	descIntercepted = prometheus.NewDesc("vecgate_intercepted_total",
		"Statements answered by vecgate (from memory or by the id-list rewrite).", nil, nil)
	descFast = prometheus.NewDesc("vecgate_fast_path_total",
		"Intercepted statements answered from memory without a Postgres round trip (a subset of vecgate_intercepted_total).", nil, nil)
	descForwarded = prometheus.NewDesc("vecgate_forwarded_total",
		"Client statements not answered with a live index, by reason: not_vector (no distance operator), not_shape, no_index, desc, halfvec, planner, loading, disabled, transaction, lagging, table_check, widening, rewrite_error, pipeline (not sent as one Bind … Sync group), explain, status, ddl, copy, error, panic. With vecgate_intercepted_total, every statement once.", []string{"reason"}, nil)
	descIndexRows = prometheus.NewDesc("vecgate_index_rows",
		"Rows in a live in-memory index.", []string{"table", "column", "metric", "source", "kind"}, nil)
	descIndexBytes = prometheus.NewDesc("vecgate_index_bytes",
		"Memory used by a live in-memory index.", []string{"table", "column", "metric", "source", "kind"}, nil)
	descIndexCovered = prometheus.NewDesc("vecgate_index_covered_rows",
		"Rows whose other columns a covering twin holds (covered=yes: statements returning them are answered from memory) or does not (covered=no: past --twin-cover-max-row, or not known).",
		[]string{"table", "column", "metric", "source", "kind", "covered"}, nil)
	descIndexRetrains = prometheus.NewDesc("vecgate_index_retrains_total",
		"Retrains of an IVF twin's lists since it was built (its table doubled, or its rows drifted from the centroids).",
		[]string{"table", "column", "metric", "source", "kind"}, nil)
	descIndexDrifted = prometheus.NewDesc("vecgate_index_drifted_rows",
		"Rows of a quantised twin drifted past its codes, kept on a side list searched exactly.",
		[]string{"table", "column", "metric", "source", "kind"}, nil)
	descIndexRequants = prometheus.NewDesc("vecgate_index_requantizations_total",
		"Re-quantisations of an HNSW SQ8 twin since it was built (its rows drifted past its codes).",
		[]string{"table", "column", "metric", "source", "kind"}, nil)
	descIndexTrainedRows = prometheus.NewDesc("vecgate_index_trained_rows",
		"Rows an IVF twin held when it last trained its lists.", []string{"table", "column", "metric", "source", "kind"}, nil)
	descReplState = prometheus.NewDesc("vecgate_replication_state",
		"1 for the replication stream's current state.", []string{"state"}, nil)
	descReady = prometheus.NewDesc("vecgate_ready",
		"1 when /readyz answers 200: indexes loaded and replication lag within bounds.", nil, nil)
	descApplied = prometheus.NewDesc("vecgate_replication_applied_lsn",
		"Upstream WAL position applied to the indexes (as a number; 0/16B3748 is 0x16B3748).", nil, nil)
	descAcked = prometheus.NewDesc("vecgate_replication_acknowledged_lsn",
		"Upstream WAL position confirmed to Postgres (WAL before it can be recycled).", nil, nil)
	descLagBytes = prometheus.NewDesc("vecgate_replication_lag_bytes",
		"Bytes of upstream WAL not yet applied.", nil, nil)
	descLagSeconds = prometheus.NewDesc("vecgate_replication_lag_seconds",
		"Commit-to-apply delay of the last replicated transaction (0 when caught up).", nil, nil)
	descRejected = prometheus.NewDesc("vecgate_replication_rejected_rows_total",
		"Rows the indexes refused (e.g. wrong dimension) or that could not be decoded.", nil, nil)
	descResnapshots = prometheus.NewDesc("vecgate_replication_initial_loads_total",
		"Initial loads (full snapshots) done since start.", nil, nil)
	descSkipped = prometheus.NewDesc("vecgate_replication_skipped_tables",
		"Tables with vector columns that are not replicated (see /status for the reasons).", nil, nil)
	descLoadRows = prometheus.NewDesc("vecgate_initial_load_rows",
		"Rows indexed, each table counted once whatever the number of its twins: so far while an initial load runs, else now.", nil, nil)
	descLoadEst = prometheus.NewDesc("vecgate_initial_load_estimated_rows",
		"Estimated rows of the running initial load (pg_class.reltuples); 0 when unknown or not loading.", nil, nil)
	descLoadRate = prometheus.NewDesc("vecgate_initial_load_rows_per_second",
		"Rate of the running initial load; 0 when not loading.", nil, nil)
	descLoadETA = prometheus.NewDesc("vecgate_initial_load_eta_seconds",
		"Estimated seconds until the running initial load ends; 0 when unknown or not loading.", nil, nil)
	descLoading = prometheus.NewDesc("vecgate_initial_load_running",
		"1 while an initial load (or resnapshot) runs.", nil, nil)
	descSlotRetained = prometheus.NewDesc("vecgate_replication_slot_retained_wal_bytes",
		"WAL the replication slot keeps Postgres from recycling (pg_current_wal_lsn() - restart_lsn), read upstream every 10 s; absent when unknown.", nil, nil)
	descRecallSpot = prometheus.NewDesc("vecgate_recall_spot",
		"Recall@k of a twin's answers, spot-checked: mean over its last samples (--recall-sample) of the share of the exact k nearest rows (a scan of the twin's full-precision vectors) among the keys vecgate used (the rewrite's candidates, or the rows answered from memory). Absent before the first sample.",
		[]string{"table", "column", "metric", "source", "kind"}, nil)
	descRecallSamples = prometheus.NewDesc("vecgate_recall_spot_samples_total",
		"Answers of a twin whose recall was spot-checked since start.", []string{"table", "column", "metric", "source", "kind"}, nil)
	descRecallDropped = prometheus.NewDesc("vecgate_recall_spot_dropped_total",
		"Samples of the recall spot-check dropped because its scanner was behind.", nil, nil)
	descSlotSafe = prometheus.NewDesc("vecgate_replication_slot_safe_wal_bytes",
		"WAL that may still be written before max_slot_wal_keep_size invalidates the slot (pg_replication_slots.safe_wal_size; negative: past it); absent when unbounded or unknown.", nil, nil)

	replicationStates = []replication.State{replication.StateStarting, replication.StateLoading,
		replication.StateStreaming, replication.StateReconnecting, replication.StateStopped}
)

func (c gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descSessionsTotal, descIntercepted, descFast,
		descForwarded, descIndexRows, descIndexBytes, descIndexCovered, descIndexRetrains, descIndexTrainedRows, descIndexDrifted, descIndexRequants, descReplState, descReady, descApplied, descAcked,
		descLagBytes, descLagSeconds, descRejected, descResnapshots, descSkipped, descLoadRows,
		descLoadEst, descLoadRate, descLoadETA, descLoading, descSlotRetained, descSlotSafe,
		descRecallSpot, descRecallSamples, descRecallDropped} {
		ch <- d
	}
}

func (c gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.o.src
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if src.Sessions != nil {
		gauge(descSessions, float64(src.Sessions()))
	}
	if src.Accepted != nil {
		counter(descSessionsTotal, float64(src.Accepted()))
	}
	var stats Stats
	if src.Counts != nil {
		stats = src.Counts.Stats()
	}
	counter(descIntercepted, float64(stats.Intercepted))
	counter(descFast, float64(stats.FastPath))
	for reason, v := range stats.Forwarded {
		if reason == "" {
			reason = "unspecified"
		}
		counter(descForwarded, float64(v), reason)
	}
	if src.Set != nil {
		for _, ix := range src.Set.Indexes() {
			labels := []string{ix.Schema + "." + ix.Table, ix.Column, ix.Metric.String(), ix.Source, ix.Kind()}
			gauge(descIndexRows, float64(ix.Len()), labels...)
			gauge(descIndexBytes, float64(ix.MemoryBytes()), labels...)
			if held, unheld, _ := ix.HeldRows(); held+unheld > 0 {
				gauge(descIndexCovered, float64(held), append(labels, "yes")...)
				gauge(descIndexCovered, float64(unheld), append(labels, "no")...)
			}
			if tr, ok := ix.Training(); ok {
				counter(descIndexRetrains, float64(tr.Retrains), labels...)
				gauge(descIndexTrainedRows, float64(tr.Rows), labels...)
			}
			if q, ok := ix.Quantization(); ok {
				gauge(descIndexDrifted, float64(q.Drifted), labels...)
				counter(descIndexRequants, float64(q.Requantizations), labels...)
			}
			if f, ok := src.Recall.Figure(ix); ok {
				gauge(descRecallSpot, f.Mean, labels...)
				counter(descRecallSamples, float64(f.Samples), labels...)
			}
		}
	}
	if src.Recall != nil {
		counter(descRecallDropped, float64(src.Recall.Dropped()))
	}
	if src.Stream == nil {
		return
	}
	st := src.Stream.Status()
	for _, s := range replicationStates {
		v := 0.0
		if st.State == s {
			v = 1
		}
		gauge(descReplState, v, string(s))
	}
	ready, _ := c.o.Ready()
	gauge(descReady, boolFloat(ready))
	gauge(descApplied, float64(st.Applied))
	gauge(descAcked, float64(st.Acknowledged))
	gauge(descLagBytes, float64(st.LagBytes))
	gauge(descLagSeconds, st.LagTime.Seconds())
	counter(descRejected, float64(st.RejectedRows))
	counter(descResnapshots, float64(st.Resnapshots))
	skipped := 0
	for _, t := range st.Tables {
		if t.Skip != "" {
			skipped++
		}
	}
	gauge(descSkipped, float64(skipped))
	lp := c.o.loadProgress(st)
	gauge(descLoading, boolFloat(lp.Running))
	gauge(descLoadRows, float64(lp.Rows))
	gauge(descLoadEst, float64(lp.EstimatedRows))
	gauge(descLoadRate, lp.RowsPerSecond)
	gauge(descLoadETA, lp.ETASeconds)
	if w, ok := c.o.slotWAL(); ok {
		gauge(descSlotRetained, float64(w.Retained))
		if w.Safe != nil {
			gauge(descSlotSafe, float64(*w.Safe))
		}
	}
}

// slotWAL is the replication slot's WAL as last read upstream; false when unknown (never read,
// the last read failed, or it is over three reads old).
func (o *Observer) slotWAL() (slotWAL, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.slot
	return w, !w.Read.IsZero() && time.Since(w.Read) < 3*slotEvery
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// IndexedRows is "rows indexed" wherever vecgate shows it (status, metrics, the progress bar,
// bench sql): the rows its live twins hold, each table counted once (a table's twins hold the
// same rows; the largest count stands for the table while a new twin fills), in total and by
// "schema.table".
func IndexedRows(set *live.Set) (total int64, byTable map[string]int64) {
	byTable = map[string]int64{}
	if set == nil {
		return 0, byTable
	}
	for _, ix := range set.Indexes() {
		k := ix.Schema + "." + ix.Table
		byTable[k] = max(byTable[k], int64(ix.Len()))
	}
	for _, n := range byTable {
		total += n
	}
	return total, byTable
}

// LoadProgress is the initial load's progress now (zero when interception is off).
func (o *Observer) LoadProgress() LoadProgress {
	if o.src.Stream == nil {
		return LoadProgress{}
	}
	return o.loadProgress(o.src.Stream.Status())
}
