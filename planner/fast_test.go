package planner_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/planner"
)

// TestTableCheckFunctionNames runs the session check of statements calling known functions
// through Postgres: a known name (lower) is only Postgres' own while no function of that name
// exists on the search_path outside pg_catalog (public.lower(bigint) would answer lower(id));
// pgvector's functions (l2_distance) pass, and a call qualified with pg_catalog is not affected.
func TestTableCheckFunctionNames(t *testing.T) {
	ctx := context.Background()
	c := pgtest.Connect(t, pgtest.NewDB(t))
	for _, q := range []string{
		`CREATE TABLE items (id bigint PRIMARY KEY, title text, emb vector(2))`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var rel, db uint32
	if err := c.QueryRow(ctx, `SELECT 'items'::regclass::oid, (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&rel, &db); err != nil {
		t.Fatal(err)
	}
	p := planner.New(oneIndex{planner.Target{Index: &tieIndex{rows: 10}, Key: "id", KeyType: "bigint", Name: "hnsw",
		Kind: "hnsw", Exact: true, RelOID: rel, DatabaseOID: db}})
	whole := func(sql string) bool {
		t.Helper()
		q, err := p.PlanSimple(sql, planner.Settings{})
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var w, r bool
		if err := c.QueryRow(ctx, q.TableCheck()).Scan(&w, &r); err != nil {
			t.Fatalf("%s: %v\n%s", sql, err, q.TableCheck())
		}
		return w
	}
	const (
		lowerID    = `SELECT id, lower(id) FROM items ORDER BY emb <-> '[1,2]' LIMIT 5`
		lowerTitle = `SELECT id, lower(title) FROM items ORDER BY emb <-> '[1,2]' LIMIT 5`
		qualified  = `SELECT id, pg_catalog.lower(title) FROM items ORDER BY emb <-> '[1,2]' LIMIT 5`
		vectorFn   = `SELECT id, l2_distance(emb, '[1,2]'), vector_dims(emb) FROM items ORDER BY emb <-> '[1,2]' LIMIT 5`
	)
	for _, sql := range []string{lowerID, lowerTitle, qualified, vectorFn} {
		if !whole(sql) {
			t.Fatalf("%s: the check fails with no function of a known name on the path", sql)
		}
	}
	if _, err := c.Exec(ctx, `CREATE FUNCTION public.lower(i bigint) RETURNS bigint LANGUAGE sql AS 'SELECT i'`); err != nil {
		t.Fatal(err)
	}
	for sql, want := range map[string]bool{lowerID: false, lowerTitle: false, qualified: true, vectorFn: true} {
		if got := whole(sql); got != want {
			t.Errorf("%s with public.lower(bigint): whole %v, want %v", sql, got, want)
		}
	}
	// Off the search_path, the function cannot answer the call.
	if _, err := c.Exec(ctx, `SET search_path = pg_catalog`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `CREATE SCHEMA other; ALTER FUNCTION public.lower(bigint) SET SCHEMA other; SET search_path = public`); err != nil {
		t.Fatal(err)
	}
	if !whole(lowerID) {
		t.Error("a function of a known name off the search_path fails the check")
	}
}
