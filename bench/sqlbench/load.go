package sqlbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/replication"
)

// loadDataset reads or generates the vectors and the ground truth.
func loadDataset(ctx context.Context, o Options, stderr io.Writer) (data, queries []float32, truth [][]int32, dims int, err error) {
	if o.GenN > 0 {
		cfg := bench.GenConfig{N: o.GenN, Dims: o.GenDims, Seed: o.Seed}
		data, queries, dims = bench.Clustered(cfg), bench.ClusteredQueries(cfg, o.NQ), o.GenDims
	} else {
		if data, dims, err = bench.ReadFvecsFile(o.Data); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: %w", err)
		}
		var qd int
		if queries, qd, err = bench.ReadFvecsFile(o.Queries); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: %w", err)
		}
		if qd != dims {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: queries: %w", &ann.DimensionError{Want: dims, Got: qd})
		}
	}
	if len(data) == 0 || len(queries) == 0 {
		return nil, nil, nil, 0, errors.New("bench sql: empty data or query set")
	}
	nq := len(queries) / dims
	if o.GT != "" {
		if truth, err = bench.ReadIvecsFile(o.GT); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: %w", err)
		}
		if len(truth) < nq {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: ground truth has %d rows for %d queries", len(truth), nq)
		}
		for i := range nq {
			if len(truth[i]) < o.K {
				return nil, nil, nil, 0, fmt.Errorf("bench sql: ground truth row %d has %d neighbours, need k=%d", i, len(truth[i]), o.K)
			}
		}
		return data, queries, truth[:nq], dims, nil
	}
	fmt.Fprintf(stderr, "computing exact top-%d for %d queries with the flat index\n", o.K, nq)
	truth, err = flat.GroundTruth(ctx, o.Metric, dims, data, bench.Rows(queries, dims), o.K, 0, nil)
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("bench sql: ground truth: %w", err)
	}
	return data, queries, truth, dims, nil
}

// copySource feeds CopyFrom the rows (id = row number, so ids are ground-truth indices) and
// prints progress at most once a second.
type copySource struct {
	data        []float32
	dims, i     int
	start, last time.Time
	w           io.Writer
	content     int // Options.Content
}

// contentColumns declares the RAG shape's columns (Options.Content), "" when off.
func contentColumns(content int) string {
	if content <= 0 {
		return ""
	}
	return ", content text, metadata jsonb"
}

// contentOf is row i's content (about n bytes of prose) and metadata.
func contentOf(i, n int) (string, string) {
	const words = "the quick brown fox jumps over a lazy dog while vectors drift across postgres pages "
	var b strings.Builder
	fmt.Fprintf(&b, "Document %d. ", i)
	for b.Len() < n {
		w := words[(i*7+b.Len())%len(words):]
		b.WriteString(w[:min(len(w), n-b.Len())])
	}
	return b.String(), fmt.Sprintf(`{"source": "doc-%d.md", "page": %d, "lang": "en"}`, i%50, i%100)
}

func (s *copySource) Next() bool {
	n := len(s.data) / s.dims
	if s.i >= n {
		return false
	}
	s.i++
	if s.i%1024 == 0 {
		if now := time.Now(); now.Sub(s.last) >= time.Second {
			s.last = now
			rate := float64(s.i) / now.Sub(s.start).Seconds()
			eta := time.Duration(float64(n-s.i) / rate * float64(time.Second))
			fmt.Fprintf(s.w, "\rcopy %d/%d rows, %.0f rows/s, ETA %s   ", s.i, n, rate, eta.Round(time.Second))
		}
	}
	return true
}

func (s *copySource) Values() ([]any, error) {
	i := s.i - 1
	v := []any{int64(i), pgvector.NewVector(s.data[i*s.dims : (i+1)*s.dims])}
	if s.content > 0 {
		c, m := contentOf(i, s.content)
		v = append(v, c, m)
	}
	return v, nil
}

func (s *copySource) Err() error { return nil }

// buildProgress prints pg_stat_progress_create_index every few seconds until stopped.
func buildProgress(ctx context.Context, dsn, table string, w io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(context.WithoutCancel(ctx))
		start := time.Now()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var phase string
			var done, total int64
			err := c.QueryRow(ctx, `SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index
				WHERE relid = $1::regclass`, table).Scan(&phase, &done, &total)
			if err == nil {
				of := ""
				if total > 0 {
					of = fmt.Sprintf("/%d", total)
				}
				fmt.Fprintf(w, "  create index: %s, %d%s tuples, %.0fs\n", phase, done, of, time.Since(start).Seconds())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// indexed is the rows vecgate has indexed of the table, as status and metrics count them
// (observe.IndexedRows: each table once, whatever the number of its twins); other tables of the
// database with vector indexes are not counted.
func indexed(g Gateway, table string) int {
	_, byTable := observe.IndexedRows(g.Set())
	return int(byTable["public."+table])
}

// waitLoaded waits until replication streams and vecgate's index of table holds all n rows.
func waitLoaded(ctx context.Context, g Gateway, table string, n int, timeout time.Duration, w io.Writer) error {
	start := time.Now()
	last := start
	for {
		got := indexed(g, table)
		if g.Stream().Ready() && got >= n {
			return nil
		}
		st := g.Stream().Status()
		if time.Since(last) >= 2*time.Second {
			last = time.Now()
			fmt.Fprintf(w, "  vecgate: %s, %d/%d rows indexed, %.0fs\n", st.State, got, n, time.Since(start).Seconds())
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("bench sql: vecgate did not load %d rows in %s (state %s, %d indexed, last error %q)",
				n, timeout, st.State, got, st.LastError)
		}
		if st.State == replication.StateStreaming && len(g.Set().Indexes()) == 0 {
			return fmt.Errorf("bench sql: vecgate streams but has no index for the table (tables: %+v)", st.Tables)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
