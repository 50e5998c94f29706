package planner_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/planner"
)

// TestFormatFloat8MatchesPostgres prints random doubles of every magnitude both ways: vecgate's
// fast path must print a float8 exactly as Postgres does.
func TestFormatFloat8MatchesPostgres(t *testing.T) {
	c := pgtest.Connect(t, pgtest.DSN(t))
	r := rand.New(rand.NewPCG(3, 5))
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-4, 9.999e-5, 1e-5, 123456789012345, 1e15, 1e16,
		99999999999999.9, 0.30000000000000004, 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 1.5e300, -2.5e-300}
	for range 2000 {
		vals = append(vals, math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(r.IntN(2046)+1)<<52))
		vals = append(vals, float64(r.Float32())*math.Pow(10, float64(r.IntN(40)-20)))
	}
	texts := make([]string, len(vals))
	for i, v := range vals {
		texts[i] = planner.FormatFloat8(v)
	}
	rows, err := c.Query(context.Background(), `SELECT x::text FROM unnest($1::float8[]) WITH ORDINALITY u(x, i) ORDER BY i`, vals)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var pg string
		if err := rows.Scan(&pg); err != nil {
			t.Fatal(err)
		}
		if pg != texts[i] && (math.Abs(vals[i]) < planner.MaxFastDistance || math.IsInf(vals[i], 0)) {
			t.Errorf("%v: Postgres prints %q, vecgate %q", vals[i], pg, texts[i])
		}
		i++
	}
	if rows.Err() != nil || i != len(vals) {
		t.Fatalf("%d of %d rows: %v", i, len(vals), rows.Err())
	}
}

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
