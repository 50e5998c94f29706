package replication_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/replication"
)

// TestBenchReplication measures (1) the initial-load rate against a plain binary COPY of the same
// table in the same run, and (2) commit-to-WaitFor lag while inserting 768-d vectors at fixed
// rates. Not run by default: VECGATE_BENCH=1 enables it (run without -race).
//
//	VECGATE_BENCH=1 VECGATE_TEST_DSN=$(scripts/pg dsn) go test -run TestBenchReplication -v ./replication/
func TestBenchReplication(t *testing.T) {
	if os.Getenv("VECGATE_BENCH") == "" {
		t.Skip("set VECGATE_BENCH=1 to run the replication benchmark")
	}
	rows, _ := strconv.Atoi(os.Getenv("VECGATE_BENCH_ROWS"))
	if rows == 0 {
		rows = 200000
	}
	dims := 128
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	exec(t, c, fmt.Sprintf(`CREATE TABLE items (id bigint PRIMARY KEY, v vector(%d));
		INSERT INTO items SELECT g, (SELECT array_agg(random())::vector FROM generate_series(1, %d) WHERE g > 0)
		FROM generate_series(1, %d) g; ANALYZE items; CHECKPOINT`, dims, dims, rows))
	// Plain COPY, twice (the first warms the cache); keep the faster.
	var copyRate float64
	for i := 0; i < 2; i++ {
		began := time.Now()
		if _, err := c.PgConn().CopyTo(ctx, io.Discard, `COPY items (id, v) TO STDOUT (FORMAT binary)`); err != nil {
			t.Fatal(err)
		}
		copyRate = max(copyRate, float64(rows)/time.Since(began).Seconds())
	}
	var loadRate float64
	for i := 0; i < 2; i++ {
		mem := replication.NewMemory()
		cfg := replication.DefaultConfig()
		cfg.DSN, cfg.Name, cfg.Applier = dsn, fmt.Sprintf("bench%d", i), mem
		s, err := replication.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		s.Start(ctx)
		for !s.Ready() {
			time.Sleep(time.Millisecond)
		}
		loadRate = max(loadRate, float64(rows)/time.Since(began).Seconds())
		s.Close()
		for try := 0; ; try++ { // the walsender exits asynchronously after Close
			_, err := c.Exec(ctx, fmt.Sprintf(`SELECT pg_drop_replication_slot('vecgate_bench%d')`, i))
			if err == nil || try > 200 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("initial load %d rows × %d dims: COPY %.0f rows/s, vecgate load %.0f rows/s, ratio %.2f", rows, dims, copyRate, loadRate, loadRate/copyRate)

	exec(t, c, `CREATE TABLE lag (id bigint PRIMARY KEY, v vector(768))`)
	mem := replication.NewMemory()
	cfg := replication.DefaultConfig()
	cfg.DSN, cfg.Name, cfg.Applier = dsn, "lag", mem
	s := startStream(t, cfg)
	for !s.Ready() {
		time.Sleep(time.Millisecond)
	}
	for _, rate := range []int{1000, 10000} {
		p50, p99, achieved := measureLag(t, dsn, s, rate, 10*time.Second)
		t.Logf("lag at %d rows/s target (%.0f achieved) of 768-d inserts: p50 %v p99 %v", rate, achieved, p50, p99)
	}
}

var lagID struct {
	sync.Mutex
	n int64
}

func nextIDs(n int) int64 {
	lagID.Lock()
	defer lagID.Unlock()
	lagID.n += int64(n)
	return lagID.n - int64(n)
}

// measureLag inserts at rate rows/s for d (8 connections, up to 10 rows per transaction) and
// measures, per transaction, the time from its commit returning to WaitFor(its LSN) returning.
func measureLag(t *testing.T, dsn string, s *replication.Stream, rate int, d time.Duration) (p50, p99 time.Duration, achieved float64) {
	const conns = 8
	perTx := max(1, rate/(conns*125)) // ≤ 125 transactions/s per connection
	txRate := float64(rate) / float64(perTx) / conns
	type sample struct {
		at  time.Time
		lsn replication.LSN
	}
	samples := make(chan sample, 100000)
	var lags []time.Duration
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		for sm := range samples {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := s.WaitFor(ctx, sm.lsn); err != nil {
				t.Errorf("WaitFor: %v", err)
			}
			cancel()
			lags = append(lags, time.Since(sm.at))
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	began := time.Now()
	for i := 0; i < conns; i++ {
		c := pgtest.Connect(t, dsn)
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		pool := make([]string, 64) // vector literals, built once: the writer must not be the bottleneck
		for k := range pool {
			b := []byte{'['}
			for j := 0; j < 768; j++ {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(rng.Float32()), 'g', 6, 32)
			}
			pool[k] = string(append(b, ']'))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			tick := time.NewTicker(time.Duration(float64(time.Second) / txRate))
			defer tick.Stop()
			for time.Since(began) < d {
				<-tick.C
				base := nextIDs(perTx)
				sql := "INSERT INTO lag VALUES "
				args := []any{}
				for j := 0; j < perTx; j++ {
					if j > 0 {
						sql += ","
					}
					sql += fmt.Sprintf("($%d, $%d)", 2*j+1, 2*j+2)
					args = append(args, base+int64(j), pool[rng.IntN(len(pool))])
				}
				if _, err := c.Exec(ctx, sql, args...); err != nil {
					t.Error(err)
					return
				}
				at := time.Now()
				var ls string
				if err := c.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&ls); err != nil {
					t.Error(err)
					return
				}
				lsn, _ := replication.ParseLSN(ls)
				samples <- sample{at, lsn}
				mu.Lock()
				total += perTx
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	achieved = float64(total) / time.Since(began).Seconds()
	close(samples)
	<-waited
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) == 0 {
		return 0, 0, achieved
	}
	return lags[len(lags)/2], lags[len(lags)*99/100], achieved
}
