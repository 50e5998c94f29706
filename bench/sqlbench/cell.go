package sqlbench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/vecgate/vecgate/bench"
)

// cell is one measurement: clients connections, each its own goroutine, sending the query
// stream (queries in order, repeated) until duration has passed and every query ran at least once
// (or 3 × duration). Recall is scored on each query's first execution.
type cell struct {
	dsn      string
	setup    []string // run on each connection first
	sql      string
	queries  []pgvector.Vector
	truth    [][]int32
	k        int
	clients  int
	duration time.Duration
	// textParams sends the query vector in text form (Options.TextParams).
	textParams bool
	// client, when set, is the command that runs the cell in a child process (client.go).
	client []string
}

// measured is a row plus how many statements were sent in all (warm-up included).
type measured struct {
	Row
	sent int64
}

func (c cell) run(ctx context.Context) (measured, error) {
	if len(c.client) > 0 {
		return c.runExternal(ctx, c.client)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*pgx.Conn, 0, c.clients)
	defer func() {
		for _, cn := range conns {
			cn.Close(context.WithoutCancel(ctx))
		}
	}()
	var sent atomic.Int64
	one := func(cn *pgx.Conn, q pgvector.Vector) ([]int32, error) {
		sent.Add(1)
		var param any = q
		if c.textParams {
			param = q.String()
		}
		rows, err := cn.Query(ctx, c.sql, param, c.k)
		if err != nil {
			return nil, err
		}
		ids := make([]int32, 0, c.k)
		var id int64
		dest := make([]any, len(rows.FieldDescriptions())) // the id, and nil: the other columns are skipped
		dest[0] = &id
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, int32(id))
		}
		return ids, rows.Err()
	}
	for i := range c.clients {
		cn, err := connect(ctx, c.dsn, !c.textParams)
		if err != nil {
			return measured{}, fmt.Errorf("connect: %w", err)
		}
		conns = append(conns, cn)
		for _, s := range c.setup {
			if _, err := cn.Exec(ctx, s); err != nil {
				return measured{}, fmt.Errorf("%s: %w", s, err)
			}
		}
		// Prepare the statement (and warm the session) outside the timed window.
		if _, err := one(cn, c.queries[i%len(c.queries)]); err != nil {
			return measured{}, fmt.Errorf("first query: %w", err)
		}
	}
	nq := int64(len(c.queries))
	got := make([][]int32, nq)
	lats := make([][]time.Duration, c.clients)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	soft, hard := start.Add(c.duration), start.Add(3*c.duration)
	for i, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				n := next.Add(1) - 1
				if now := time.Now(); now.After(soft) && (n >= nq || now.After(hard)) {
					break
				}
				t := time.Now()
				ids, err := one(cn, c.queries[n%nq])
				lat = append(lat, time.Since(t))
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					break
				}
				if n < nq {
					got[n] = ids
				}
			}
			lats[i] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return measured{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return measured{}, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	var scoredGot, scoredTruth [][]int32
	for i, g := range got {
		if g != nil {
			scoredGot, scoredTruth = append(scoredGot, g), append(scoredTruth, c.truth[i])
		}
	}
	r := Row{
		Clients: c.clients, Recall: bench.Recall(scoredGot, scoredTruth, c.k), Scored: len(scoredGot),
		Queries: len(all), Seconds: elapsed.Seconds(), QPS: float64(len(all)) / elapsed.Seconds(),
		P50Micros: percentile(all, 0.50), P99Micros: percentile(all, 0.99),
	}
	return measured{Row: r, sent: sent.Load()}, nil
}

// percentile of sorted latencies, in microseconds (nearest rank).
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Nanoseconds()) / 1e3
}

// connect opens one benchmark connection: prepared statements cached, pgvector types known
// (binary vector parameters) when register is set.
func connect(ctx context.Context, dsn string, register bool) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if !register {
		return c, nil
	}
	if err := pgxvec.RegisterTypes(ctx, c); err != nil {
		c.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("register pgvector types: %w", err)
	}
	return c, nil
}
