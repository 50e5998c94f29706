package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/replication"
)

func TestStreamApply(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	exec(t, c, `
		CREATE TABLE items (id bigint PRIMARY KEY, note text, v vector(3), big vector(700));
		CREATE TABLE nopk (v vector(2));
		CREATE TABLE arr (id int PRIMARY KEY, vs vector(2)[]);
		CREATE TABLE nothing (id int PRIMARY KEY, v vector(2));
		ALTER TABLE nothing REPLICA IDENTITY NOTHING;
		INSERT INTO items SELECT g, 'n' || g, ARRAY[g, g + 0.5, -g]::vector,
		       (SELECT array_agg(random())::vector FROM generate_series(1, 700) WHERE g > 0)
		FROM generate_series(1, 50) g;
		UPDATE items SET v = NULL WHERE id = 50;`)
	mem := replication.NewMemory()
	cfg := replication.DefaultConfig()
	cfg.DSN, cfg.Name, cfg.Applier, cfg.Logger = dsn, "apply", mem, testLogger(t)
	s := startStream(t, cfg)
	waitCaughtUp(t, s, c)
	check := func(step string) {
		t.Helper()
		waitCaughtUp(t, s, c)
		checkEqual(t, c, mem, "public", "items", "v")
		checkEqual(t, c, mem, "public", "items", "big")
		if t.Failed() {
			t.Fatalf("after %s", step)
		}
	}
	check("initial load")
	if n := mem.Len(replication.Target{Schema: "public", Table: "items", Column: "v"}); n != 49 {
		t.Fatalf("loaded %d rows, want 49 (one NULL)", n)
	}
	st := s.Status()
	skips := map[string]string{}
	for _, ts := range st.Tables {
		skips[ts.Name] = ts.Skip
	}
	for _, n := range []string{"nopk", "arr", "nothing"} {
		if skips[n] == "" {
			t.Errorf("table %s: want a skip reason, status %+v", n, st.Tables)
		}
	}
	if skips["items"] != "" {
		t.Errorf("items skipped: %s", skips["items"])
	}
	// Skipped tables stay writable (they are not in the publication).
	exec(t, c, `INSERT INTO nopk VALUES ('[1,2]'); UPDATE nopk SET v = '[3,4]'; DELETE FROM nopk;
		INSERT INTO nothing VALUES (1, '[1,2]'); UPDATE nothing SET v = '[3,4]'; DELETE FROM nothing`)

	exec(t, c, `INSERT INTO items VALUES (100, 'x', '[1,2,3]', NULL), (101, 'y', NULL, NULL)`)
	check("insert")
	exec(t, c, `UPDATE items SET v = '[9,9,9]' WHERE id BETWEEN 1 AND 5`)
	check("update vector")
	exec(t, c, `UPDATE items SET note = 'changed' WHERE id BETWEEN 6 AND 10`) // big stays TOAST-unchanged
	check("update other column")
	exec(t, c, `UPDATE items SET id = id + 1000 WHERE id BETWEEN 11 AND 15`) // key change, big unchanged
	check("key change")
	exec(t, c, `UPDATE items SET id = id + 2000, v = '[7,7,7]' WHERE id BETWEEN 16 AND 18`)
	check("key and vector change")
	exec(t, c, `UPDATE items SET v = NULL WHERE id BETWEEN 19 AND 21; UPDATE items SET v = '[1,1,1]' WHERE id = 50`)
	check("null vector")
	exec(t, c, `DELETE FROM items WHERE id BETWEEN 22 AND 30`)
	check("delete")
	exec(t, c, `BEGIN; INSERT INTO items SELECT g, 't', ARRAY[g,0,0]::vector FROM generate_series(5000, 9000) g;
		DELETE FROM items WHERE id BETWEEN 5000 AND 5500; COMMIT`)
	check("large transaction")
	exec(t, c, `ALTER TABLE items ADD COLUMN extra int; UPDATE items SET extra = 1 WHERE id < 40; ALTER TABLE items DROP COLUMN extra`)
	check("add/drop unrelated column")
	exec(t, c, `TRUNCATE items`)
	check("truncate")
	exec(t, c, `INSERT INTO items VALUES (1, 'a', '[1,2,3]')`)
	check("insert after truncate")
	if st := s.Status(); st.State != replication.StateStreaming || st.Applied == 0 || st.Resnapshots != 1 {
		t.Errorf("status: %+v", st)
	}

	// Writes to unreplicated tables still advance the applied position (keepalives).
	exec(t, c, `INSERT INTO nopk VALUES ('[1,2]')`)
	waitCaughtUp(t, s, c)

	// Postgres refuses to retype or drop a published column, so DDL reaches vecgate as new tables:
	// the catalog is re-read at reconnect and a changed table set means a full resynchronisation.
	exec(t, c, `CREATE TABLE items2 (id bigint PRIMARY KEY, v vector(4)); INSERT INTO items2 VALUES (1, '[1,2,3,4]')`)
	exec(t, c, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, s.Slot())
	deadline := time.Now().Add(30 * time.Second)
	for s.Status().Resnapshots < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	check("new table")
	checkEqual(t, c, mem, "public", "items2", "v")

	// Connection loss: terminate the walsender; the stream reconnects and resumes.
	exec(t, c, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1`, s.Slot())
	exec(t, c, `INSERT INTO items VALUES (3, 'c', '[3,3,3]'); INSERT INTO items2 VALUES (3, '[3,3,3,3]')`)
	check("reconnect")
	checkEqual(t, c, mem, "public", "items2", "v")
	if st := s.Status(); st.Resnapshots != 2 {
		t.Errorf("resnapshots %d after a plain reconnect, want 2", st.Resnapshots)
	}

	// Upstream restart, emulated: every backend of this database but the test's own goes away
	// (the walsender and the stream's catalog connection included).
	exec(t, c, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	exec(t, c, `INSERT INTO items VALUES (4, 'd', '[4,4,4]')`)
	check("upstream restart")
	if st := s.Status(); st.Resnapshots != 2 {
		t.Errorf("resnapshots %d after an upstream restart, want 2 (resume, not reload)", st.Resnapshots)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitFor(ctx, currentLSN(t, c)+1<<40); err == nil {
		t.Error("WaitFor of a future LSN returned early")
	}
}
