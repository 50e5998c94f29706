package gateway

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestNonSuperuser runs vecgate with the role docs/replication.md says is enough — the tables'
// owner with REPLICATION and CREATE on the database, not a superuser, logging in with SCRAM: the
// schema migration, the initial load, streaming, interception and CREATE INDEX through vecgate
// all work.
func TestNonSuperuser(t *testing.T) {
	dsn := pgtest.NewDB(t)
	admin := pgtest.Connect(t, dsn)
	ctx := context.Background()
	db := dsn[strings.LastIndex(dsn, "/")+1:]
	if i := strings.IndexByte(db, '?'); i >= 0 {
		db = db[:i]
	}
	const role, password = "vg_repl_owner", "owner-pw-1"
	for _, q := range []string{
		"SET password_encryption = 'scram-sha-256'",
		"DO $$ BEGIN CREATE ROLE " + role + "; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
		"ALTER ROLE " + role + " LOGIN REPLICATION NOSUPERUSER PASSWORD '" + password + "'",
		"GRANT CONNECT, CREATE ON DATABASE " + pgx.Identifier{db}.Sanitize() + " TO " + role,
		"GRANT CREATE ON SCHEMA public TO " + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	owner := pgtest.WithUser(t, dsn, role, password)
	oc := pgtest.Connect(t, owner)
	for _, q := range []string{
		`CREATE TABLE items (id bigserial PRIMARY KEY, category int NOT NULL, emb vector(8))`,
		`INSERT INTO items (category, emb) SELECT g % 10, (SELECT array_agg(random())::vector(8) FROM generate_series(1, 8) d WHERE g > 0)
			FROM generate_series(1, 3000) g`,
		`CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`,
	} {
		if _, err := oc.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var super bool
	if err := oc.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
		t.Fatalf("the role is a superuser (%v, %v)", super, err)
	}

	g := startTestGateway(t, owner, Config{Intercept: true, SlotName: fmt.Sprintf("np%d", rand.Uint32())})
	waitIndexed(t, g, 3000)

	via := pgtest.Connect(t, viaDSN(owner, g))
	const q = `SELECT id, emb <-> $1::vector FROM items WHERE category = 3 ORDER BY emb <-> $1::vector LIMIT 5`
	v := "[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]"
	before := g.Stats().Intercepted
	if got := ids(t, via, q, v); len(got) != 5 {
		t.Fatalf("%d rows", len(got))
	}
	var id int64
	if err := via.QueryRow(ctx, `INSERT INTO items (category, emb) VALUES (3, $1::vector) RETURNING id`, pgx.QueryExecModeSimpleProtocol, v).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, via, q, v); len(got) != 5 || got[0] != id {
		t.Fatalf("after inserting row %d with the query vector: %v", id, got)
	}
	if n := g.Stats().Intercepted - before; n != 2 {
		t.Fatalf("%d of 2 queries intercepted", n)
	}
	if _, err := via.Exec(ctx, `CREATE INDEX items_emb_ip ON items USING hnsw (emb vector_ip_ops) WITH (quantizer = sq8, mode = offload)`, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("CREATE INDEX through vecgate as the owner: %v", err)
	}
	var defs int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM vecgate.indexes`).Scan(&defs); err != nil || defs != 1 {
		t.Fatalf("vecgate.indexes holds %d definitions (%v)", defs, err)
	}
}

// TestTableGuard: a statement that names its table without a schema reads the table the
// session's search_path finds first. Here that is another schema's table of the same name (a
// schema per tenant), then a temporary table: vecgate must answer exactly what Postgres answers
// (it forwards: the rewrite's guard fails), never the indexed table's rows or its candidate keys
// applied to the other table. Before the guard vecgate returned no rows here. Qualified names and
// a search_path that finds public.items stay intercepted. Then an inheritance child, whose rows
// `FROM items` reads too (vecgate answered without them): forwarded once the session's table
// check sees it (at once after the session's own DDL; within replication lag after another
// session's: TestOtherSessionCatalogChanges).
func TestTableGuard(t *testing.T) {
	f := newFixture(t, 500)
	admin := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE SCHEMA tenant1",
		"CREATE TABLE tenant1.items (LIKE public.items INCLUDING ALL)",
		"INSERT INTO tenant1.items SELECT id + 100000, category, rare, title, emb FROM public.items WHERE id % 3 = 0",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	settled(t, f.g, admin) // a new table with a vector column: vecgate reloads (forwarding meanwhile)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	simple := pgx.QueryExecModeSimpleProtocol
	both := func(sql string) {
		t.Helper()
		for _, c := range []*pgx.Conn{via, direct} {
			if _, err := c.Exec(ctx, sql, simple); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
	}
	same := func(step, q string, wantIntercepted bool) {
		t.Helper()
		for _, mode := range []pgx.QueryExecMode{simple, pgx.QueryExecModeCacheStatement} {
			for range 3 { // the third is a fast answer when one is possible
				before := f.g.Stats().Intercepted
				v := f.vector()
				got, want := idDists(t, via, mode, q, v), idDists(t, direct, mode, q, v)
				// Fast answers carry vecgate's float32 distances: within 1e-6 of Postgres'.
				if !sameRows(got, want) {
					t.Fatalf("%s, %v: through vecgate %v, directly %v", step, mode, got, want)
				}
				if len(want) != 5 {
					t.Fatalf("%s: %d rows", step, len(want))
				}
				if intercepted := f.g.Stats().Intercepted > before; intercepted != wantIntercepted {
					t.Fatalf("%s, %v: intercepted %v, want %v", step, mode, intercepted, wantIntercepted)
				}
			}
		}
	}
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	const qTitle = `SELECT id, emb <-> $1::vector AS d FROM items WHERE title IS NOT NULL ORDER BY emb <-> $1::vector LIMIT 5`
	same("public first", q, true)
	both("SET search_path = tenant1, public")
	checked := f.g.Stats().Forwarded["table_check"]
	same("tenant1 first", q, false)
	same("tenant1 first, rewrite", qTitle, false)
	// The session's table check (kept until a SET or DDL of its own, or 10 s) says so for all 12.
	if n := f.g.Stats().Forwarded["table_check"] - checked; n != 12 {
		t.Fatalf("%d of 12 statements forwarded by the table check", n)
	}
	same("qualified", `SELECT id, emb <-> $1::vector AS d FROM public.items ORDER BY emb <-> $1::vector LIMIT 5`, true)
	both("RESET search_path")
	same("reset", qTitle, true)
	// A function that changes the search_path: no SET of the session's own, but a statement that
	// ran in Postgres, so the session is checked again before the next interception.
	if _, err := admin.Exec(ctx, `CREATE FUNCTION tenant1.enter() RETURNS void LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_catalog.set_config('search_path', 'tenant1, public', false); END $$`); err != nil {
		t.Fatal(err)
	}
	settled(t, f.g, admin) // the event trigger's message for CREATE FUNCTION: nothing to reload, but wait
	both("SELECT tenant1.enter()")
	checked = f.g.Stats().Forwarded["table_check"]
	for _, mode := range []pgx.QueryExecMode{simple, pgx.QueryExecModeCacheStatement} {
		v := f.vector()
		if got, want := idDists(t, via, mode, qTitle, v), idDists(t, direct, mode, qTitle, v); !sameRows(got, want) || len(want) != 5 {
			t.Fatalf("search_path changed by a function, %v: through vecgate %v, directly %v", mode, got, want)
		}
	}
	if n := f.g.Stats().Forwarded["table_check"] - checked; n != 2 {
		t.Fatalf("%d of 2 statements forwarded by the table check after a function changed the search_path (counts %v)", n, f.g.Stats())
	}
	both("RESET search_path")
	both("CREATE TEMP TABLE items AS SELECT * FROM tenant1.items")
	both("ALTER TABLE items ADD PRIMARY KEY (id)")
	same("temporary table", qTitle, false)
	same("temporary table, fast shape", q, false)
	both("DROP TABLE pg_temp.items")
	same("temporary table dropped", q, true)
	// Inheritance: FROM items reads the child's rows too, which vecgate's index does not hold.
	if _, err := via.Exec(ctx, "CREATE TABLE items_child () INHERITS (items)", simple); err != nil {
		t.Fatal(err)
	}
	if _, err := via.Exec(ctx, "INSERT INTO items_child SELECT id + 100000, category, rare, title, emb FROM ONLY items WHERE id % 2 = 0", simple); err != nil {
		t.Fatal(err)
	}
	// The session's table check, run again after its own CREATE TABLE, sees the child.
	same("inheritance child", q, false)
	same("inheritance child, rewrite", `SELECT id, emb <-> $1::vector AS d FROM public.items WHERE title IS NOT NULL ORDER BY emb <-> $1::vector LIMIT 5`, false)
	if _, err := via.Exec(ctx, "DROP TABLE items_child", simple); err != nil {
		t.Fatal(err)
	}
	settled(t, f.g, admin)
	// A new table with a vector column changed the catalog: vecgate reloads (forwarding
	// meanwhile) once replication passes the change; wait until it intercepts again.
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		plan := simpleLines(t, via, "EXPLAIN SELECT id FROM items WHERE title IS NOT NULL ORDER BY emb <-> '"+f.vector()+"' LIMIT 5")
		if strings.Contains(plan, "vecgate: intercepted") {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("EXPLAIN, 60 s after the child was dropped:\n%s", plan)
		}
	}
	same("child dropped", q, true)
}

// sameRows: the same ids in the same order, distances within 1e-6 (relative above 1).
func sameRows(a, b []idDist) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].id != b[i].id || math.Abs(a[i].d-b[i].d) > 1e-6*math.Max(1, math.Abs(b[i].d)) {
			return false
		}
	}
	return true
}

// TestSetRole: a session answered from memory that switches to a role without SELECT on the
// table (SET ROLE, or set_config in a select list) gets Postgres' permission error at once, not
// an answer from memory on the strength of the check its earlier role passed. (The access check
// was kept for 10 s whatever the session ran in between.)
func TestSetRole(t *testing.T) {
	f := newFixture(t, 500)
	ctx := context.Background()
	role := bareRole(t, f)
	via := pgtest.Connect(t, f.via)
	simple := pgx.QueryExecModeSimpleProtocol
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	for _, mode := range []pgx.QueryExecMode{simple, pgx.QueryExecModeCacheStatement} {
		for _, become := range []string{"SET ROLE " + role, "SELECT set_config('role', '" + role + "', false)"} {
			fast := f.g.Stats().FastPath
			for range 3 {
				if got := idDists(t, via, mode, q, f.vector()); len(got) != 5 {
					t.Fatalf("%d rows", len(got))
				}
			}
			if f.g.Stats().FastPath == fast {
				t.Fatalf("%v: no answer from memory before the role changed; the test proves nothing", mode)
			}
			if _, err := via.Exec(ctx, become, simple); err != nil {
				t.Fatal(err)
			}
			_, err := via.Exec(ctx, q, mode, f.vector())
			if errCode(err) != "42501" {
				t.Fatalf("%v, after %s: %v, want permission denied (42501)", mode, become, err)
			}
			if _, err := via.Exec(ctx, "RESET ROLE", simple); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// bareRole creates a role (dropped when the test ends) that may use schema public but has no
// privilege on its tables.
func bareRole(t *testing.T, f *fixture) string {
	t.Helper()
	admin := pgtest.Connect(t, f.dsn)
	role := fmt.Sprintf("vg_bare_%d", rand.Uint32())
	for _, q := range []string{"CREATE ROLE " + role, "GRANT USAGE ON SCHEMA public TO " + role} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c := pgtest.Connect(t, f.dsn)
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = c.Exec(context.Background(), "DROP ROLE "+role)
	})
	return role
}
