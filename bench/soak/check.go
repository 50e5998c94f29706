package soak

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/replication"
)

// QuietPoint is what one quiet point found.
type QuietPoint struct {
	At          float64 `json:"at_seconds"`       // since the load started
	CatchUp     float64 `json:"catch_up_seconds"` // until vecgate applied Postgres' WAL
	TableRows   int     `json:"table_rows"`       // rows of soak with a vector
	Twins       int     `json:"twins"`            // twins of soak checked
	Lost        int     `json:"lost,omitempty"`   // rows of the table a twin does not hold
	Stale       int     `json:"stale,omitempty"`  // keys a twin holds that the table has not
	Duplicates  int     `json:"duplicates,omitempty"`
	Checked     int     `json:"checked"`         // statements compared
	Intercepted int64   `json:"intercepted"`     // of which vecgate answered (not forwarded)
	Wrong       int     `json:"wrong,omitempty"` // of which differed from Postgres
	Goroutines  int     `json:"goroutines"`
	FDs         int     `json:"fds"`
	RSS         int64   `json:"rss_bytes"`
	RelayConns  int     `json:"relay_conns"`
	Failure     string  `json:"failure,omitempty"` // the check could not run
}

// quietPoint pauses the load and the faults, waits for vecgate to apply Postgres' WAL, and
// checks the twins against the table and vecgate's answers against Postgres'.
func (r *run) quietPoint(ctx context.Context) {
	r.gate.Lock()
	defer r.gate.Unlock()
	qp := QuietPoint{At: time.Since(r.start).Seconds()}
	defer func() {
		qp.Goroutines, qp.FDs, qp.RSS, qp.RelayConns = runtime.NumGoroutine(), openFDs(), rss(), r.relay.Conns()
		r.rep.QuietPoints = append(r.rep.QuietPoints, qp)
		status := "ok"
		if qp.Failure != "" || qp.Lost+qp.Stale+qp.Duplicates+qp.Wrong > 0 {
			status = fmt.Sprintf("FAILED (%s lost %d stale %d duplicates %d wrong %d)", qp.Failure, qp.Lost, qp.Stale, qp.Duplicates, qp.Wrong)
		}
		fmt.Fprintf(r.o.Log, "soak: %6.0fs quiet point %d: %s; caught up in %.2fs, %d twins × %d rows, %d statements compared (%d intercepted), %d goroutines, %d fds, RSS %d MiB, faults %v\n",
			qp.At, len(r.rep.QuietPoints), status, qp.CatchUp, qp.Twins, qp.TableRows, qp.Checked, qp.Intercepted, qp.Goroutines, qp.FDs, qp.RSS>>20, r.faultsNow())
	}()
	t0 := time.Now()
	direct, err := r.directConn(ctx)
	if err != nil {
		qp.Failure = "Postgres unreachable: " + err.Error()
		return
	}
	defer direct.Close(context.Background())
	if err := r.catchUp(ctx, direct); err != nil {
		qp.Failure = "vecgate did not catch up: " + err.Error()
		return
	}
	qp.CatchUp = time.Since(t0).Seconds()
	if err := r.checkTwins(ctx, direct, &qp); err != nil {
		qp.Failure = "twins: " + err.Error()
		return
	}
	if err := r.checkAnswers(ctx, direct, &qp); err != nil {
		qp.Failure = "answers: " + err.Error()
	}
}

func (r *run) faultsNow() map[string]int {
	r.counts.mu.Lock()
	defer r.counts.mu.Unlock()
	m := map[string]int{}
	for k, v := range r.rep.Faults {
		m[k] = v
	}
	return m
}

// directConn connects to Postgres directly (not through the relay), retrying for a minute (a
// restart may be under way). Its statements run exact scans: the answer vecgate must give.
func (r *run) directConn(ctx context.Context) (*pgx.Conn, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := pgx.Connect(ctx, r.dbDSN)
		if err == nil {
			if _, err = c.Exec(ctx, "SET enable_indexscan = off; SET enable_bitmapscan = off"); err == nil {
				return c, nil
			}
			c.Close(ctx)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// catchUp waits until vecgate streams, has applied Postgres' WAL up to now, and holds the three
// twins of soak (a DDL may have reloaded them).
func (r *run) catchUp(ctx context.Context, direct *pgx.Conn) error {
	var lsnText string
	if err := direct.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsnText); err != nil {
		return err
	}
	lsn, err := replication.ParseLSN(lsnText)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := r.g.Stream().WaitFor(wctx, lsn); err != nil {
		return fmt.Errorf("applied %s of %s: %w (%+v)", r.g.Stream().Status().Applied, lsn, err, r.g.Stream().Status().LastError)
	}
	for {
		twins := 0
		for _, ix := range r.g.Set().Indexes() {
			if ix.Table == "soak" {
				twins++
			}
		}
		if twins == 3 && r.g.Stream().Ready() {
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("%d twins of soak: %w", twins, wctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkTwins compares every twin of soak with the table: its row count and its set of keys.
func (r *run) checkTwins(ctx context.Context, direct *pgx.Conn, qp *QuietPoint) error {
	rows, err := direct.Query(ctx, "SELECT id FROM soak WHERE emb IS NOT NULL")
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	table := make(map[ann.Key]bool, len(ids))
	for _, id := range ids {
		table[ann.IntKey(id)] = true
	}
	qp.TableRows = len(table)
	rng := rand.New(rand.NewPCG(uint64(len(ids)), 5))
	q := make([]float32, r.o.Dims)
	for i := range q {
		q[i] = float32(0.001 + rng.Float64())
	}
	for _, ix := range r.g.Set().Indexes() {
		if ix.Table != "soak" {
			continue
		}
		qp.Twins++
		res, err := ix.ExactSearch(ctx, q, ix.Len()+len(ids)+16)
		if err != nil {
			return fmt.Errorf("%s: %w", ix.Source, err)
		}
		held := make(map[ann.Key]bool, len(res))
		for _, x := range res {
			if held[x.Key] {
				qp.Duplicates++
			}
			held[x.Key] = true
			if !table[x.Key] {
				qp.Stale++
			}
		}
		for k := range table {
			if !held[k] {
				qp.Lost++
			}
		}
		if ix.Len() != len(table) && qp.Lost+qp.Stale == 0 {
			return fmt.Errorf("%s holds %d rows by its count, %d by its keys, the table %d", ix.Source, ix.Len(), len(held), len(table))
		}
	}
	return nil
}

// checksPerShape is how many statements of each shape a quiet point compares, in each protocol.
const checksPerShape = 3

// checkAnswers sends the load's statements through vecgate and directly to Postgres and compares
// the answers.
func (r *run) checkAnswers(ctx context.Context, direct *pgx.Conn, qp *QuietPoint) error {
	via, err := connect(ctx, r.viaDSN)
	if err != nil {
		return err
	}
	defer func() {
		if via != nil {
			via.Close(context.Background())
		}
	}()
	rng := rand.New(rand.NewPCG(r.o.Seed, uint64(len(r.rep.QuietPoints))+31))
	before := r.g.Stats().Intercepted
	defer func() { qp.Intercepted = r.g.Stats().Intercepted - before }()
	wrong := func(s shape, mode pgx.QueryExecMode, k any, diff string) {
		qp.Wrong++
		if len(r.rep.Wrong) < 20 {
			r.rep.Wrong = append(r.rep.Wrong, fmt.Sprintf("at %.0fs: %s (%v, k=%v): %s", qp.At, s.Name, mode, k, diff))
		}
	}
	for _, s := range shapes {
		for i := range 2 * checksPerShape {
			mode := pgx.QueryExecModeCacheStatement
			if i%2 == 1 {
				mode = pgx.QueryExecModeSimpleProtocol
			}
			args := s.args(rng, r.o.Dims)
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			got, err := queryRows(cctx, via, mode, s.SQL, args...)
			if errors.Is(err, errMalformed) {
				// An answer not as described is a wrong answer; the session is closed.
				cancel()
				qp.Checked++
				wrong(s, mode, args[1], err.Error())
				if via, err = connect(ctx, r.viaDSN); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				cancel()
				return fmt.Errorf("%s through vecgate: %w", s.Name, err)
			}
			want, err := queryRows(cctx, direct, mode, s.SQL, args...)
			cancel()
			if err != nil {
				return fmt.Errorf("%s directly: %w", s.Name, err)
			}
			qp.Checked++
			if diff := compareRows(got, want); diff != "" {
				wrong(s, mode, args[1], diff)
			}
		}
	}
	return nil
}

// compareRows says how got differs from want ("" when equal): the same rows in the same order,
// numbers within 1e-6 relative (vecgate's distances are within that of pgvector's).
func compareRows(got, want [][]string) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, Postgres %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			return fmt.Sprintf("row %d: %d columns, Postgres %d", i+1, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if a, b := got[i][j], want[i][j]; a != b && !closeNumbers(a, b) {
				return fmt.Sprintf("row %d column %d: %.80s, Postgres %.80s", i+1, j+1, a, b)
			}
		}
	}
	return ""
}

func closeNumbers(a, b string) bool {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	return err1 == nil && err2 == nil && math.Abs(x-y) <= 1e-6*math.Max(math.Abs(x), math.Abs(y))+1e-12
}

// openFDs counts the process' open file descriptors (0 when unknown).
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(es)
}

// rss is the process' resident set size in bytes (0 when unknown).
func rss() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}
