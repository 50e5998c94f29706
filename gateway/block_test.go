package gateway

import (
	"context"
	"errors"
	"regexp"
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
		before := f.g.Stats().Intercepted
		for _, mode := range modes {
			v := f.vector()
			got, want := idDists(t, via, mode, q, v), idDists(t, direct, mode, q, v)
			if len(got) != 5 || !slices.EqualFunc(got, want, func(a, b idDist) bool { return a.id == b.id }) {
				t.Fatalf("mode %v: got %v, want %v", mode, got, want)
			}
		}
		return f.g.Stats().Intercepted - before
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
	before := f.g.Stats().Forwarded["transaction"]
	if n := check(); n != 0 {
		t.Fatalf("REPEATABLE READ block: %d intercepted", n)
	}
	if f.g.Stats().Forwarded["transaction"] != before+int64(len(modes)) {
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
		before := f.g.Stats().Intercepted
		if got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, q, f.vector()); len(got) != 3 {
			t.Fatalf("%d rows", len(got))
		}
		return f.g.Stats().Intercepted > before
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

// TestKnobsFollowPostgres: vecgate keeps a SET exactly when Postgres does. A SET that fails (a
// value out of range) leaves the old value; a SET in a Query string whose implicit transaction
// fails lapses with it; SETs sent with the extended protocol (as JDBC sends every statement)
// count too. EXPLAIN through vecgate shows the ef_search it uses, SHOW what Postgres holds.
func TestKnobsFollowPostgres(t *testing.T) {
	f := newFixture(t, 500)
	via := pgtest.Connect(t, f.via)
	ctx := context.Background()
	simple := pgx.QueryExecModeSimpleProtocol
	check := func(step string) { t.Helper(); efSearchAgrees(t, f, via, step) }
	fails := func(sql string) {
		t.Helper()
		if _, err := via.Exec(ctx, sql, simple); err == nil {
			t.Fatalf("%s succeeded", sql)
		}
		check(sql)
	}
	ok := func(sql string) {
		t.Helper()
		if _, err := via.Exec(ctx, sql, simple); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		check(sql)
	}
	ok("SET hnsw.ef_search = 100")
	fails("SET hnsw.ef_search = 2000") // out of range: 100 stays
	fails("SET hnsw.ef_search = 60; SELECT 1/0")
	fails("SELECT 1/0; SET hnsw.ef_search = 61")
	ok("SET hnsw.ef_search = 62; SELECT 1")
	fails("BEGIN; SET hnsw.ef_search = 63; COMMIT; SET hnsw.ef_search = 64; SELECT 1/0") // the block committed
	// In a block (EXPLAIN there is Postgres' own): the failed SET leaves 63 after ROLLBACK.
	if _, err := via.Exec(ctx, "BEGIN", simple); err != nil {
		t.Fatal(err)
	}
	if _, err := via.Exec(ctx, "SET hnsw.ef_search = 3000", simple); err == nil {
		t.Fatal("SET hnsw.ef_search = 3000 succeeded")
	}
	ok("ROLLBACK")

	// Extended protocol: an unnamed statement, and a named one executed twice.
	ext := func(sql string) {
		t.Helper()
		if _, err := via.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Close(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		check(sql + " (extended)")
	}
	ext("SET hnsw.ef_search = 70")
	if _, err := via.PgConn().ExecParams(ctx, "SET hnsw.ef_search = 5000", nil, nil, nil, nil).Close(); err == nil {
		t.Fatal("SET hnsw.ef_search = 5000 succeeded")
	}
	check("a failed extended SET")
	if _, err := via.PgConn().Prepare(ctx, "set_ef", "SET hnsw.ef_search = 71", nil); err != nil {
		t.Fatal(err)
	}
	ext("RESET hnsw.ef_search")
	for range 2 {
		if _, err := via.PgConn().ExecPrepared(ctx, "set_ef", nil, nil, nil).Close(); err != nil {
			t.Fatal(err)
		}
		check("EXECUTE set_ef")
		ext("RESET hnsw.ef_search")
	}
	// A batch: the SET and the query in one pipeline, one Sync.
	b := &pgx.Batch{}
	b.Queue("SET hnsw.ef_search = 72")
	b.Queue("SELECT 1")
	if err := via.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	check("a batch")
	// DISCARD ALL (what a pooler sends between clients) resets it, as RESET ALL does.
	ok("SET hnsw.ef_search = 73")
	ok("DISCARD ALL")
}

var efSearchRE = regexp.MustCompile(`ef_search (\d+)`)

// TestDiscardAll: DISCARD ALL and DEALLOCATE ALL (a pooler's reset between clients) deallocate
// vecgate's prepared rewrites with the client's statements; vecgate prepares them again, so the
// session's vector queries stay intercepted (they were forwarded for the rest of the session).
func TestDiscardAll(t *testing.T) {
	f := newFixture(t, 500)
	via := pgtest.Connect(t, f.via)
	ctx := context.Background()
	const q = `SELECT id, emb <-> $1::vector FROM items WHERE id > 0 ORDER BY emb <-> $1::vector LIMIT 3`
	run := func(step string) {
		t.Helper()
		before := f.g.Stats().Intercepted
		if got := idDists(t, via, pgx.QueryExecModeCacheStatement, q, f.vector()); len(got) != 3 {
			t.Fatalf("%s: %d rows", step, len(got))
		}
		if f.g.Stats().Intercepted == before {
			t.Fatalf("%s: not intercepted", step)
		}
	}
	run("first")
	for _, reset := range []string{"DISCARD ALL", "DEALLOCATE ALL"} {
		if _, err := via.Exec(ctx, reset, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		if err := via.DeallocateAll(ctx); err != nil { // pgx's own statement cache is stale too
			t.Fatal(err)
		}
		run("after " + reset)
	}
}

// efSearchAgrees: the hnsw.ef_search vecgate's EXPLAIN says it uses is the one Postgres holds
// (SHOW) for the session via.
func efSearchAgrees(t *testing.T, f *fixture, via *pgx.Conn, step string) {
	t.Helper()
	var shown string
	if err := via.QueryRow(context.Background(), "SHOW hnsw.ef_search", pgx.QueryExecModeSimpleProtocol).Scan(&shown); err != nil {
		t.Fatalf("%s: SHOW: %v", step, err)
	}
	plan := simpleLines(t, via, "EXPLAIN SELECT id FROM items ORDER BY emb <-> '"+f.vector()+"' LIMIT 3")
	if m := efSearchRE.FindStringSubmatch(plan); m == nil || m[1] != shown {
		t.Fatalf("after %s Postgres has hnsw.ef_search = %s, vecgate's EXPLAIN says:\n%s", step, shown, plan)
	}
}

// TestBlockForwardKeepsUnnamedStatement: inside a transaction block, an unnamed statement
// (libpq's PQexecParams, psql's \bind) whose interception ends in forwarding — the rewrite fails
// (a role without SELECT: 42501) or the rounds come back short (OFFSET past the table) — gets
// Postgres' own answer. vecgate's savepoint statements went as simple Queries, which destroyed
// the client's unnamed statement, and the forwarded Bind failed with 26000 (found by the
// differential tester).
func TestBlockForwardKeepsUnnamedStatement(t *testing.T) {
	f := newFixture(t, 300)
	role := bareRole(t, f)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	both := []*pgx.Conn{via, direct}
	// A row without a vector: the index cannot prove a short answer complete, so the rounds
	// widen and then forward.
	admin := pgtest.Connect(t, f.dsn)
	mustExec(t, admin, "INSERT INTO items (id, category, rare, title) VALUES (100001, 1, 0, 'no vector')")
	caughtUp(t, f.g, admin)
	cases := []struct{ name, setup, sql, reason string }{
		{"rewrite fails", "SET ROLE " + role, `SELECT id FROM items ORDER BY emb <-> $1::vector LIMIT 3`, "forward:rewrite_error"},
		{"short after widening", "SET enable_indexscan = off",
			`SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 200 OFFSET 150`, "forward:widening"},
	}
	for _, c := range cases {
		execAll(t, both, "BEGIN")
		execAll(t, both, c.setup)
		before := counted(f.g.Stats(), c.reason)
		v := f.vector()
		if got, want := rawExtended(t, via, "", c.sql, v), rawExtended(t, direct, "", c.sql, v); got != want {
			t.Errorf("%s, in a block:\nthrough vecgate:\n%s\ndirectly:\n%s", c.name, got, want)
		}
		if counted(f.g.Stats(), c.reason) == before {
			t.Errorf("%s: %s did not move: the test proves nothing", c.name, c.reason)
		}
		execAll(t, both, "ROLLBACK")
	}
}
