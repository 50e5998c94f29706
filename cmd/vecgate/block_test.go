package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestTransactionBlocks: inside a READ COMMITTED block that has not written, vector queries are
// intercepted (simple and extended protocol) and return what Postgres returns, under a savepoint
// that is gone afterwards; REPEATABLE READ blocks and blocks that wrote are forwarded; the block
// stays usable and commits.
func TestTransactionBlocks(t *testing.T) {
	f := newFixture(t, 2000)
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	if _, err := direct.Exec(ctx, "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT id, emb <-> $1::vector FROM items WHERE category < 50 ORDER BY emb <-> $1::vector LIMIT 5`
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}

	exec := func(sql string) {
		t.Helper()
		if _, err := via.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// check runs q in each mode and reports how many of them were intercepted; the rows must be
	// Postgres' exact answer either way.
	check := func() int64 {
		t.Helper()
		before := f.g.counts.get("intercept")
		for _, mode := range modes {
			v := f.vector()
			got, want := idDists(t, via, mode, q, v), idDists(t, direct, mode, q, v)
			if len(got) != 5 || !slices.EqualFunc(got, want, func(a, b idDist) bool { return a.id == b.id }) {
				t.Fatalf("mode %v: got %v, want %v", mode, got, want)
			}
		}
		return f.g.counts.get("intercept") - before
	}

	exec("BEGIN")
	if n := check(); n != int64(len(modes)) {
		t.Fatalf("READ COMMITTED block: %d of %d intercepted", n, len(modes))
	}
	// vecgate's savepoint was released: the client cannot roll back to it.
	_, err := via.Exec(ctx, "ROLLBACK TO SAVEPOINT vecgate_read", pgx.QueryExecModeSimpleProtocol)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3B001" {
		t.Fatalf("ROLLBACK TO vecgate's savepoint: %v, want 3B001", err)
	}
	exec("ROLLBACK")

	exec("BEGIN")
	exec("SAVEPOINT mine")
	if n := check(); n != int64(len(modes)) {
		t.Fatalf("block with a savepoint: %d intercepted", n)
	}
	exec("ROLLBACK TO SAVEPOINT mine") // the client's own savepoint is intact
	exec("COMMIT")

	exec("BEGIN ISOLATION LEVEL REPEATABLE READ")
	before := f.g.counts.get("forward:transaction")
	if n := check(); n != 0 {
		t.Fatalf("REPEATABLE READ block: %d intercepted", n)
	}
	if f.g.counts.get("forward:transaction") != before+int64(len(modes)) {
		t.Fatal("REPEATABLE READ reads not counted as forwarded for the transaction")
	}
	exec("COMMIT")

	exec("BEGIN")
	exec("UPDATE items SET title = 'changed' WHERE id = 1")
	if n := check(); n != 0 {
		t.Fatalf("block that wrote: %d intercepted", n)
	}
	exec("COMMIT")

	// A block that wrote through a function (no command tag gives it away) is forwarded too.
	exec("CREATE FUNCTION touch_item() RETURNS int LANGUAGE sql AS $$ UPDATE items SET title = 'fn' WHERE id = 2 RETURNING 1 $$")
	exec("BEGIN")
	exec("SELECT touch_item()")
	if n := check(); n != 0 {
		t.Fatalf("block that wrote through a function: %d intercepted", n)
	}
	exec("COMMIT")
}

// TestKnobsInBlocks: SET LOCAL lasts until the block ends, a SET in a block that rolls back
// lapses, a SET in a committed block stays — as Postgres keeps its own settings.
func TestKnobsInBlocks(t *testing.T) {
	f := newFixture(t, 500)
	via := pgtest.Connect(t, f.via)
	ctx := context.Background()
	const q = `SELECT id, emb <-> $1::vector FROM items ORDER BY emb <-> $1::vector LIMIT 3`
	exec := func(sql string) {
		t.Helper()
		if _, err := via.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	intercepted := func() bool {
		t.Helper()
		before := f.g.counts.get("intercept")
		if got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, q, f.vector()); len(got) != 3 {
			t.Fatalf("%d rows", len(got))
		}
		return f.g.counts.get("intercept") > before
	}
	steps := []struct {
		sql  string
		want bool // the next query is intercepted
	}{
		{"SET LOCAL vecgate.enabled = off", true}, // outside a block: no effect (Postgres warns)
		{"BEGIN", true},
		{"SET LOCAL vecgate.enabled = off", false},
		{"COMMIT", true}, // SET LOCAL lapsed
		{"BEGIN", true},
		{"SET vecgate.enabled = off", false},
		{"ROLLBACK", true}, // rolled back with the block
		{"BEGIN", true},
		{"SET vecgate.enabled = off", false},
		{"COMMIT", false}, // committed: stays
		{"BEGIN", false},
		{"SET LOCAL vecgate.enabled = on", true},
		{"ROLLBACK", false},
		{"RESET vecgate.enabled", true},
		{"BEGIN; SET vecgate.enabled = off", false}, // the block opened in the same string
		{"ROLLBACK", true},
		{"BEGIN; SET vecgate.enabled = off; COMMIT", false},
		{"RESET vecgate.enabled", true},
	}
	for i, s := range steps {
		exec(s.sql)
		if got := intercepted(); got != s.want {
			t.Fatalf("step %d (%s): intercepted %v, want %v", i, s.sql, got, s.want)
		}
	}
	// A COMMIT that fails (a deferred constraint) rolls the block back, its SET with it.
	exec("CREATE TABLE dc (id int PRIMARY KEY DEFERRABLE INITIALLY DEFERRED)")
	exec("BEGIN")
	exec("SET vecgate.enabled = off")
	exec("INSERT INTO dc VALUES (1), (1)")
	if _, err := via.Exec(ctx, "COMMIT", pgx.QueryExecModeSimpleProtocol); err == nil {
		t.Fatal("COMMIT with a duplicate deferred key succeeded")
	}
	if !intercepted() {
		t.Fatal("a SET of a block whose COMMIT failed stayed in force")
	}
}
