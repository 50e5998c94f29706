package soak

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// shape is a vector top-k statement of the load: $1 the query vector, $2 k, $3 (when Filter) a
// category.
type shape struct {
	Name   string
	SQL    string
	Filter bool
}

// shapes are the intercepted shapes the clients send (and the quiet points compare).
var shapes = []shape{
	{"l2 id+distance", "SELECT id, emb <-> $1::vector AS d FROM soak ORDER BY emb <-> $1::vector LIMIT $2", false},
	{"cosine held columns", "SELECT id, cat, body FROM soak ORDER BY emb <=> $1::vector LIMIT $2", false},
	{"inner product, every column", "SELECT * FROM soak ORDER BY emb <#> $1::vector LIMIT $2", false},
	{"l2 offset", "SELECT id, emb <-> $1::vector AS d FROM soak ORDER BY emb <-> $1::vector LIMIT $2 OFFSET 3", false},
	{"cosine similarity", "SELECT id, 1 - (emb <=> $1::vector) AS sim FROM soak ORDER BY 1 - (emb <=> $1::vector) DESC LIMIT $2", false},
	{"l2 filtered", "SELECT id, cat FROM soak WHERE cat = $3 ORDER BY emb <-> $1::vector LIMIT $2", true},
	{"l2 computed column (rewrite)", "SELECT id, upper(body) AS b, emb <-> $1::vector AS d FROM soak ORDER BY emb <-> $1::vector LIMIT $2", false},
}

// args are a shape's arguments.
func (s shape) args(rng *rand.Rand, dims int) []any {
	a := []any{randomVector(rng, dims), 1 + rng.IntN(20)}
	if s.Filter {
		a = append(a, rng.IntN(10))
	}
	return a
}

func randomVector(rng *rand.Rand, dims int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range dims {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%.5f", 0.001+rng.Float64())
	}
	b.WriteByte(']')
	return b.String()
}

// connect opens a session through vecgate whose context cancellations send a CancelRequest
// (through vecgate, to Postgres) rather than closing the connection.
func connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 10 * time.Second
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// opTimeout bounds one operation of a client (stalls last at most MaxStall).
const opTimeout = 15 * time.Second

// client runs operations at random until ctx ends, reconnecting when its session breaks.
func (r *run) client(ctx context.Context, id int) {
	rng := rand.New(rand.NewPCG(r.o.Seed, uint64(id)+1000))
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil || conn.IsClosed() {
			if conn != nil {
				conn.Close(context.Background())
			}
			var err error
			if conn, err = connect(ctx, r.viaDSN); err != nil {
				conn = nil
				if ctx.Err() == nil {
					r.counts.err(classify(err))
					time.Sleep(100 * time.Millisecond)
				}
				continue
			}
		}
		r.gate.RLock()
		op, err := r.step(ctx, conn, rng)
		r.gate.RUnlock()
		r.counts.op(op)
		if err != nil && ctx.Err() == nil {
			class := classify(err)
			r.counts.err(class)
			if class == "unexpected" {
				r.counts.unexpected(fmt.Sprintf("%s: %v", op, err))
			}
			if conn.IsClosed() || class == "connection" {
				conn.Close(context.Background())
				conn = nil
			}
		}
	}
}

// step runs one operation chosen at random and says which.
func (r *run) step(ctx context.Context, c *pgx.Conn, rng *rand.Rand) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	mode := pgx.QueryExecModeCacheStatement
	if rng.IntN(2) == 0 {
		mode = pgx.QueryExecModeSimpleProtocol
	}
	switch p := rng.IntN(100); {
	case p < 55:
		s := shapes[rng.IntN(len(shapes))]
		t0 := time.Now()
		_, err := queryRows(ctx, c, mode, s.SQL, s.args(rng, r.o.Dims)...)
		if err == nil {
			r.lat.add(time.Since(t0), r.start)
		}
		return "query", err
	case p < 65:
		id := r.nextID.Add(1)
		_, err := c.Exec(ctx, "INSERT INTO soak VALUES ($1, $2, $3, $4::vector)", mode, id, rng.IntN(10), fmt.Sprintf("row %d", id), randomVector(rng, r.o.Dims))
		return "insert", err
	case p < 74:
		_, err := c.Exec(ctx, "UPDATE soak SET cat = $2, body = body || '.' WHERE id = $1", mode, r.someID(rng), rng.IntN(10))
		return "update", err
	case p < 82:
		_, err := c.Exec(ctx, "UPDATE soak SET emb = $2::vector WHERE id = $1", mode, r.someID(rng), randomVector(rng, r.o.Dims))
		return "update_vector", err
	case p < 91:
		_, err := c.Exec(ctx, "DELETE FROM soak WHERE id = $1", mode, r.someID(rng))
		return "delete", err
	case p < 96:
		return "transaction", r.transaction(ctx, c, rng)
	default:
		return "cancel", r.cancel(ctx, c, rng, mode)
	}
}

// someID is the key of a row that probably exists (rows are deleted at random).
func (r *run) someID(rng *rand.Rand) int64 { return 1 + rng.Int64N(r.nextID.Load()) }

// transaction runs a block: a write, a top-k read (forwarded: the block wrote), then COMMIT or
// ROLLBACK.
func (r *run) transaction(ctx context.Context, c *pgx.Conn, rng *rand.Rand) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	id := r.nextID.Add(1)
	if _, err := tx.Exec(ctx, "INSERT INTO soak VALUES ($1, $2, 'txn', $3::vector)", id, rng.IntN(10), randomVector(rng, r.o.Dims)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE soak SET body = 'txn updated' WHERE id = $1", r.someID(rng)); err != nil {
		return err
	}
	s := shapes[0]
	if _, err := queryRows(ctx, tx.Conn(), pgx.QueryExecModeCacheStatement, s.SQL, s.args(rng, r.o.Dims)...); err != nil {
		return err
	}
	if rng.IntN(3) == 0 {
		return tx.Rollback(ctx)
	}
	return tx.Commit(ctx)
}

// cancel sends a statement and cancels it: a top-k query cancelled within a millisecond or two
// (often after it was answered), or a sleep cancelled while it runs.
func (r *run) cancel(ctx context.Context, c *pgx.Conn, rng *rand.Rand, mode pgx.QueryExecMode) error {
	if rng.IntN(2) == 0 {
		cctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(2000))*time.Microsecond)
		defer cancel()
		s := shapes[rng.IntN(len(shapes))]
		_, err := queryRows(cctx, c, mode, s.SQL, s.args(rng, r.o.Dims)...)
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := c.Exec(cctx, "SELECT pg_sleep(5)", mode)
	return err
}

// ddl runs a DDL statement every DDLEvery until ctx ends: a side table with a vector index
// created (and filled) or dropped, a column added to soak or dropped.
func (r *run) ddl(ctx context.Context) {
	rng := rand.New(rand.NewPCG(r.o.Seed, 99))
	var c *pgx.Conn
	defer func() {
		if c != nil {
			c.Close(context.Background())
		}
	}()
	var sides []string
	column := false
	for step := 0; ; step++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(rng, r.o.DDLEvery)):
		}
		if c == nil || c.IsClosed() {
			var err error
			if c, err = connect(ctx, r.viaDSN); err != nil {
				c = nil
				continue
			}
		}
		var stmts []string
		switch {
		case step%3 == 2 && !r.o.NoColumnDDL:
			if column {
				stmts = []string{"ALTER TABLE soak DROP COLUMN extra"}
			} else {
				stmts = []string{"ALTER TABLE soak ADD COLUMN extra int"}
			}
			column = !column
		case len(sides) < 2:
			name := fmt.Sprintf("side_%d", r.sideSeq.Add(1))
			stmts = []string{
				fmt.Sprintf("CREATE TABLE %s (id int PRIMARY KEY, emb vector(%d))", name, r.o.Dims),
				fmt.Sprintf(`INSERT INTO %s SELECT g, (SELECT array_agg(random() + (g + i) * 0)::vector(%d) FROM generate_series(1, %d) i) FROM generate_series(1, 200) g`,
					name, r.o.Dims, r.o.Dims),
				fmt.Sprintf("CREATE INDEX ON %s USING hnsw (emb vector_l2_ops)", name),
			}
			sides = append(sides, name)
		default:
			stmts = []string{"DROP TABLE " + sides[0]}
			sides = slices.Delete(sides, 0, 1)
		}
		r.gate.RLock()
		for _, q := range stmts {
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			_, err := c.Exec(cctx, q)
			cancel()
			r.counts.op("ddl")
			if err != nil && ctx.Err() == nil {
				class := classify(err)
				r.counts.err(class)
				if class == "unexpected" {
					r.counts.unexpected(fmt.Sprintf("ddl %s: %v", q, err))
				}
				if strings.HasPrefix(q, "ALTER") {
					column = !column // not done: try the same again next time
				}
				break
			}
		}
		r.gate.RUnlock()
	}
}

// queryRows runs a query and returns its rows, every value as text (pgx's decoding of each). A
// panic of pgx's decoding (a DataRow with more values than its RowDescription has columns) is an
// error.
func queryRows(ctx context.Context, c *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) (out [][]string, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.Close(context.WithoutCancel(ctx))
			out, err = nil, fmt.Errorf("%w: pgx panicked reading the answer (%v): rows not as described", errMalformed, p)
		}
	}()
	rows, err := c.Query(ctx, sql, append([]any{mode}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// classify sorts an operation's error: connection (a fault cut or stalled the session),
// canceled (57014), conflict (deadlock, serialization), ddl (the concurrent DDL: an object
// changed or missing), or unexpected.
func classify(err error) string {
	if errors.Is(err, errMalformed) {
		return "unexpected"
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "57014":
			return "canceled"
		case pe.Code == "40P01" || pe.Code == "40001":
			return "conflict"
		case pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || strings.HasPrefix(pe.Code, "08"):
			return "connection" // shutdown, restart, connection failure
		case pe.Code == "42P07" || pe.Code == "42701" || pe.Code == "42703" || pe.Code == "42P01" || pe.Code == "0A000" || pe.Code == "XX000" && strings.Contains(pe.Message, "cache lookup failed"):
			return "ddl"
		}
		return "unexpected"
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF") || strings.Contains(err.Error(), "connection") || strings.Contains(err.Error(), "broken pipe") {
		return "connection"
	}
	return "unexpected"
}

// errMalformed: an answer the client library could not read.
var errMalformed = errors.New("malformed answer")

// opCounts counts the operations and errors of the load.
type opCounts struct {
	mu    sync.Mutex
	ops   map[string]int64 // guarded by mu
	errs  map[string]int64 // guarded by mu
	first []string         // the first different unexpected errors; guarded by mu
}

func (c *opCounts) op(name string)   { c.bump(&c.ops, name) }
func (c *opCounts) err(class string) { c.bump(&c.errs, class) }

func (c *opCounts) bump(m *map[string]int64, k string) {
	c.mu.Lock()
	if *m == nil {
		*m = map[string]int64{}
	}
	(*m)[k]++
	c.mu.Unlock()
}

// unexpected keeps msg among the first 20 different unexpected errors.
func (c *opCounts) unexpected(msg string) {
	c.mu.Lock()
	if len(c.first) < 20 && !slices.Contains(c.first, msg) {
		c.first = append(c.first, msg)
	}
	c.mu.Unlock()
}

// snapshot returns the operation counts, the error counts and the first unexpected errors.
func (c *opCounts) snapshot() OpStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := OpStats{Ops: map[string]int64{}, Errors: map[string]int64{}, Unexpected: slices.Clone(c.first)}
	for k, v := range c.ops {
		s.Ops[k] = v
	}
	for k, v := range c.errs {
		s.Errors[k] = v
	}
	return s
}

// latencies are the answered queries' durations by time since the start.
type latencies struct {
	mu  sync.Mutex
	at  []time.Duration // since the start; guarded by mu
	dur []time.Duration // guarded by mu
}

func (l *latencies) add(d time.Duration, start time.Time) {
	l.mu.Lock()
	l.at = append(l.at, time.Since(start))
	l.dur = append(l.dur, d)
	l.mu.Unlock()
}

// windows are the latency quantiles per window of width w.
func (l *latencies) windows(w time.Duration) []Window {
	l.mu.Lock()
	defer l.mu.Unlock()
	byWin := map[int][]time.Duration{}
	last := 0
	for i, at := range l.at {
		k := int(at / w)
		byWin[k] = append(byWin[k], l.dur[i])
		last = max(last, k)
	}
	var out []Window
	for k := 0; k <= last; k++ {
		ds := byWin[k]
		win := Window{Start: (time.Duration(k) * w).Seconds(), Queries: len(ds)}
		if len(ds) > 0 {
			slices.Sort(ds)
			win.P50ms = ms(ds[len(ds)/2])
			win.P99ms = ms(ds[min(len(ds)-1, len(ds)*99/100)])
			win.Maxms = ms(ds[len(ds)-1])
		}
		out = append(out, win)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
