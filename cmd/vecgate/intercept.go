package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/sqltext"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/migrations"
	"github.com/vecgate/vecgate/planner"
	"github.com/vecgate/vecgate/proxy"
	"github.com/vecgate/vecgate/replication"
)

// searcher lets the planner find live indexes, all of them in the upstream database (dbOID).
type searcher struct {
	set   *live.Set
	dbOID uint32
}

func (s searcher) Find(schema, table, column string, m ann.Metric) (planner.Target, bool) {
	ix, ok := s.set.Lookup(schema, table, column, m)
	if !ok {
		return planner.Target{}, false
	}
	return planner.Target{Index: ix, Schema: ix.Schema, Table: ix.Table, RelOID: ix.RelOID, DatabaseOID: s.dbOID, Key: ix.Key, KeyType: ix.KeyType, Name: ix.Source,
		Exact: ix.Exact, Oversample: ix.Oversample, Kind: ix.Kind(), Lists: ix.Lists(), Probes: ix.Probes()}, true
}

// interceptor connects the proxy to the planner and to replication's read-your-writes.
type interceptor struct {
	status   func() Status // for SHOW vecgate.status
	dsn      string        // upstream, for vecgate's own statements (index definitions)
	database string        // the database vecgate follows (the upstream DSN's)
	set      *live.Set
	planner  *planner.Planner
	stream   *replication.Stream
	log      *slog.Logger
}

func (i interceptor) Simple(sql string, knobs map[string]string) (proxy.Job, proxy.Reason) {
	sess := planner.ApplySettings(knobs)
	q, err := i.planner.PlanSimple(sql, sess.Settings)
	if reason := i.forwardReason(sess, err); reason != "" {
		if err != nil && !errors.Is(err, planner.ErrNotShape) {
			i.log.Debug("forwarding vector query", "reason", err)
		}
		return nil, reason
	}
	return job{q, sess}, ""
}

// forwardReason is why a statement planned with err (nil: it could be intercepted) is forwarded
// in a session with sess, or "". A statement without a distance operator is not_vector whatever
// the session; others name the first reason that applies.
func (i interceptor) forwardReason(sess planner.Session, err error) proxy.Reason {
	var reason proxy.Reason
	if err != nil {
		reason = proxy.Reason(planner.Reason(err))
	}
	switch {
	case reason == proxy.ReasonNotVector:
	case !sess.Enabled:
		reason = proxy.ReasonDisabled
	case !i.stream.Ready():
		reason = proxy.ReasonLoading
	}
	return reason
}

func (i interceptor) Knobs(sql string) []proxy.Knob {
	var out []proxy.Knob
	for _, s := range i.planner.Settings(sql) {
		out = append(out, proxy.Knob{Name: s.Name, Value: s.Value, Local: s.Local, Block: s.Block, Reset: s.ResetAll || s.Value == ""})
	}
	return out
}

// Explain puts vecgate's decision before Postgres' plan. EXPLAIN output must reveal nothing the
// session could not SELECT: vecgate's lines name the index and the search effort but no row
// count, key or distance, and the statement Postgres plans carries placeholder keys, not the
// index's candidates (Query.Placeholder). EXPLAIN ANALYZE runs the statement: it goes to
// Postgres as the client sent it (run once, by Postgres alone), after the lines saying what
// vecgate would do.
func (i interceptor) Explain(sql string, knobs map[string]string) ([]string, string, string, bool) {
	inner, text, analyze, ok := planner.ExplainOf(sql)
	if !ok || !text {
		return nil, "", "", false
	}
	sess := planner.ApplySettings(knobs)
	reason := func(err error) string {
		msg := err.Error()
		for _, p := range []string{planner.ErrNotShape.Error() + ": ", planner.ErrForward.Error() + ": "} {
			msg = strings.TrimPrefix(msg, p)
		}
		return msg
	}
	switch {
	case !sess.Enabled:
		return []string{"vecgate: forwarded (vecgate.enabled is off)"}, sql, "", true
	case !i.stream.Ready():
		return []string{"vecgate: forwarded (indexes are loading)"}, sql, "", true
	}
	q, err := i.planner.PlanSimple(inner, sess.Settings)
	if err != nil {
		if errors.Is(err, planner.ErrNotShape) && !strings.Contains(strings.ToLower(inner), "order by") {
			return nil, "", "", false // not a vector query: Postgres' EXPLAIN alone
		}
		return []string{"vecgate: forwarded (" + reason(err) + ")"}, sql, "", true
	}
	rewritten := q.Placeholder()
	_, fast := q.Fast()
	verb := "intercepted"
	if analyze {
		verb = "would intercept"
	}
	lines := []string{
		fmt.Sprintf("vecgate: %s: live index %s (%s.%s, %s, %s)", verb, q.Target.Name,
			q.Shape.Table, q.Shape.Column, q.Shape.Metric, q.Target.Kind),
		fmt.Sprintf("vecgate: %d candidates (%s), widened while fewer than %d rows return; answered from memory when eligible: %v",
			q.Candidates, q.SearchKnob(), q.Want, fast && !sess.ExactDistances),
	}
	if cols := q.FilterColumns(); cols != nil {
		lines = append(lines, fmt.Sprintf("vecgate: filter on %s applied in the index; Postgres re-checks the whole WHERE",
			strings.Join(cols, ", ")))
	}
	if analyze {
		lines = append(lines, "vecgate: EXPLAIN ANALYZE runs the statement: Postgres' plan of the statement as sent:")
		return lines, sql, q.TableCheck(), true
	}
	send, err := planner.ExplainWith(sql, rewritten)
	if err != nil {
		return nil, "", "", false
	}
	lines = append(lines, fmt.Sprintf("vecgate: Postgres' plan of the rewritten statement (candidate keys shown as placeholders 1..%d):", q.Candidates))
	return lines, send, q.TableCheck(), true
}

// Status answers SHOW vecgate.status to superusers and members of pg_monitor connected to the
// database vecgate follows; for anyone else the statement goes to Postgres (an unknown setting:
// 42704, unless the session SET a vecgate.status of its own).
func (i interceptor) Status(sql string) (string, func() ([]string, [][]string), bool) {
	if !planner.IsShowStatus(sql) {
		return "", nil, false
	}
	check := "SELECT pg_catalog.pg_has_role(current_user, 'pg_monitor', 'MEMBER') AND pg_catalog.current_database() = " +
		sqltext.QuoteLiteral(i.database)
	return check, func() ([]string, [][]string) { return i.status().Rows() }, true
}

// job adapts a planned query to the proxy, fast path included.
type job struct {
	q    *planner.Query
	sess planner.Session
}

func (j job) Consistency() (string, time.Duration) { return j.sess.Consistency, j.sess.MaxWait }

func (j job) Next(ctx context.Context, prevRows int) (string, bool, bool, error) {
	return j.q.Next(ctx, prevRows)
}

func (j job) FastColumns() []string {
	kinds, ok := j.q.Fast()
	if !ok || (j.sess.ExactDistances && containsDistance(kinds)) {
		return nil
	}
	types := make([]string, len(kinds))
	for i, k := range kinds {
		types[i] = "float8"
		if k == planner.KeyColumn {
			types[i] = j.q.Target.KeyType
		}
	}
	return types
}

func (j job) FastKey() string    { return j.q.FastKey() }
func (j job) TableCheck() string { return j.q.TableCheck() }

func (j job) Answer(ctx context.Context) ([][]string, error) {
	kinds, _ := j.q.Fast()
	return j.q.Answer(ctx, kinds)
}

func (i interceptor) Prepare(sql string, paramOIDs []uint32) (proxy.Statement, proxy.Reason) {
	pr, err := i.planner.Prepare(sql)
	if err != nil {
		if !errors.Is(err, planner.ErrNotShape) {
			i.log.Debug("forwarding prepared vector query", "reason", err)
		}
		if reason := proxy.Reason(planner.Reason(err)); reason != proxy.ReasonNoIndex || i.stream.Ready() {
			return nil, reason
		}
		return nil, proxy.ReasonLoading
	}
	pr.ParamOIDs = append([]uint32(nil), paramOIDs...)
	return statement{i: i, pr: pr}, ""
}

// statement is a prepared top-k statement, planned again at each Bind.
type statement struct {
	i  interceptor
	pr *planner.Prepared
}

func (s statement) Rewrite() string { return s.pr.SQL }
func (s statement) Params() int     { return s.pr.Params }

func (s statement) Bind(params [][]byte, formats []int16, knobs map[string]string) (proxy.Job, proxy.Reason) {
	sess := planner.ApplySettings(knobs)
	if reason := s.i.forwardReason(sess, nil); reason != "" {
		return nil, reason
	}
	q, err := s.i.planner.Bind(s.pr, params, formats, sess.Settings)
	if err != nil {
		s.i.log.Debug("forwarding bound vector query", "reason", err)
		return nil, proxy.Reason(planner.Reason(err))
	}
	return job{q, sess}, ""
}

func (i interceptor) WaitApplied(ctx context.Context, lsn string) error {
	l, err := replication.ParseLSN(lsn)
	if err != nil {
		return err
	}
	return i.stream.WaitFor(ctx, l)
}

// gatewayOptions are serve's settings beyond the proxy's own.
type gatewayOptions struct {
	Intercept bool   // answer vector top-k from live indexes
	SlotName  string // replication slot suffix
	DataDir   string // index snapshots; "" for none
	// CatalogInterval is how often the catalog is checked for new tables and indexes (0: the
	// replication default, 30s).
	CatalogInterval time.Duration
	// Twins shape the in-memory twins of pgvector's indexes (nil: live.DefaultOptions).
	Twins *live.Options
}

// gateway is a running vecgate: the proxy and, when intercepting, the live indexes and the
// replication stream that fills them.
type gateway struct {
	srv    *proxy.Server
	set    *live.Set
	stream *replication.Stream // nil when not intercepting
	counts *counts
	obs    *observer // metrics, status and readiness (metrics.go)

	closeOnce sync.Once
	closeErr  error
}

// startGateway starts replication (when intercepting) and the proxy.
func startGateway(ctx context.Context, cfg proxy.Config, opt gatewayOptions) (*gateway, error) {
	g := &gateway{counts: newCounts()}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	cfg.Observer = g.counts
	if opt.Intercept {
		// vecgate's own schema (index definitions, state) in the upstream database.
		if err := migrations.Up(ctx, cfg.Upstream, logger); err != nil {
			return nil, err
		}
		twins := live.DefaultOptions()
		if opt.Twins != nil {
			twins = *opt.Twins
		}
		g.set = live.NewWith(logger, twins)
		if err := g.loadDefinitions(ctx, cfg.Upstream, logger); err != nil {
			return nil, err
		}
		rcfg := replication.DefaultConfig()
		rcfg.DSN, rcfg.Applier, rcfg.SnapshotDir, rcfg.Logger = cfg.Upstream, g.set, opt.DataDir, logger
		if opt.CatalogInterval != 0 {
			rcfg.CatalogInterval = opt.CatalogInterval
		}
		if opt.SlotName != "" {
			rcfg.Name = opt.SlotName
		}
		stream, err := replication.New(rcfg)
		if err != nil {
			return nil, fmt.Errorf("replication: %w", err)
		}
		if err := stream.Start(ctx); err != nil {
			return nil, fmt.Errorf("replication: %w", err)
		}
		g.stream = stream
		cfg.Catalog = stream
		// Twins belong to the upstream database: sessions on other databases are only relayed
		// (cfg.Database), and each session's table check requires the database's OID.
		dbOID, dbName, err := upstreamDatabase(ctx, cfg.Upstream)
		if err != nil {
			_ = stream.Close()
			return nil, err
		}
		cfg.Database = dbName
		g.counts.latency = observe(g, observerOptions{Upstream: cfg.Upstream, Logger: logger}).latency
		cfg.Interceptor = interceptor{dsn: cfg.Upstream, database: dbName, set: g.set, planner: planner.New(searcher{g.set, dbOID}),
			stream: stream, log: logger, status: g.status}
	}
	srv, err := proxy.New(cfg)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		if g.stream != nil {
			_ = g.stream.Close()
		}
		return nil, err
	}
	g.srv = srv
	return g, nil
}

// Close shuts the proxy down (sessions get until ctx ends) and stops replication.
func (g *gateway) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		if g.obs != nil {
			g.obs.Close()
		}
		g.closeErr = g.srv.Shutdown(ctx)
		if g.stream != nil {
			if err := g.stream.Close(); err != nil && g.closeErr == nil {
				g.closeErr = err
			}
		}
	})
	return g.closeErr
}

// counts tallies client statements as the proxy reports them (proxy.Observer): intercepted ones,
// by path, and forwarded ones by reason. It is the one source of these figures for the metrics,
// /status and SHOW vecgate.status.
type counts struct {
	// latency, when set before the proxy starts, times intercepted statements
	// (vecgate_intercept_duration_seconds).
	latency *prometheus.HistogramVec

	mu sync.Mutex
	t  tally // guarded by mu
}

// tally is a copy of the counts.
type tally struct {
	Intercepted int64 // answered by vecgate, cancelled ones included
	Fast        int64 // of which answered from memory
	Canceled    int64 // of which ended with 57014 (cancel, statement_timeout)
	Forwarded   map[proxy.Reason]int64
}

var _ proxy.Observer = (*counts)(nil)

func newCounts() *counts { return &counts{t: tally{Forwarded: map[proxy.Reason]int64{}}} }

func (c *counts) Forwarded(r proxy.Reason) {
	c.mu.Lock()
	c.t.Forwarded[r]++
	c.mu.Unlock()
}

func (c *counts) Intercepted(p proxy.Path, d time.Duration) {
	c.mu.Lock()
	c.t.Intercepted++
	if p == proxy.PathFast {
		c.t.Fast++
	}
	c.mu.Unlock()
	if c.latency != nil {
		c.latency.WithLabelValues(string(p)).Observe(d.Seconds())
	}
}

func (c *counts) Canceled() {
	c.mu.Lock()
	c.t.Intercepted++
	c.t.Canceled++
	c.mu.Unlock()
}

// snapshot copies the counts (an empty tally for nil).
func (c *counts) snapshot() tally {
	if c == nil {
		return tally{Forwarded: map[proxy.Reason]int64{}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	t.Forwarded = maps.Clone(c.t.Forwarded)
	return t
}

// keyed names the figures as bench sql prints them and the tests read them: "intercept",
// "fast", "canceled" (those not 0), and "forward:<reason>".
func (t tally) keyed() map[string]int64 {
	m := map[string]int64{}
	for k, v := range map[string]int64{"intercept": t.Intercepted, "fast": t.Fast, "canceled": t.Canceled} {
		if v != 0 {
			m[k] = v
		}
	}
	for r, v := range t.Forwarded {
		m[strings.TrimSuffix("forward:"+string(r), ":")] = v
	}
	return m
}

// get reads one figure by its key (tally.keyed).
func (c *counts) get(key string) int64 { return c.snapshot().keyed()[key] }

func containsDistance(kinds []planner.ColumnKind) bool {
	for _, k := range kinds {
		if k == planner.DistanceColumn {
			return true
		}
	}
	return false
}

// upstreamDatabase returns the OID and name of the upstream database (the DSN's).
func upstreamDatabase(ctx context.Context, dsn string) (uint32, string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, "", fmt.Errorf("upstream database: %w", err)
	}
	defer conn.Close(context.Background())
	var oid uint32
	var name string
	if err := conn.QueryRow(ctx, "SELECT oid, datname FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()").Scan(&oid, &name); err != nil {
		return 0, "", fmt.Errorf("upstream database: %w", err)
	}
	return oid, name, nil
}

// loadDefinitions gives the live set vecgate's index definitions before replication starts.
func (g *gateway) loadDefinitions(ctx context.Context, dsn string, logger *slog.Logger) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("index definitions: %w", err)
	}
	defer conn.Close(context.Background())
	return applyDefinitions(ctx, conn, g.set, nil, logger)
}
