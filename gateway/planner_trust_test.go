package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// Tests of the planner's correctness against Postgres (issue 11): every statement runs through
// vecgate and directly, in the same session state, and the answers — rows, errors, side
// effects — must be the same; each test also checks which path vecgate took.

// tableGateway creates a database, runs setup in it, starts an intercepting vecgate in front of
// it and waits until the live indexes hold rows rows.
func tableGateway(t *testing.T, rows int, setup ...string) (dsn string, g *Gateway) {
	t.Helper()
	dsn = pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	for _, q := range setup {
		if _, err := c.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	g = startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
	waitIndexed(t, g, rows)
	return dsn, g
}

// answer runs sql and renders what the client sees: every row's values, or the error with all
// the fields Postgres fills in for a client (SQLSTATE, message, detail, hint, position).
func answer(t *testing.T, c *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) string {
	t.Helper()
	rows, err := c.Query(context.Background(), sql, append([]any{mode}, args...)...)
	var b strings.Builder
	if err == nil {
		for rows.Next() {
			vals, verr := rows.Values()
			if verr != nil {
				t.Fatalf("%s: %v", sql, verr)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
		err = rows.Err()
	}
	if err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: %v", sql, err)
		}
		fmt.Fprintf(&b, "ERROR %s: %s | detail %q | hint %q | position %d", pe.Code, pe.Message, pe.Detail, pe.Hint, pe.Position)
	}
	return b.String()
}

// forwardedBecause runs EXPLAIN of sql through vecgate and fails unless vecgate says it forwards
// the statement for reason.
func forwardedBecause(t *testing.T, via *pgx.Conn, sql, reason string) {
	t.Helper()
	plan := simpleLines(t, via, "EXPLAIN "+sql)
	if !strings.HasPrefix(plan, "vecgate: forwarded (") || !strings.Contains(strings.SplitN(plan, "\n", 2)[0], reason) {
		t.Fatalf("EXPLAIN through vecgate does not say it forwards because of %q:\n%s", reason, plan)
	}
}

// TestTieBreakKeysForwarded: ORDER BY emb <-> q, id LIMIT 5 over 40 identical vectors must return
// ids 1–5 (and 40–36 with id DESC), which candidates chosen by distance alone cannot promise:
// statements with keys after the distance are forwarded. A single key still is intercepted (any
// five of the tied rows is a correct answer).
func TestTieBreakKeysForwarded(t *testing.T) {
	dsn, g := tableGateway(t, 60,
		`CREATE TABLE ties (id int PRIMARY KEY, emb vector(3))`,
		`INSERT INTO ties SELECT g, CASE WHEN g <= 40 THEN '[1,1,1]' ELSE ('[' || g || ',0,0]') END::vector FROM generate_series(1, 60) g`,
		`CREATE INDEX ON ties USING hnsw (emb vector_l2_ops)`)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	ctx := context.Background()
	for _, c := range []*pgx.Conn{via, direct} { // Postgres' exact answer on both sides
		if _, err := c.Exec(ctx, "SET enable_indexscan = off", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`SELECT id, emb <-> '[1,1,1]' AS d FROM ties ORDER BY emb <-> '[1,1,1]', id LIMIT 5`,
		`SELECT id, emb <-> '[1,1,1]' AS d FROM ties ORDER BY emb <-> '[1,1,1]', id DESC LIMIT 5`,
		`SELECT id FROM ties ORDER BY emb <-> '[1,1,1]', id LIMIT 5 OFFSET 3`,
		`SELECT id, emb <-> $1 AS d FROM ties ORDER BY d, id DESC LIMIT 5`,
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			var args []any
			if strings.Contains(q, "$1") {
				args = []any{"[1,1,1]"}
			}
			before := g.Stats().Intercepted
			got, want := answer(t, via, mode, q, args...), answer(t, direct, mode, q, args...)
			if got != want {
				t.Fatalf("%s (%v):\nthrough vecgate:\n%sdirectly:\n%s", q, mode, got, want)
			}
			if n := g.Stats().Intercepted - before; n != 0 {
				t.Fatalf("%s (%v): intercepted", q, mode)
			}
		}
		forwardedBecause(t, via, strings.ReplaceAll(q, "$1", "'[1,1,1]'"), "ORDER BY keys after the distance")
	}
	// One key: intercepted, five of the tied rows at distance 0.
	before := g.Stats()
	got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, `SELECT id, emb <-> '[1,1,1]' FROM ties ORDER BY emb <-> '[1,1,1]' LIMIT 5`)
	if after := g.Stats(); len(got) != 5 || after.Intercepted != before.Intercepted+1 {
		t.Fatalf("single key: %v, counters moved: %v", got, statsMoved(before, after))
	}
	for _, r := range got {
		if r.id > 40 || r.d != 0 {
			t.Fatalf("single key: row %v is not one of the tied rows", r)
		}
	}
}

// TestHalfvec: a halfvec column's twin holds its halves widened to float32 (exact), and a query
// vector — untyped literal or parameter, or cast to halfvec — is rounded to halves as halfvec_in
// rounds it, so vecgate answers with Postgres' rows and order (before the rounding, a float32
// query was ≈1e-4 off and swapped rows); distances are Postgres' (the rewrite), key-only answers
// come from memory. A vector column queried with a halfvec vector (Postgres casts every row to
// halfvec) and a halfvec column queried with a vector are forwarded, as is a query vector past
// the halfvec range (Postgres' error).
func TestHalfvec(t *testing.T) {
	dsn, g := tableGateway(t, 2400,
		`CREATE TABLE hv (id int PRIMARY KEY, h halfvec(3), v vector(3))`,
		`INSERT INTO hv SELECT g, x::halfvec(3), x FROM (SELECT setseed(0.5)) s, generate_series(1, 800) g,
			LATERAL (SELECT ARRAY[random() + g * 0, random(), random()]::vector(3) AS x) r`,
		`CREATE INDEX ON hv USING hnsw (h halfvec_l2_ops)`,
		`CREATE INDEX ON hv USING hnsw (h halfvec_cosine_ops)`,
		`CREATE INDEX ON hv USING hnsw (v vector_l2_ops)`,
		// Rows a few halves apart: rounding the query moves it across their bisectors.
		`CREATE TABLE hc (id int PRIMARY KEY, h halfvec(3))`,
		`INSERT INTO hc SELECT g, ARRAY[0.5 + random() * 0.05, 0.5 + random() * 0.05, 0.5 + random() * 0.05]::halfvec(3)
			FROM (SELECT setseed(0.25)) s, generate_series(1, 800) g`,
		`CREATE INDEX ON hc USING hnsw (h halfvec_l2_ops)`)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	// Postgres' exact answer (pgvector's own HNSW scan misses rows now and then).
	if _, err := direct.Exec(context.Background(), "SET enable_indexscan = off; SET enable_bitmapscan = off", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 5))
	vec := func() string {
		return fmt.Sprintf("[%.7f,%.7f,%.7f]", rng.Float64(), rng.Float64(), rng.Float64())
	}
	near := func() string { // inside hc's cluster
		return fmt.Sprintf("[%.7f,%.7f,%.7f]", 0.5+rng.Float64()*0.05, 0.5+rng.Float64()*0.05, 0.5+rng.Float64()*0.05)
	}
	for _, c := range []struct {
		q                 string
		intercepted, fast bool
	}{
		{`SELECT id, h <-> $1 AS d FROM hv ORDER BY h <-> $1 LIMIT 5`, true, false},
		{`SELECT id, h <=> $1 AS d FROM hv ORDER BY h <=> $1 LIMIT 5`, true, false},
		{`SELECT id, h <-> $1::halfvec(3) AS d FROM hv ORDER BY h <-> $1::halfvec(3) LIMIT 7 OFFSET 2`, true, false},
		{`SELECT id FROM hv ORDER BY h <-> $1 LIMIT 5`, true, true},
		{`SELECT id, h <-> $1 AS d FROM hc ORDER BY h <-> $1 LIMIT 8`, true, false},
		{`SELECT id, v <-> $1::halfvec AS d FROM hv ORDER BY v <-> $1::halfvec LIMIT 5`, false, false},
		{`SELECT id, v <-> $1::halfvec(3) AS d FROM hv ORDER BY v <-> $1::halfvec(3) LIMIT 5`, false, false},
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			before := g.Stats()
			for range 10 {
				v := vec()
				if strings.Contains(c.q, "hc") {
					v = near()
				}
				got, want := answer(t, via, mode, c.q, v), answer(t, direct, mode, c.q, v)
				if strings.Contains(c.q, "hc") { // a query on the halves' grid: ties are common
					got, want = tiesInOrder(got), tiesInOrder(want)
				}
				if got != want {
					t.Fatalf("%s %s (%v):\nthrough vecgate:\n%sdirectly:\n%s", c.q, v, mode, got, want)
				}
			}
			after := g.Stats()
			if n := after.Intercepted - before.Intercepted; (n == 10) != c.intercepted || n != 0 && n != 10 {
				t.Errorf("%s (%v): %d of 10 intercepted, want all: %v", c.q, mode, n, c.intercepted)
			}
			if n := after.FastPath - before.FastPath; (n > 0) != c.fast {
				t.Errorf("%s (%v): %d of 10 from memory, want some: %v", c.q, mode, n, c.fast)
			}
		}
	}
	// Key-only answers from memory on the halves' grid, where the query's rounding decides the
	// order: vecgate's rows, by Postgres' distances, must be in order and as near as Postgres'
	// own (ties aside).
	before := g.Stats().FastPath
	for range 20 {
		v := near()
		ids := func(c *pgx.Conn) []int32 {
			rows, err := c.Query(context.Background(), `SELECT id FROM hc ORDER BY h <-> $1 LIMIT 8`, pgx.QueryExecModeSimpleProtocol, v)
			if err != nil {
				t.Fatal(err)
			}
			out, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		dists := func(ids []int32) []float64 {
			out := make([]float64, len(ids))
			for i, id := range ids {
				if err := direct.QueryRow(context.Background(), `SELECT h <-> $1 FROM hc WHERE id = $2`, pgx.QueryExecModeSimpleProtocol, v, id).Scan(&out[i]); err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		got, want := dists(ids(via)), dists(ids(direct))
		if !slices.IsSorted(got) || !slices.Equal(got, want) {
			t.Fatalf("%s: vecgate's rows at %v, Postgres' at %v", v, got, want)
		}
	}
	if g.Stats().FastPath == before {
		t.Error("no key-only answer from memory on hc")
	}
	// Past the halfvec range: Postgres' error, as directly.
	for _, v := range []string{"[70000,0,0]", "[1e30,1,1]"} {
		q := `SELECT id FROM hv ORDER BY h <-> '` + v + `' LIMIT 3`
		_, errVia := via.Exec(context.Background(), q, pgx.QueryExecModeSimpleProtocol)
		_, errDirect := direct.Exec(context.Background(), q, pgx.QueryExecModeSimpleProtocol)
		if errVia == nil || errDirect == nil || errVia.Error() != errDirect.Error() {
			t.Errorf("%s: through vecgate %v, directly %v", v, errVia, errDirect)
		}
	}
}

// TestSideEffectsNotRepeated: an intercepted statement runs once per widening round, so a
// statement that calls nextval (or any function vecgate does not know to be free of side
// effects) is forwarded: the sequence advances exactly as it does when Postgres alone runs the
// statement (on a twin sequence).
func TestSideEffectsNotRepeated(t *testing.T) {
	f := newFixture(t, 3000)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	for _, q := range []string{"CREATE SEQUENCE s_via", "CREATE SEQUENCE s_direct",
		`CREATE FUNCTION touch(n bigint) RETURNS bigint LANGUAGE sql AS 'SELECT nextval(''s_via'') * 0 + n'`} {
		if _, err := direct.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*pgx.Conn{via, direct} {
		if _, err := c.Exec(ctx, "SET enable_indexscan = off", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	// id % 3 = 0 passes about a third of the rows: the first round's 10 candidates hold fewer
	// than 5 of them as a rule, so an intercepted statement would widen.
	const q = `SELECT id, nextval('%s') AS n FROM items WHERE id %% 3 = 0 ORDER BY emb <-> '%s' LIMIT 5`
	before := f.g.Stats().Intercepted
	for range 8 {
		v := f.vector()
		got, want := answer(t, via, pgx.QueryExecModeSimpleProtocol, fmt.Sprintf(q, "s_via", v)),
			answer(t, direct, pgx.QueryExecModeSimpleProtocol, fmt.Sprintf(q, "s_direct", v))
		if got != want {
			t.Fatalf("through vecgate:\n%sdirectly:\n%s", got, want)
		}
	}
	forwardedBecause(t, via, fmt.Sprintf(q, "s_via", f.vector()), "function nextval")
	seq := func(name string) (n int64) {
		if err := direct.QueryRow(ctx, "SELECT last_value FROM "+name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if a, b := seq("s_via"), seq("s_direct"); a != b || a != 40 {
		t.Fatalf("sequence through vecgate at %d, directly at %d (8 statements of 5 rows: 40)", a, b)
	}
	// A user's function (here one that advances s_via) in the WHERE: forwarded too.
	ft := `SELECT id FROM items WHERE touch(id) % 3 = 0 ORDER BY emb <-> '` + f.vector() + `' LIMIT 5`
	forwardedBecause(t, via, ft, "function touch")
	answer(t, via, pgx.QueryExecModeSimpleProtocol, ft)
	if n := f.g.Stats().Intercepted - before; n != 0 {
		t.Fatalf("%d statements with side effects intercepted", n)
	}
	// Built-in functions without side effects, and pgvector's, are still intercepted.
	fn := `SELECT id, upper(title), round(l2_distance(emb, $1)::numeric, 3), vector_dims(emb) FROM items
		WHERE length(title) > 3 ORDER BY emb <-> $1 LIMIT 5`
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		before := f.g.Stats().Intercepted
		v := f.vector()
		if got, want := answer(t, via, mode, fn, v), answer(t, direct, mode, fn, v); got != want {
			t.Fatalf("%s (%v):\nthrough vecgate:\n%sdirectly:\n%s", fn, mode, got, want)
		}
		if f.g.Stats().Intercepted != before+1 {
			t.Fatalf("%s (%v) was not intercepted", fn, mode)
		}
	}
}

// TestSafeNameUserFunction: the list of functions free of side effects is of names, and an
// unqualified call resolves through the session's search_path: public.lower(bigint), which
// pg_catalog lacks, answers lower(id) (the reviewer's function calls nextval, which each widening
// round would run again). The session check sees a function of a listed name outside pg_catalog
// and pgvector's extension on the path and forwards: the sequence advances as it does when
// Postgres alone runs the statement, with the same rows. Without such a function, lower(title)
// is intercepted.
func TestSafeNameUserFunction(t *testing.T) {
	f := newFixture(t, 3000)
	direct := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	// id % 3 = 0 passes about a third of the rows: the first round's 10 candidates hold fewer
	// than 5 of them as a rule, so an intercepted statement widens.
	const q = `SELECT id, lower(%s) AS l FROM items WHERE id %% 3 = 0 ORDER BY emb <-> '%s' LIMIT 5`
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}

	via := pgtest.Connect(t, f.via)
	for _, mode := range modes {
		before := f.g.Stats().Intercepted
		v := f.vector()
		sql := fmt.Sprintf(q, "title", v)
		if got, want := answer(t, via, mode, sql), answer(t, direct, mode, sql); got != want {
			t.Fatalf("%s (%v):\nthrough vecgate:\n%sdirectly:\n%s", sql, mode, got, want)
		}
		if f.g.Stats().Intercepted != before+1 {
			t.Fatalf("%s (%v): not intercepted", sql, mode)
		}
	}

	for _, s := range []string{"CREATE SEQUENCE rv_seq",
		`CREATE FUNCTION public.lower(i bigint) RETURNS bigint LANGUAGE plpgsql VOLATILE
			AS $$ BEGIN PERFORM nextval('public.rv_seq'); RETURN i; END $$`} {
		if _, err := direct.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// A new session: the first one's check (made before the function existed) is its own.
	via = pgtest.Connect(t, f.via)
	seq := func(c *pgx.Conn, mode pgx.QueryExecMode, sql string) (string, string) {
		t.Helper()
		if _, err := direct.Exec(ctx, "SELECT setval('rv_seq', 1, false)"); err != nil {
			t.Fatal(err)
		}
		rows := answer(t, c, mode, sql)
		var last int64
		var called bool
		if err := direct.QueryRow(ctx, "SELECT last_value, is_called FROM rv_seq").Scan(&last, &called); err != nil {
			t.Fatal(err)
		}
		return rows, fmt.Sprintf("last_value %d is_called %v", last, called)
	}
	for _, mode := range modes {
		intercepted, checked := f.g.Stats().Intercepted, f.g.Stats().Forwarded["table_check"]
		for range 4 {
			sql := fmt.Sprintf(q, "id", f.vector())
			gotRows, gotSeq := seq(via, mode, sql)
			wantRows, wantSeq := seq(direct, mode, sql)
			if gotRows != wantRows || gotSeq != wantSeq {
				t.Fatalf("%s (%v):\nthrough vecgate (%s):\n%sdirectly (%s):\n%s", sql, mode, gotSeq, gotRows, wantSeq, wantRows)
			}
		}
		if n := f.g.Stats().Intercepted - intercepted; n != 0 {
			t.Fatalf("%v: %d of 4 statements calling public.lower intercepted", mode, n)
		}
		if n := f.g.Stats().Forwarded["table_check"] - checked; n != 4 {
			t.Fatalf("%v: %d of 4 statements forwarded by the session check", mode, n)
		}
	}
}

// TestCreateIndexErrorsAsPostgres: a CREATE INDEX whose pgvector options Postgres rejects gets
// Postgres' own error through vecgate — SQLSTATE, message, detail and hint — whether vecgate
// forwards it as written, forwards it without its own options (mirror), or judges it alone
// (offload, which Postgres never sees: compared with Postgres' answer to the same statement
// without vecgate's options). Nothing is recorded for a refused index.
func TestCreateIndexErrorsAsPostgres(t *testing.T) {
	f := newFixture(t, 200)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	simple := pgx.QueryExecModeSimpleProtocol
	for _, c := range []struct{ method, opts, own string }{
		{"ivfflat", "lists = 0", ""},
		{"ivfflat", "lists = 40000", ""},
		{"ivfflat", "lists = 'abc'", ""},
		{"hnsw", "m = 1", ""},
		{"hnsw", "m", ""},
		{"hnsw", "m = 40", ""},
		{"hnsw", "ef_construction = 1001", ""},
		{"hnsw", "foo = 1", ""},
		{"ivfflat", "lists = 0", "quantizer = sq8"},
		{"hnsw", "m = 101", "oversample = 3"},
		{"hnsw", "m = 16, ef_construction = 20", "mode = mirror, quantizer = sq8"},
		{"ivfflat", "lists = 0", "mode = offload"},
		{"ivfflat", "lists = 99999999999", "mode = offload"},
		{"ivfflat", "lists = '1e-400'", "mode = offload"},
		{"ivfflat", "lists = ' 12abc'", "mode = offload"},
		{"hnsw", "m = -3", "mode = offload"},
		{"hnsw", "m = 'X'", "mode = offload"},
		{"hnsw", "m", "mode = offload"},
		{"hnsw", "m = 40", "mode = offload"},
		{"hnsw", "m = 8, ef_construction = 15", "mode = offload"},
		{"hnsw", "m = 8, m = 9", "mode = offload"},
		{"hnsw", "lists = 4", "mode = offload"},
		{"hnsw", `"M" = 4`, "mode = offload"},
		{"hnsw", "ef_construction = 3", "mode = offload, quantizer = sq8"},
	} {
		opclass := "vector_l2_ops"
		sql := func(opts ...string) string {
			var parts []string
			for _, o := range opts {
				if o != "" {
					parts = append(parts, o)
				}
			}
			return fmt.Sprintf(`CREATE INDEX bad ON items USING %s (emb %s) WITH (%s)`, c.method, opclass, strings.Join(parts, ", "))
		}
		got := answer(t, via, simple, sql(c.opts, c.own))
		want := answer(t, direct, simple, sql(c.opts))
		if got != want || !strings.HasPrefix(want, "ERROR 22023") {
			t.Errorf("WITH (%s) + (%s):\nthrough vecgate: %s\ndirectly:        %s", c.opts, c.own, got, want)
		}
	}
	var n int
	if err := direct.QueryRow(context.Background(), `SELECT count(*) FROM vecgate.indexes`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d refused indexes recorded (%v)", n, err)
	}
	// Values Postgres accepts (rounded, hexadecimal, padded) are accepted offloaded too.
	for _, opts := range []string{"m = 2.5", "m = ' 0x8 ', ef_construction = 1.6e1"} {
		if got := answer(t, via, simple, `CREATE INDEX ok_off ON items USING hnsw (emb vector_l2_ops) WITH (mode = offload, `+opts+`)`); got != "" {
			t.Fatalf("offload WITH (%s): %s", opts, got)
		}
		if got := answer(t, direct, simple, `CREATE INDEX ok_pg ON items USING hnsw (emb vector_l2_ops) WITH (`+opts+`)`); got != "" {
			t.Fatalf("Postgres WITH (%s): %s", opts, got)
		}
		for _, q := range []struct {
			c   *pgx.Conn
			sql string
		}{{via, "DROP INDEX ok_off"}, {direct, "DROP INDEX ok_pg"}} {
			if _, err := q.c.Exec(context.Background(), q.sql, simple); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLimitOrderEdgesAsPostgres: the edges of the top-k shape — DESC, NULLS FIRST, LIMIT ALL / 0 /
// NULL / negative, OFFSET negative or past the table, LIMIT past the table — through vecgate and
// directly (exact scans on both sides), simple and extended protocol: the same rows and errors,
// and each on the path vecgate means to take. The table has rows whose vector is NULL: an index
// holds no such rows, so where Postgres' exact scan appends them (NULLS LAST, after every other
// row: a LIMIT + OFFSET past the rows with vectors), vecgate's short answer is not complete and
// the statement goes to Postgres, which returns them.
func TestLimitOrderEdgesAsPostgres(t *testing.T) {
	const rows = 100
	dsn, g := tableGateway(t, rows,
		`CREATE TABLE edge (id int PRIMARY KEY, emb vector(3))`,
		`INSERT INTO edge SELECT g, ARRAY[g, g % 7, 1]::vector FROM generate_series(1, 100) g`,
		`INSERT INTO edge SELECT g, NULL FROM generate_series(101, 105) g`,
		`CREATE INDEX ON edge USING hnsw (emb vector_l2_ops)`)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	for _, c := range []*pgx.Conn{via, direct} {
		if _, err := c.Exec(context.Background(), "SET enable_indexscan = off", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	const sel = `SELECT id, emb <-> '[50.13,3.37,0.71]' AS d FROM edge `
	const by = `ORDER BY emb <-> '[50.13,3.37,0.71]'`
	for _, c := range []struct {
		name, sql string
		args      []any
		intercept bool
	}{
		{name: "limit", sql: sel + by + ` LIMIT 5`, intercept: true},
		{name: "offset", sql: sel + by + ` LIMIT 5 OFFSET 7`, intercept: true},
		{name: "fetch first", sql: sel + by + ` FETCH FIRST 3 ROWS ONLY`, intercept: true},
		{name: "limit parameter", sql: sel + by + ` LIMIT $1`, args: []any{4}, intercept: true},
		{name: "desc", sql: sel + by + ` DESC LIMIT 5`},
		{name: "desc nulls last", sql: sel + by + ` DESC NULLS LAST LIMIT 5`},
		{name: "nulls first", sql: sel + by + ` NULLS FIRST LIMIT 5`},
		{name: "nulls last", sql: sel + by + ` NULLS LAST LIMIT 5`},
		{name: "limit all", sql: sel + by + ` LIMIT ALL`},
		{name: "limit 0", sql: sel + by + ` LIMIT 0`},
		{name: "limit null", sql: sel + by + ` LIMIT NULL`},
		{name: "limit null parameter", sql: sel + by + ` LIMIT $1`, args: []any{nil}},
		{name: "limit negative", sql: sel + by + ` LIMIT -1`},
		{name: "offset negative", sql: sel + by + ` LIMIT 5 OFFSET -1`},
		{name: "offset null", sql: sel + by + ` LIMIT 5 OFFSET NULL`},
		{name: "limit past int4", sql: sel + by + ` LIMIT 3000000000`},
		{name: "limit fraction", sql: sel + by + ` LIMIT 2.5`},
		{name: "offset past the table", sql: sel + by + ` LIMIT 5 OFFSET 200`},
		{name: "offset into the nulls", sql: sel + by + ` LIMIT 5 OFFSET 98`},
		{name: "limit past the table", sql: sel + by + ` LIMIT 1000`},
		{name: "limit past the table, where", sql: sel + `WHERE id > 90 ` + by + ` LIMIT 50`},
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			before := g.Stats().Intercepted
			got, want := answer(t, via, mode, c.sql, c.args...), answer(t, direct, mode, c.sql, c.args...)
			if got != want {
				t.Fatalf("%s (%v): %s\nthrough vecgate:\n%sdirectly:\n%s", c.name, mode, c.sql, got, want)
			}
			if n := g.Stats().Intercepted - before; n != map[bool]int64{true: 1, false: 0}[c.intercept] {
				t.Fatalf("%s (%v): intercepted %d times, want intercepted %v", c.name, mode, n, c.intercept)
			}
		}
	}
}

// TestFromColumnAliases: `FROM items AS t(category, id)` renames the table's columns, so `id`
// in the statement is the category column: forwarded (vecgate used the twin's key and vector for
// the renamed names and returned other rows; found by review).
func TestFromColumnAliases(t *testing.T) {
	f := newFixture(t, 300)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	execAll(t, []*pgx.Conn{direct}, "SET enable_indexscan = off")
	for _, sql := range []string{
		`SELECT id FROM items AS t(category, id) ORDER BY emb <-> $1::vector LIMIT 3`,
		`SELECT t.id, title FROM items t(category, id, rare, title) ORDER BY emb <-> $1::vector LIMIT 4`,
	} {
		intercepted := f.g.Stats().Intercepted
		v := f.vector()
		if got, want := rawExtended(t, via, "", sql, v), rawExtended(t, direct, "", sql, v); got != want {
			t.Errorf("%s:\nthrough vecgate:\n%s\ndirectly:\n%s", sql, got, want)
		}
		if f.g.Stats().Intercepted != intercepted {
			t.Errorf("%s: intercepted", sql)
		}
	}
}

// tiesInOrder normalises an answer of "id distance" lines: rows at one distance in key order,
// and rows tied with the last one left out (which of them make the LIMIT is Postgres' choice).
func tiesInOrder(a string) string {
	lines := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	dist := func(l string) string { _, d, _ := strings.Cut(l, " "); return d }
	last := dist(lines[len(lines)-1])
	var kept []string
	for _, l := range lines {
		if dist(l) != last {
			kept = append(kept, l)
		}
	}
	slices.SortStableFunc(kept, func(x, y string) int {
		dx, _ := strconv.ParseFloat(dist(x), 64)
		dy, _ := strconv.ParseFloat(dist(y), 64)
		return cmp.Or(cmp.Compare(dx, dy), strings.Compare(x, y))
	})
	return strings.Join(kept, "\n") + fmt.Sprintf("\n(%d rows, the last at %s)\n", len(lines), last)
}
