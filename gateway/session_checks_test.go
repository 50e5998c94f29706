// Tests that a session's cached table check (proxy/fast.go) follows what the session does to
// its role and search_path, and that vecgate answers exactly what Postgres answers after.
package gateway

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

const fastShape = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`

func tenantSchema(t *testing.T, f *fixture) {
	admin := pgtest.Connect(t, f.dsn)
	for _, q := range []string{
		"CREATE SCHEMA tenant1",
		"CREATE TABLE tenant1.items (LIKE public.items INCLUDING ALL)",
		"INSERT INTO tenant1.items SELECT id + 100000, category, rare, title, emb FROM public.items WHERE id % 3 = 0",
		`CREATE FUNCTION public.enter() RETURNS void LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_catalog.set_config('search_path', 'tenant1, public', false); END $$`,
	} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	// A new table with a vector column: vecgate reloads once replication passes it (forwarding
	// meanwhile, as "loading"); wait for that, so the tests see the table check at work.
	settled(t, f.g, admin)
}

// sameViaAndDirect runs fastShape three times through vecgate and directly, and fails unless
// the answers are the same and each statement took path: "fast" (intercepted, and answered from
// memory at least once of the three: the first after a change may need a round to Postgres),
// "intercept" (intercepted), or "forward:<reason>".
func sameViaAndDirect(t *testing.T, f *fixture, via, direct *pgx.Conn, step, path string) {
	t.Helper()
	want := path
	if path == "fast" {
		want = "intercept"
	}
	fast := int64(0)
	for range 3 {
		v := f.vector()
		before := f.g.Stats()
		got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, fastShape, v)
		after := f.g.Stats()
		if moved := statsMoved(before, after); !slices.Equal(moved, []string{want + "+1"}) {
			t.Errorf("%s: counters moved %v, want %s+1", step, moved, want)
		}
		fast += after.FastPath - before.FastPath
		if direct := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, fastShape, v); !sameRows(got, direct) {
			t.Errorf("%s: WRONG ANSWER through vecgate %v, directly %v", step, got, direct)
			return
		}
	}
	if path == "fast" && fast == 0 {
		t.Errorf("%s: none of 3 statements answered from memory", step)
	}
}

func execAll(t *testing.T, cs []*pgx.Conn, sql string) {
	t.Helper()
	for _, c := range cs {
		if _, err := c.Exec(context.Background(), sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// A function that changes search_path: the fast shape has no guard.
func TestSessionCheckFunctionSearchPath(t *testing.T) {
	f := newFixture(t, 500)
	tenantSchema(t, f)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	sameViaAndDirect(t, f, via, direct, "public", "fast")
	execAll(t, []*pgx.Conn{via, direct}, "SELECT public.enter()")
	sameViaAndDirect(t, f, via, direct, "after SELECT enter()", "forward:table_check")
}

// SQL-level PREPARE of set_config, EXECUTE later.
func TestSessionCheckPreparedSetConfig(t *testing.T) {
	f := newFixture(t, 500)
	tenantSchema(t, f)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	execAll(t, []*pgx.Conn{via, direct}, "PREPARE p AS SELECT set_config('search_path', 'tenant1, public', false)")
	sameViaAndDirect(t, f, via, direct, "public", "fast")
	execAll(t, []*pgx.Conn{via, direct}, "EXECUTE p")
	sameViaAndDirect(t, f, via, direct, "after EXECUTE p", "forward:table_check")
}

// SET LOCAL search_path inside a block, COMMIT: the check cached in the block survives.
func TestSessionCheckLocalSearchPath(t *testing.T) {
	f := newFixture(t, 500)
	tenantSchema(t, f)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	sameViaAndDirect(t, f, via, direct, "public", "fast")
	execAll(t, []*pgx.Conn{via, direct}, "SET search_path = tenant1, public")
	sameViaAndDirect(t, f, via, direct, "tenant1", "forward:table_check")
	execAll(t, []*pgx.Conn{via, direct}, "BEGIN")
	execAll(t, []*pgx.Conn{via, direct}, "SET LOCAL search_path = public")
	sameViaAndDirect(t, f, via, direct, "in block, public", "intercept")
	execAll(t, []*pgx.Conn{via, direct}, "COMMIT")
	sameViaAndDirect(t, f, via, direct, "after COMMIT, tenant1 again", "forward:table_check")
}

// RESET ROLE inside a block that rolls back: the role is the unprivileged one again.
func TestSessionCheckRollbackRole(t *testing.T) {
	f := newFixture(t, 500)
	ctx := context.Background()
	role := bareRole(t, f)
	via := pgtest.Connect(t, f.via)
	simple := pgx.QueryExecModeSimpleProtocol
	for range 3 {
		idDists(t, via, simple, fastShape, f.vector())
	}
	execAll(t, []*pgx.Conn{via}, "SET ROLE "+role)
	_, err := via.Exec(ctx, fastShape, simple, f.vector())
	t.Logf("as %s: %v", role, err)
	execAll(t, []*pgx.Conn{via}, "BEGIN")
	execAll(t, []*pgx.Conn{via}, "RESET ROLE")
	before := f.g.Stats().Intercepted
	idDists(t, via, simple, fastShape, f.vector())
	if n := f.g.Stats().Intercepted - before; n != 1 {
		// The privileged answer in the block is what could leave a check cached for the role
		// ROLLBACK restores: without it the test proves nothing.
		t.Fatalf("%d statements intercepted in the block, want 1", n)
	}
	execAll(t, []*pgx.Conn{via}, "ROLLBACK")
	var cur string
	_ = via.QueryRow(ctx, "SELECT current_user", simple).Scan(&cur)
	fast := f.g.Stats().FastPath
	rows, err := via.Query(ctx, fastShape, simple, f.vector())
	n := 0
	if err == nil {
		for rows.Next() {
			n++
		}
		err = rows.Err()
	}
	t.Logf("current_user=%s after ROLLBACK: rows=%d err=%v fast=%v", cur, n, err, f.g.Stats().FastPath > fast)
	if errCode(err) != "42501" {
		t.Errorf("PRIVILEGE BYPASS: after ROLLBACK role is %s, got %d rows (err %v), want 42501", cur, n, err)
	}
}

// CREATE TABLE AS reports the tag "SELECT n", which plainTags treats as plain.
func TestSessionCheckCreateTableAs(t *testing.T) {
	f := newFixture(t, 500)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	sameViaAndDirect(t, f, via, direct, "public", "fast")
	execAll(t, []*pgx.Conn{via, direct}, "CREATE TEMP TABLE items AS SELECT id + 100000 AS id, emb FROM public.items WHERE id % 3 = 0")
	sameViaAndDirect(t, f, via, direct, "after CREATE TEMP TABLE items AS", "forward:table_check")
}
