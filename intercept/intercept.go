package intercept

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/sqltext"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/planner"
	"github.com/vecgate/vecgate/proxy"
)

// Searcher is the planner's view of set: every live index, all of them in the upstream database
// (dbOID).
func Searcher(set *live.Set, dbOID uint32) planner.Searcher { return searcher{set, dbOID} }

// searcher lets the planner find live indexes, all of them in the upstream database (dbOID).
type searcher struct {
	set   *live.Set
	dbOID uint32
}

// Loading implements planner.Loader: the table's twins are being loaded alone (or, for a
// partitioned table, a leaf's: partition.go).
func (s searcher) Loading(schema, table string) bool { return s.set.Loading(schema, table) }

func (s searcher) Find(schema, table, column string, m ann.Metric) (planner.Target, bool) {
	ix, ok := s.set.Lookup(schema, table, column, m)
	if !ok {
		return s.findParent(schema, table, column, m)
	}
	return s.target(ix), true
}

func (s searcher) target(ix *live.Index) planner.Target {
	t := planner.Target{Index: ix, Schema: ix.Schema, Table: ix.Table, RelOID: ix.RelOID, DatabaseOID: s.dbOID, Key: ix.Key, KeyType: ix.KeyType,
		KeyColumns: ix.KeyColumns, KeyTypes: ix.KeyTypes, Name: ix.Source,
		Exact: ix.Exact, Oversample: ix.Oversample, Kind: ix.Kind(), Lists: ix.Lists(), Probes: ix.Probes(), Halfvec: ix.Halfvec(), Sparse: ix.Sparse()}
	if e := ix.Expr(); e != "" {
		t.Expr = planner.ColumnExpr{Kind: string(e), Dims: ix.Dims()}
	}
	return t
}

// FindExpr implements planner.ExprSearcher: the twin of an expression index.
func (s searcher) FindExpr(schema, table, column string, expr planner.ColumnExpr, m ann.Metric) (planner.Target, bool) {
	ix, ok := s.set.LookupExpr(schema, table, column, expr.Kind, expr.Dims, m)
	if !ok {
		return planner.Target{}, false
	}
	return s.target(ix), true
}

// Stream is what the interceptor needs of replication (replication.Stream, adapted by the
// gateway): whether the live indexes are loaded, read-your-writes, and reloads after DDL.
type Stream interface {
	Ready() bool
	// WaitApplied returns once the live indexes have applied the upstream WAL up to lsn (as
	// pg_current_wal_lsn prints it), or with ctx's error.
	WaitApplied(ctx context.Context, lsn string) error
	// Reload re-reads the catalog and rebuilds the live indexes.
	Reload()
	// Refresh re-reads the catalog and acts on what changed, loading tables ("schema.table")
	// again even if unchanged (replication.Stream.Refresh).
	Refresh(tables ...string)
}

// Config is what an interceptor works with.
type Config struct {
	// Context bounds the interceptor's background work (the distance calibration; nil: none
	// ends it).
	Context     context.Context
	DSN         string // upstream, for vecgate's own statements (index definitions)
	Database    string // the database vecgate follows (the upstream DSN's)
	DatabaseOID uint32 // its OID, for each session's table check
	Set         *live.Set
	Stream      Stream
	Logger      *slog.Logger
	// Status answers SHOW vecgate.status (observe.Status.Rows).
	Status func() (columns []string, rows [][]string)
	// Sampler takes samples of the answers for the recall spot-check (observe.Recall); nil: none.
	Sampler Sampler
}

// Sampler is what the interceptor hands samples of its answers to (observe.Recall): Take is
// asked once per answer and must be cheap; Offer must not block.
type Sampler interface {
	Take() bool
	// Offer: the twin ix answered the query vector vec, whose k nearest rows were wanted, with
	// keys (the rewrite's candidates or the rows answered from memory). vec and keys are the
	// query's: Offer copies what it keeps.
	Offer(ix *live.Index, vec []float32, k int, keys []ann.Key)
}

// New returns the proxy.Interceptor that plans vector top-k statements against cfg.Set.
func New(cfg Config) proxy.Interceptor {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := planner.New(Searcher(cfg.Set, cfg.DatabaseOID))
	cal := newCalibration(cfg.DSN, cfg.Logger)
	cal.start(cmp.Or[context.Context](cfg.Context, context.Background()))
	p.SetDistances(cal.get)
	return interceptor{dsn: cfg.DSN, database: cfg.Database, set: cfg.Set, stream: cfg.Stream, log: cfg.Logger,
		status: cfg.Status, planner: p, sampler: cfg.Sampler}
}

var _ proxy.Interceptor = interceptor{}

// interceptor connects the proxy to the planner and to replication's read-your-writes.
type interceptor struct {
	status   func() ([]string, [][]string) // for SHOW vecgate.status
	dsn      string                        // upstream, for vecgate's own statements (index definitions)
	database string                        // the database vecgate follows (the upstream DSN's)
	set      *live.Set
	planner  *planner.Planner
	stream   Stream
	log      *slog.Logger
	sampler  Sampler // nil: no recall spot-check
}

func (i interceptor) Simple(sql string, knobs map[string]string) (proxy.Job, proxy.Reason) {
	sess := planner.ApplySettings(knobs)
	q, err := i.planner.PlanSimple(sql, sess.Settings)
	if nq, nerr := i.nested(sql, sess, err); nq != nil || nerr != nil {
		if reason := i.forwardReason(sess, nerr); reason != "" {
			i.log.Debug("forwarding statement with a top-k node", "reason", nerr)
			return nil, reason
		}
		return roundsJob{nq, sess}, ""
	}
	if reason := i.forwardReason(sess, err); reason != "" {
		if err != nil && !errors.Is(err, planner.ErrNotShape) {
			i.log.Debug("forwarding vector query", "reason", err)
		}
		return nil, reason
	}
	return newJob(q, sess, i.sampler), ""
}

// nested plans sql as a statement with a top-k node inside (planner.PlanNested) when the
// statement is not itself the top-k shape (err from PlanSimple). Both results are nil when it has
// no such node: the statement's reason is err's.
func (i interceptor) nested(sql string, sess planner.Session, err error) (*planner.NestedQuery, error) {
	if err == nil || !errors.Is(err, planner.ErrNotShape) || planner.Reason(err) == planner.ReasonNotVector {
		return nil, nil
	}
	nq, nerr := i.planner.PlanNested(sql, sess.Settings)
	if nerr != nil && errors.Is(nerr, planner.ErrNotShape) && strings.HasSuffix(nerr.Error(), planner.NoNode) {
		return nil, nil
	}
	return nq, nerr
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
	if nq, nerr := i.nested(inner, sess, err); nq != nil || nerr != nil {
		if nerr != nil {
			return []string{"vecgate: forwarded (" + reason(nerr) + ")"}, sql, "", true
		}
		return i.explainNested(sql, nq, analyze)
	}
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
	return explainPlan(sql, rewritten, q.TableCheck(), q.Candidates, lines, analyze)
}

// explainPlan ends vecgate's EXPLAIN lines: EXPLAIN ANALYZE runs the statement as sent (check is
// its session check); EXPLAIN shows Postgres' plan of rewritten, whose candidate keys are
// placeholders 1..candidates.
func explainPlan(sql, rewritten, check string, candidates int, lines []string, analyze bool) ([]string, string, string, bool) {
	if analyze {
		lines = append(lines, "vecgate: EXPLAIN ANALYZE runs the statement: Postgres' plan of the statement as sent:")
		return lines, sql, check, true
	}
	send, err := planner.ExplainWith(sql, rewritten)
	if err != nil {
		return nil, "", "", false
	}
	lines = append(lines, fmt.Sprintf("vecgate: Postgres' plan of the rewritten statement (candidate keys shown as placeholders 1..%d):", candidates))
	return lines, send, check, true
}

// explainNested is Explain for a statement with a top-k node: the node's index, and Postgres'
// plan of the whole statement with the node rewritten and guarded, its keys placeholders.
func (i interceptor) explainNested(sql string, nq *planner.NestedQuery, analyze bool) ([]string, string, string, bool) {
	rewritten := nq.Placeholder()
	verb := "intercepted"
	if analyze {
		verb = "would intercept"
	}
	var lines []string
	candidates := 0
	for _, q := range nq.Nodes {
		lines = append(lines,
			fmt.Sprintf("vecgate: %s: top-k node on live index %s (%s.%s, %s, %s)", verb, q.Target.Name,
				q.Shape.Table, q.Shape.Column, q.Shape.Metric, q.Target.Kind),
			fmt.Sprintf("vecgate: %d candidates (%s), the node run alone and widened while fewer than %d rows return; the statement fails over to Postgres if the node is short",
				q.Candidates, q.SearchKnob(), q.Want))
		candidates = max(candidates, q.Candidates)
	}
	return explainPlan(sql, rewritten, nq.TableCheck(), candidates, lines, analyze)
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
	return check, i.status, true
}

// rounder is a planned statement answered in rounds (planner.Query, planner.NestedQuery).
type rounder interface {
	Next(ctx context.Context, prevRows int) (string, bool, bool, error)
	TableCheck() string
}

// roundsJob adapts a planned statement to the proxy: its rounds and the session's consistency.
// A statement with a top-k node (planner.NestedQuery) is one: never answered from memory.
type roundsJob struct {
	r    rounder
	sess planner.Session
}

func (j roundsJob) Consistency() (string, time.Duration) { return j.sess.Consistency, j.sess.MaxWait }

func (j roundsJob) Next(ctx context.Context, prevRows int) (string, bool, bool, error) {
	return j.r.Next(ctx, prevRows)
}

func (j roundsJob) TableCheck() string { return j.r.TableCheck() }

// job adapts a planned query to the proxy, fast path included.
type job struct {
	roundsJob
	q       *planner.Query
	sampler Sampler
}

func newJob(q *planner.Query, sess planner.Session, sampler Sampler) job {
	return job{roundsJob{q, sess}, q, sampler}
}

// Next is the rounds' (roundsJob), offering a complete answer to the recall spot-check.
func (j job) Next(ctx context.Context, prevRows int) (string, bool, bool, error) {
	next, done, forward, err := j.q.Next(ctx, prevRows)
	if done && err == nil {
		j.sample()
	}
	return next, done, forward, err
}

// sample offers the answered statement to the recall spot-check, when it takes one.
func (j job) sample() {
	if j.sampler == nil || !j.sampler.Take() {
		return
	}
	ix, ok := j.q.Target.Index.(*live.Index)
	vec, k, keys, sampled := j.q.Sample()
	if ok && sampled {
		j.sampler.Offer(ix, vec, k, keys)
	}
}

func (j job) Fast() bool {
	outs, ok := j.q.Fast()
	return ok && !(j.sess.ExactDistances && containsDistance(outs))
}

func (j job) FastKey() string { return j.q.FastKey() }

func (j job) Width() int {
	outs, _ := j.q.Fast()
	return len(outs)
}

func (j job) Answer(ctx context.Context, formats []int16) ([][][]byte, error) {
	outs, _ := j.q.Fast()
	rows, err := j.q.Answer(ctx, outs, formats)
	if err == nil {
		j.sample()
	}
	return rows, err
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
	if s.pr.Nested != nil {
		return roundsJob{planner.NestedBound(s.pr, q), sess}, ""
	}
	return newJob(q, sess, s.i.sampler), ""
}

func (i interceptor) WaitApplied(ctx context.Context, lsn string) error {
	return i.stream.WaitApplied(ctx, lsn)
}

func containsDistance(outs []planner.Output) bool {
	for _, o := range outs {
		if o.Kind == planner.DistanceColumn || o.Kind == planner.SimilarityColumn {
			return true
		}
	}
	return false
}
