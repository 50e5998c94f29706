package replication_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// twinKeys returns the count, sum and sum of squares of the keys the Set's twin of items.v holds.
func twinKeys(t *testing.T, set *live.Set) (n, sum, sq int64) {
	t.Helper()
	ixs := set.Indexes()
	if len(ixs) != 1 {
		t.Fatalf("%d twins, want 1", len(ixs))
	}
	res, err := ixs[0].ExactSearch(context.Background(), make([]float32, 16), ixs[0].Len()+10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		id := r.Key.Int()
		n, sum, sq = n+1, sum+id, sq+id*id
	}
	return n, sum, sq
}

// TestSnapshotOffApplyPath: a snapshot is written off the stream's goroutine, from the state
// frozen when it was due. While its writer is held (a hook, not a sleep) — before it has written
// anything — changes keep being applied (the applied position passes them, the twin holds their
// rows), and neither Status.Persisted nor the slot's confirmed position passes the held
// snapshot's. Once released it is written and persisted; every later snapshot is dropped (the
// hook), so a restart resumes from that file, written while the twin changed under it, and
// ends with every row of the table (count and key checksum) without an initial load.
func TestSnapshotOffApplyPath(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	insert := func(from, to int) {
		t.Helper()
		exec(t, c, `INSERT INTO items SELECT g, (SELECT array_agg(random() + (g + i) * 0)::vector FROM generate_series(1, 16) i)
			FROM generate_series($1::int, $2::int) g`, from, to)
	}
	exec(t, c, `CREATE TABLE items (id bigint PRIMARY KEY, v vector(16))`)
	insert(1, 5000)
	exec(t, c, `CREATE INDEX ON items USING hnsw (v vector_l2_ops)`)
	tableKeys := func() [3]int64 {
		t.Helper()
		var want [3]int64
		if err := c.QueryRow(context.Background(), "SELECT count(*), sum(id), sum(id * id) FROM items").Scan(&want[0], &want[1], &want[2]); err != nil {
			t.Fatal(err)
		}
		return want
	}

	var (
		mu      sync.Mutex
		calls   int
		held    replication.LSN
		entered = make(chan struct{})
		release = make(chan struct{})
	)
	replication.SetSnapshotHook(func(lsn replication.LSN) error {
		mu.Lock()
		calls++
		n := calls
		if n == 1 {
			held = lsn
		}
		mu.Unlock()
		if n > 1 {
			return errors.New("dropped by the test")
		}
		close(entered)
		<-release
		return nil
	})
	defer replication.SetSnapshotHook(nil)

	dir := t.TempDir()
	start := func() (*replication.Stream, *live.Set) {
		set := live.New(slog.New(slog.DiscardHandler))
		cfg := replication.DefaultConfig()
		cfg.DSN, cfg.Name, cfg.Applier, cfg.Logger = dsn, "offpath", set, testLogger(t)
		cfg.SnapshotDir, cfg.SnapshotInterval = dir, time.Hour // only the forced ones
		s, err := replication.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s, set
	}
	s, set := start()
	released, closed := false, false
	defer func() {
		if !released {
			close(release)
		}
		if !closed {
			s.Close()
			set.Close()
		}
	}()

	select {
	case <-entered:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no snapshot was written: %+v", s.Status())
	}
	mu.Lock()
	heldLSN := held
	mu.Unlock()
	for i := range 20 {
		insert(5001+i*10, 5010+i*10)
	}
	exec(t, c, `DELETE FROM items WHERE id % 7 = 0 AND id < 2000`)
	exec(t, c, `UPDATE items SET v = (SELECT array_agg(random() + (id + i) * 0)::vector FROM generate_series(1, 16) i) WHERE id % 11 = 0`)
	waitCaughtUp(t, s, c)
	st := s.Status()
	if st.Applied <= heldLSN {
		t.Fatalf("applied %s while the snapshot at %s is held: apply waited for it", st.Applied, heldLSN)
	}
	if n, sum, sq := twinKeys(t, set); [3]int64{n, sum, sq} != tableKeys() {
		t.Fatalf("while the snapshot is held the twin holds %d rows (sum %d, %d), the table %v", n, sum, sq, tableKeys())
	}
	if st.Persisted >= heldLSN || st.Acknowledged > heldLSN {
		t.Fatalf("persisted %s, acknowledged %s before the snapshot at %s is durable", st.Persisted, st.Acknowledged, heldLSN)
	}
	slotConfirmed := func() replication.LSN {
		t.Helper()
		var confirmed replication.LSN
		if err := c.QueryRow(context.Background(), "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'vecgate_offpath'").Scan(&confirmed); err != nil {
			t.Fatal(err)
		}
		return confirmed
	}
	if got := slotConfirmed(); got > heldLSN {
		t.Fatalf("the slot confirmed %s past the snapshot at %s before it is durable", got, heldLSN)
	}

	close(release)
	released = true
	deadline := time.Now().Add(time.Minute)
	for s.Status().Persisted != heldLSN {
		if time.Now().After(deadline) {
			t.Fatalf("the held snapshot was not persisted: %+v", s.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	insert(7001, 7100)
	exec(t, c, `DELETE FROM items WHERE id BETWEEN 5001 AND 5020`)
	waitCaughtUp(t, s, c)
	s.Close() // its final snapshot is dropped (the hook)
	set.Close()
	closed = true
	if got := slotConfirmed(); got > heldLSN {
		t.Fatalf("the slot confirmed %s, past the last snapshot written (%s)", got, heldLSN)
	}
	insert(8001, 8050)

	replication.SetSnapshotHook(nil)
	s, set = start()
	closed = false
	waitCaughtUp(t, s, c)
	if st := s.Status(); st.Resnapshots != 0 {
		t.Fatalf("the restart loaded everything again (%d initial loads) instead of resuming from the snapshot: %+v", st.Resnapshots, st)
	}
	if n, sum, sq := twinKeys(t, set); [3]int64{n, sum, sq} != tableKeys() {
		t.Fatalf("after the restart the twin holds %d rows (sum %d, %d), the table %v", n, sum, sq, tableKeys())
	}
}
