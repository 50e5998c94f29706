package replication_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/replication"
)

// writers runs n goroutines doing random inserts, vector updates, key changes, deletes and
// occasional truncates on items until stop; pause blocks them (for a consistent comparison).
type writers struct {
	wg     sync.WaitGroup
	stop   chan struct{}
	pause  sync.RWMutex
	ops    atomic.Int64
	failed atomic.Value
}

func startWriters(t *testing.T, dsn string, n int, seed uint64, maxID int, truncate bool) *writers {
	w := &writers{stop: make(chan struct{})}
	for i := 0; i < n; i++ {
		c := pgtest.Connect(t, dsn)
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				select {
				case <-w.stop:
					return
				default:
				}
				w.pause.RLock()
				err := w.op(c, rng, maxID, truncate)
				w.pause.RUnlock()
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "40P01" {
					continue // two writers deadlocked; Postgres rolled one back, as it may
				}
				if err != nil {
					w.failed.Store(err)
					return
				}
				w.ops.Add(1)
			}
		}()
	}
	t.Cleanup(w.close)
	return w
}

func (w *writers) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

func randVec(rng *rand.Rand, dims int) string {
	s := "["
	for i := 0; i < dims; i++ {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(rng.Float32())
	}
	return s + "]"
}

func (w *writers) op(c *pgx.Conn, rng *rand.Rand, maxID int, truncate bool) error {
	ctx := context.Background()
	id := rng.IntN(maxID)
	var err error
	switch r := rng.IntN(100); {
	case r < 40:
		_, err = c.Exec(ctx, `INSERT INTO items VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v`, id, randVec(rng, 8))
	case r < 60:
		_, err = c.Exec(ctx, `UPDATE items SET v = $2 WHERE id = $1`, id, randVec(rng, 8))
	case r < 70:
		_, err = c.Exec(ctx, `UPDATE items SET id = $2 WHERE id = $1`, id, maxID+rng.IntN(maxID))
	case r < 75:
		_, err = c.Exec(ctx, `UPDATE items SET v = NULL WHERE id = $1`, id)
	case r < 95:
		_, err = c.Exec(ctx, `DELETE FROM items WHERE id = $1`, id)
	case r < 96 && truncate && rng.IntN(20) == 0:
		_, err = c.Exec(ctx, `TRUNCATE items`)
	default:
		// a multi-row transaction
		tx, terr := c.Begin(ctx)
		if terr != nil {
			return terr
		}
		for j := 0; j < 20; j++ {
			if _, err = tx.Exec(ctx, `INSERT INTO items VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v`, rng.IntN(maxID), randVec(rng, 8)); err != nil {
				tx.Rollback(ctx)
				return err
			}
		}
		err = tx.Commit(ctx)
	}
	if pgErr, ok := err.(interface{ SQLState() string }); ok && pgErr.SQLState() == "23505" {
		return nil // key change onto an existing key
	}
	return err
}

// TestFaultLoop kills the replicating process with SIGKILL at random moments while writers run,
// restarts it from its snapshot and checks equality; some rounds also drop the slot or terminate
// the walsender under it.
func TestFaultLoop(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	exec(t, c, `CREATE TABLE items (id bigint PRIMARY KEY, v vector(8));
		INSERT INTO items SELECT g, (SELECT array_agg(random())::vector FROM generate_series(1, 8) WHERE g > 0)
		FROM generate_series(1, 2000) g`)
	dir := t.TempDir()
	name := "fault"
	rounds := 12
	w := startWriters(t, dsn, 3, 42, 4000, true)
	rng := rand.New(rand.NewPCG(7, 7))
	h := startHelper(t, dsn, name, dir)
	resnaps := 0
	for round := 0; round < rounds; round++ {
		time.Sleep(time.Duration(50+rng.IntN(700)) * time.Millisecond)
		what := "kill"
		h.kill()
		switch round % 4 {
		case 1:
			what = "kill + drop slot"
			// The killed walsender may take a moment to go away.
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := c.Exec(context.Background(), `SELECT pg_drop_replication_slot('vecgate_fault')`)
				if err == nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		case 3:
			what = "kill after a connection loss"
		}
		h = startHelper(t, dsn, name, dir)
		if round%4 == 3 {
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			exec(t, c, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = 'vecgate_fault' AND active_pid IS NOT NULL`)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		w.pause.Lock()
		lsn := currentLSN(t, c)
		want := tableVectors(t, c, "items", "v")
		got, n := h.check(t, lsn)
		w.pause.Unlock()
		if d := diff(want, got); d != "" {
			t.Fatalf("round %d (%s): differs:\n%s", round, what, d)
		}
		resnaps += n
		t.Logf("round %d (%s): %d rows equal, %d writer ops so far, loads in this process %d", round, what, len(want), w.ops.Load(), n)
		if err, _ := w.failed.Load().(error); err != nil {
			t.Fatalf("writer: %v", err)
		}
	}
	h.kill()
	w.close()
	if resnaps >= rounds {
		t.Errorf("every restart did a full load (%d of %d): snapshots are not being resumed from", resnaps, rounds)
	}
}

// TestInitialLoadConcurrent loads 100k rows while writers run during the snapshot, then checks
// exact equality.
func TestInitialLoadConcurrent(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	exec(t, c, `CREATE TABLE items (id bigint PRIMARY KEY, v vector(8));
		INSERT INTO items SELECT g, (SELECT array_agg(random())::vector FROM generate_series(1, 8) WHERE g > 0)
		FROM generate_series(1, 100000) g; ANALYZE items`)
	w := startWriters(t, dsn, 2, 1, 120000, false)
	time.Sleep(100 * time.Millisecond)
	mem := replication.NewMemory()
	cfg := replication.DefaultConfig()
	cfg.DSN, cfg.Name, cfg.Applier, cfg.Logger = dsn, "load", mem, testLogger(t)
	cfg.ProgressInterval = 200 * time.Millisecond
	s := startStream(t, cfg)
	deadline := time.Now().Add(60 * time.Second)
	for !s.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // writers keep going after the snapshot too
	w.pause.Lock()
	waitCaughtUp(t, s, c)
	checkEqual(t, c, mem, "public", "items", "v")
	w.pause.Unlock()
	w.close()
	if err, _ := w.failed.Load().(error); err != nil {
		t.Fatalf("writer: %v", err)
	}
	st := s.Status()
	t.Logf("loaded %d rows, writer ops %d, status %+v", st.LoadedRows, w.ops.Load(), st)
	if st.LoadedRows < 90000 {
		t.Errorf("loaded %d rows", st.LoadedRows)
	}
}
