package replication_test

import (
	"context"
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

// TestSnapshotOffApplyPath: a snapshot is made durable off the stream's goroutine. While its
// writer is held (a hook, not a sleep), changes keep being applied (the applied position passes
// them, the twin holds their rows), and neither Status.Persisted nor the slot's confirmed
// position passes the held snapshot's. Once it is released the position is persisted and
// acknowledged, and a restart from the file resumes (no initial load) with every row of the
// table (count and key checksum).
func TestSnapshotOffApplyPath(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	exec(t, c, `CREATE TABLE items (id bigint PRIMARY KEY, v vector(16));
		INSERT INTO items SELECT g, (SELECT array_agg(random() + (g + i) * 0)::vector FROM generate_series(1, 16) i) FROM generate_series(1, 3000) g;
		CREATE INDEX ON items USING hnsw (v vector_l2_ops)`)

	var (
		mu       sync.Mutex
		held     replication.LSN
		entered  = make(chan struct{})
		release  = make(chan struct{})
		holdOnce sync.Once
	)
	replication.SetSnapshotHook(func(lsn replication.LSN) {
		first := false
		holdOnce.Do(func() { first = true })
		if !first {
			return
		}
		mu.Lock()
		held = lsn
		mu.Unlock()
		close(entered)
		<-release
	})
	defer replication.SetSnapshotHook(nil)

	dir := t.TempDir()
	start := func() (*replication.Stream, *live.Set) {
		set := live.New(slog.New(slog.DiscardHandler))
		cfg := replication.DefaultConfig()
		cfg.DSN, cfg.Name, cfg.Applier, cfg.Logger = dsn, "offpath", set, testLogger(t)
		cfg.SnapshotDir, cfg.SnapshotInterval = dir, 50*time.Millisecond
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
	released := false
	defer func() {
		if !released {
			close(release)
		}
		s.Close()
		set.Close()
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
		exec(t, c, `INSERT INTO items SELECT g, (SELECT array_agg(random() + (g + i) * 0)::vector FROM generate_series(1, 16) i)
			FROM generate_series($1::int, $1::int + 9) g`, 3001+i*10)
	}
	exec(t, c, `DELETE FROM items WHERE id % 7 = 0 AND id < 500`)
	waitCaughtUp(t, s, c)
	st := s.Status()
	if st.Applied <= heldLSN {
		t.Fatalf("applied %s while the snapshot at %s is held: apply waited for it", st.Applied, heldLSN)
	}
	var want [3]int64
	if err := c.QueryRow(context.Background(), "SELECT count(*), sum(id), sum(id * id) FROM items").Scan(&want[0], &want[1], &want[2]); err != nil {
		t.Fatal(err)
	}
	if n, sum, sq := twinKeys(t, set); [3]int64{n, sum, sq} != want {
		t.Fatalf("while the snapshot is held the twin holds %d rows (sum %d, %d), the table %v", n, sum, sq, want)
	}
	if st.Persisted >= heldLSN && heldLSN != 0 || st.Acknowledged > heldLSN {
		t.Fatalf("persisted %s, acknowledged %s before the snapshot at %s is durable", st.Persisted, st.Acknowledged, heldLSN)
	}
	var confirmed replication.LSN
	slotConfirmed := func() replication.LSN {
		t.Helper()
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
	applied := st.Applied
	deadline := time.Now().Add(time.Minute)
	for s.Status().Persisted < applied || slotConfirmed() < applied {
		if time.Now().After(deadline) {
			t.Fatalf("not persisted and acknowledged past %s: %+v, slot confirmed %s", applied, s.Status(), confirmed)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// More changes, then a restart from the file.
	exec(t, c, `UPDATE items SET v = v WHERE id % 5 = 0; DELETE FROM items WHERE id BETWEEN 3001 AND 3020;
		INSERT INTO items SELECT g, (SELECT array_agg(random() + (g + i) * 0)::vector FROM generate_series(1, 16) i) FROM generate_series(5001, 5100) g`)
	waitCaughtUp(t, s, c)
	s.Close()
	set.Close()
	exec(t, c, `INSERT INTO items SELECT g, (SELECT array_agg(random() + (g + i) * 0)::vector FROM generate_series(1, 16) i) FROM generate_series(6001, 6050) g`)
	s, set = start()
	waitCaughtUp(t, s, c)
	if st := s.Status(); st.Resnapshots != 0 {
		t.Fatalf("the restart loaded everything again (%d initial loads) instead of resuming from the snapshot: %+v", st.Resnapshots, st)
	}
	if err := c.QueryRow(context.Background(), "SELECT count(*), sum(id), sum(id * id) FROM items").Scan(&want[0], &want[1], &want[2]); err != nil {
		t.Fatal(err)
	}
	if n, sum, sq := twinKeys(t, set); [3]int64{n, sum, sq} != want {
		t.Fatalf("after the restart the twin holds %d rows (sum %d, %d), the table %v", n, sum, sq, want)
	}

}
