// Tests that vecgate answers a statement only for the session identity its twins belong to: the
// upstream database, the indexed relation (by OID), pgvector's operator as the session resolves
// it, the session's client_encoding and extra_float_digits — and otherwise forwards, so that what
// the client gets is what Postgres answers directly in the same session state.
package gateway

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/intercept"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/planner"
)

// rawAnswer runs sql with the simple protocol and returns Postgres' text answer byte for byte:
// one line per row, columns separated by |, or "ERROR <sqlstate>".
func rawAnswer(t *testing.T, c *pgx.Conn, sql string) string {
	t.Helper()
	res, err := c.PgConn().Exec(context.Background(), sql).ReadAll()
	return rawResult(t, res, err)
}

func rawResult(t *testing.T, res []*pgconn.Result, err error) string {
	t.Helper()
	if err != nil {
		if code := errCode(err); len(code) == 5 {
			return "ERROR " + code
		}
		t.Fatalf("query: %v", err)
	}
	var b strings.Builder
	for _, r := range res {
		for _, row := range r.Rows {
			for i, v := range row {
				if i > 0 {
					b.WriteByte('|')
				}
				b.Write(v)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// rawExtended runs sql with one parameter through the extended protocol (an unnamed statement
// when name is "", else the prepared statement name, prepared on first use) and returns the
// answer as rawAnswer does.
func rawExtended(t *testing.T, c *pgx.Conn, name, sql string, param string) string {
	t.Helper()
	ctx := context.Background()
	pc := c.PgConn()
	var rr *pgconn.ResultReader
	if name == "" {
		rr = pc.ExecParams(ctx, sql, [][]byte{[]byte(param)}, nil, nil, nil)
	} else {
		rr = pc.ExecPrepared(ctx, name, [][]byte{[]byte(param)}, nil, nil)
	}
	r := rr.Read()
	return rawResult(t, []*pgconn.Result{r}, r.Err)
}

func mustExec(t *testing.T, c *pgx.Conn, sqls ...string) {
	t.Helper()
	for _, q := range sqls {
		if _, err := c.Exec(context.Background(), q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func shapeWith(v string) string {
	return `SELECT id, emb <-> '` + v + `' AS d FROM items ORDER BY emb <-> '` + v + `' LIMIT 5`
}

func rewriteWith(v string) string {
	return `SELECT id, title, emb <-> '` + v + `' AS d FROM items ORDER BY emb <-> '` + v + `' LIMIT 5`
}

// TestOtherDatabase: database B, a copy of the database vecgate follows (same table, same
// relation OID) whose rows then changed, is answered by Postgres for B's clients — never from
// A's twins — and the session check itself tells the two databases apart by OID.
func TestOtherDatabase(t *testing.T) {
	ctx := context.Background()
	dsnA := pgtest.NewDB(t)
	c, err := pgx.Connect(ctx, dsnA)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(itemsTable(500), `CREATE INDEX items_emb_hnsw ON items USING hnsw (emb vector_l2_ops)`) {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	c.Close(ctx)
	nameA := dsnA[strings.LastIndex(dsnA, "/")+1:]
	nameA = nameA[:strings.IndexByte(nameA, '?')]
	nameB := fmt.Sprintf("vgt_other_%d", rand.Uint32())
	admin := pgtest.Connect(t, pgtest.DSN(t))
	mustExec(t, admin, "CREATE DATABASE "+nameB+" TEMPLATE "+pgx.Identifier{nameA}.Sanitize())
	t.Cleanup(func() {
		c := pgtest.Connect(t, pgtest.DSN(t))
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+nameB+" WITH (FORCE)")
	})
	dsnB := pgtest.WithDatabase(t, dsnA, nameB)
	directB := pgtest.Connect(t, dsnB)
	// B's rows: the same keys, other vectors (a mirror image of A's).
	mustExec(t, directB, `UPDATE items SET emb = (SELECT array_agg(6 - x)::vector(16) FROM unnest(emb::real[]) x)`)
	var relA, relB uint32
	if err := pgtest.Connect(t, dsnA).QueryRow(ctx, "SELECT 'items'::regclass::oid").Scan(&relA); err != nil {
		t.Fatal(err)
	}
	if err := directB.QueryRow(ctx, "SELECT 'items'::regclass::oid").Scan(&relB); err != nil {
		t.Fatal(err)
	}
	if relA != relB {
		t.Fatalf("the copy's table has OID %d, the original's %d: the test needs them equal", relB, relA)
	}

	g := startTestGateway(t, dsnA, Config{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
	waitIndexed(t, g, 500)
	f := &fixture{dsn: dsnA, via: viaDSN(dsnA, g), g: g, rng: rand.New(rand.NewPCG(3, 5))}
	viaA, viaB := pgtest.Connect(t, f.via), pgtest.Connect(t, viaDSN(dsnB, g))
	directA := pgtest.Connect(t, dsnA)
	mustExec(t, viaA, "SET vecgate.exact_distances = on") // compared byte for byte: Postgres prints the distances
	for _, c := range []*pgx.Conn{directA, directB} {
		mustExec(t, c, "SET enable_indexscan = off")
	}

	// A's clients are answered from A's twin (the test's own control).
	before := g.Stats().Intercepted
	for range 3 {
		v := f.vector()
		if got, want := rawAnswer(t, viaA, rewriteWith(v)), rawAnswer(t, directA, rewriteWith(v)); got != want {
			t.Errorf("database A through vecgate:\n%s\ndirectly:\n%s", got, want)
		}
	}
	if g.Stats().Intercepted == before {
		t.Fatal("nothing intercepted for database A: the test proves nothing")
	}

	// B's clients get B's rows, from Postgres.
	before = g.Stats().Intercepted
	for i := range 6 {
		v := f.vector()
		sql := shapeWith(v)
		if i%2 == 1 {
			sql = rewriteWith(v)
		}
		got, want := rawAnswer(t, viaB, sql), rawAnswer(t, directB, sql)
		if got != want {
			t.Errorf("database B through vecgate:\n%s\ndirectly:\n%s", got, want)
		}
		got = rawExtended(t, viaB, "", `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`, v)
		if want := rawExtended(t, directB, "", `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`, v); got != want {
			t.Errorf("database B through vecgate (extended):\n%s\ndirectly:\n%s", got, want)
		}
	}
	if n := g.Stats().Intercepted - before; n != 0 {
		t.Errorf("%d statements of database B intercepted", n)
	}

	// The session check is the authority: it tells B from A by the database's OID alone.
	dbOID, _, err := upstreamDatabase(ctx, dsnA)
	if err != nil {
		t.Fatal(err)
	}
	q, err := planner.New(intercept.Searcher(g.set, dbOID)).PlanSimple(shapeWith(f.vector()), planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *pgx.Conn
		want string
	}{{directA, "t|t\n"}, {directB, "f|f\n"}} {
		if got := rawAnswer(t, tc.c, q.TableCheck()); got != tc.want {
			t.Errorf("table check in %s: %q, want %q", tc.c.Config().Database, got, tc.want)
		}
	}
}

// TestTableReplaced: another session replaces the indexed table — a rename swap, then DROP and
// CREATE — with other rows. The very next statement through vecgate returns the new table's rows,
// as Postgres does: the rewrite's guard compares the name with the indexed relation's OID (an
// open session, whose cached check still holds), and a new session's check (the fast path)
// requires that OID too. The twin itself is not retired here (replication's part).
func TestTableReplacedOID(t *testing.T) {
	f := newFixture(t, 500)
	admin := pgtest.Connect(t, f.dsn)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	mustExec(t, direct, "SET enable_indexscan = off")
	// Warm the open session: its check is cached, descriptions known, answers from memory.
	fast := f.g.Stats().FastPath
	for range 3 {
		v := f.vector()
		rawAnswer(t, via, rewriteWith(v))
		rawAnswer(t, via, shapeWith(v))
	}
	fresh, open := pgtest.Connect(t, f.via), f.g.Stats().FastPath
	idDists(t, fresh, pgx.QueryExecModeCacheStatement, fastShape, f.vector())
	if open == fast || f.g.Stats().FastPath == open {
		t.Fatal("no answer from memory before the swap (open and new session): the test proves nothing")
	}
	// A new table with the same keys and other vectors (mirrored), built like items.
	newItems := func(name string) []string {
		return []string{
			"CREATE TABLE " + name + " (LIKE items INCLUDING ALL)",
			"INSERT INTO " + name + " SELECT id, category, rare, 'new ' || id, (SELECT array_agg(6 - x)::vector(16) FROM unnest(emb::real[]) x) FROM items",
		}
	}
	check := func(step string) {
		t.Helper()
		for range 3 {
			v := f.vector()
			got, want := rawAnswer(t, via, rewriteWith(v)), rawAnswer(t, direct, rewriteWith(v))
			if got != want {
				t.Errorf("%s, open session (rewrite):\nthrough vecgate:\n%s\ndirectly:\n%s", step, got, want)
			}
			fresh := pgtest.Connect(t, f.via)
			// pgx's cached statements bind without a Describe: answered from memory at once
			// when the (fresh) check allows it.
			if got, want := idDists(t, fresh, pgx.QueryExecModeCacheStatement, fastShape, v),
				idDists(t, direct, pgx.QueryExecModeSimpleProtocol, fastShape, v); !sameRows(got, want) {
				t.Errorf("%s, new session (prepared):\nthrough vecgate: %v\ndirectly: %v", step, got, want)
			}
			for _, sql := range []string{shapeWith(v), shapeWith(v), rewriteWith(v)} {
				got, want := rawAnswer(t, fresh, sql), rawAnswer(t, direct, sql)
				if got != want {
					t.Errorf("%s, new session:\nthrough vecgate:\n%s\ndirectly:\n%s", step, got, want)
				}
			}
			fresh.Close(context.Background())
		}
		// The event trigger makes replication reload the new table's twin within moments, so
		// statements may be intercepted again (from the new twin) during these rounds: the
		// answers' equality with Postgres', not a counter, is what this test asserts.
	}
	mustExec(t, admin, newItems("items_new")...)
	mustExec(t, admin, "BEGIN", "ALTER TABLE items RENAME TO items_old", "ALTER TABLE items_new RENAME TO items", "COMMIT")
	check("after a rename swap")
	mustExec(t, admin, "DROP TABLE items", "ALTER TABLE items_old RENAME TO items_keep")
	mustExec(t, admin, strings.Replace(newItems("items")[0], "LIKE items", "LIKE items_keep", 1),
		strings.Replace(strings.Replace(newItems("items")[1], "'new '", "'newer '", 1), "FROM items", "FROM items_keep", 1))
	check("after DROP and CREATE")
}

// TestClientEncoding: a LATIN1 session (SET client_encoding) gets, through vecgate, exactly
// what Postgres sends it — keys converted to LATIN1, 22P05 for a key LATIN1 cannot hold, a
// LATIN1 literal in the statement read as LATIN1 — because vecgate forwards while the encoding
// is not UTF8; back in UTF8 it intercepts again. A statement prepared while LATIN1 is not
// intercepted after the switch back (its text was LATIN1).
func TestClientEncoding(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	// words: text keys, some not ASCII, one (Ω) not in LATIN1; vectors 16 × i, so the rows
	// nearest a vector 16 × x are those whose i is nearest x.
	names := map[int]string{10: "café", 11: "Ärger", 20: "naïve", 30: "Ωmega", 31: "cafÃ©"}
	mustExec(t, c, `CREATE TABLE words (name text PRIMARY KEY, emb vector(16))`)
	for i := range 40 {
		name, ok := names[i]
		if !ok {
			name = fmt.Sprintf("w%02d", i)
		}
		if _, err := c.Exec(ctx, `INSERT INTO words VALUES ($1, array_fill($2::real, ARRAY[16])::vector)`, name, i); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(t, c, `CREATE INDEX ON words USING hnsw (emb vector_l2_ops)`)
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
	waitIndexed(t, g, 40)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	at := func(x float64) string {
		return "[" + strings.TrimSuffix(strings.Repeat(strconv.FormatFloat(x, 'f', 1, 64)+",", 16), ",") + "]"
	}
	fastShape := func(x float64) string {
		return `SELECT name, emb <-> '` + at(x) + `' AS d FROM words ORDER BY emb <-> '` + at(x) + `' LIMIT 5`
	}
	latin1 := func(s string) string { // s in LATIN1 bytes
		var b []byte
		for _, r := range s {
			b = append(b, byte(r))
		}
		return string(b)
	}
	filtered := func(x float64, not string) string {
		return `SELECT name, emb <-> '` + at(x) + `' AS d FROM words WHERE name <> '` + not + `' ORDER BY emb <-> '` + at(x) + `' LIMIT 5`
	}
	const prepared = `SELECT name, emb <-> $1::vector AS d FROM words WHERE name <> '%s' ORDER BY emb <-> $1::vector LIMIT 5`
	same := func(step, sql string) {
		t.Helper()
		got, want := rawAnswer(t, via, sql), rawAnswer(t, direct, sql)
		if got != want {
			t.Errorf("%s: %s\nthrough vecgate:\n%q\ndirectly:\n%q", step, sql, got, want)
		}
	}
	// UTF8: warm the session (descriptions known, answers from memory).
	for _, x := range []float64{10.1, 20.1, 10.1} {
		same("UTF8", fastShape(x))
	}
	if g.Stats().FastPath == 0 {
		t.Fatal("no answer from memory in UTF8: the test proves nothing")
	}

	for _, cn := range []*pgx.Conn{via, direct} {
		mustExec(t, cn, "SET client_encoding = 'LATIN1'")
	}
	before := g.Stats().Intercepted
	for _, x := range []float64{10.1, 20.1, 30.1, 10.1, 20.1} {
		same("LATIN1", fastShape(x))
		same("LATIN1", filtered(x, latin1("Ärger")))
		same("LATIN1", filtered(x, latin1("cafÃ©"))) // the bytes of UTF8 'café'
		got := rawExtended(t, via, "", fmt.Sprintf(prepared, latin1("café")), at(x))
		if want := rawExtended(t, direct, "", fmt.Sprintf(prepared, latin1("café")), at(x)); got != want {
			t.Errorf("LATIN1, extended: through vecgate:\n%q\ndirectly:\n%q", got, want)
		}
	}
	if got := rawAnswer(t, direct, fastShape(30.1)); got != "ERROR 22P05" {
		t.Errorf("directly, a key LATIN1 cannot hold: %q, want 22P05 (the test's premise)", got)
	}
	// A statement prepared now, whose text means 'cafÃ©' in LATIN1 and 'café' in UTF8.
	for _, cn := range []*pgx.Conn{via, direct} {
		if _, err := cn.PgConn().Prepare(ctx, "p_latin1", fmt.Sprintf(prepared, latin1("cafÃ©")), nil); err != nil {
			t.Fatal(err)
		}
	}
	// A SET and a vector query in one Query string: Postgres answers (single statements only).
	same("SET in the same Query", "SET client_encoding = 'UTF8'; "+fastShape(10.1))
	if n := g.Stats().Intercepted - before; n != 0 {
		t.Errorf("%d statements intercepted in a LATIN1 session", n)
	}

	before = g.Stats().Intercepted
	for _, x := range []float64{10.1, 30.1, 10.1} {
		same("UTF8 again", fastShape(x))
		same("UTF8 again", filtered(x, "Ärger"))
		got := rawExtended(t, via, "p_latin1", "", at(x))
		if want := rawExtended(t, direct, "p_latin1", "", at(x)); got != want {
			t.Errorf("UTF8 again, prepared while LATIN1: through vecgate:\n%q\ndirectly:\n%q", got, want)
		}
	}
	if g.Stats().Intercepted == before {
		t.Error("nothing intercepted after the session went back to UTF8")
	}

	// Pipelined: SET client_encoding, Sync, a vector query, Sync in one write. The query waits for
	// the SET's answer, whose report comes first, and is then forwarded.
	before = g.Stats().Intercepted
	for _, x := range []float64{10.1, 30.1} {
		ext := `SELECT name, emb <-> $1::vector AS d FROM words ORDER BY emb <-> $1::vector LIMIT 5`
		got := pipelinedAfter(t, via, "SET client_encoding = 'LATIN1'", ext, at(x))
		if want := pipelinedAfter(t, direct, "SET client_encoding = 'LATIN1'", ext, at(x)); got != want {
			t.Errorf("pipelined after SET client_encoding = 'LATIN1': through vecgate:\n%q\ndirectly:\n%q", got, want)
		}
		for _, cn := range []*pgx.Conn{via, direct} {
			mustExec(t, cn, "SET client_encoding = 'UTF8'")
		}
	}
	if n := g.Stats().Intercepted - before; n != 0 {
		t.Errorf("%d pipelined statements intercepted after SET client_encoding = 'LATIN1'", n)
	}
}

// pipelinedAfter sends set, Sync, sql with one parameter, Sync in one write (a pipeline) and
// returns sql's answer as rawAnswer does.
func pipelinedAfter(t *testing.T, c *pgx.Conn, set, sql, param string) string {
	t.Helper()
	p := c.PgConn().StartPipeline(context.Background())
	p.SendQueryParams(set, nil, nil, nil, nil)
	p.Sync()
	p.SendQueryParams(sql, [][]byte{[]byte(param)}, nil, nil, nil)
	p.Sync()
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	out, results, syncs := "", 0, 0
	for syncs < 2 {
		res, err := p.GetResults()
		if err != nil {
			if results == 1 && errCode(err) != "" {
				out = "ERROR " + errCode(err)
				results++
				continue
			}
			t.Fatal(err)
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			rr := r.Read()
			results++
			if results == 2 {
				out = rawResult(t, []*pgconn.Result{rr}, rr.Err)
			}
		case *pgconn.PipelineSync:
			syncs++
		case nil:
			t.Fatal("pipeline ended early")
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExtraFloatDigits: with extra_float_digits 0 or -3 Postgres prints distances with fewer
// digits than the fast path's shortest exact form: vecgate answers those through Postgres,
// whichever way the session set them (SET, SET over the extended protocol, set_config, a
// function); with 3 (as with 1) it answers from memory. Rows equal Postgres' text.
func TestExtraFloatDigits(t *testing.T) {
	f := newFixture(t, 500)
	mustExec(t, pgtest.Connect(t, f.dsn), `CREATE FUNCTION public.efd(v int) RETURNS void LANGUAGE plpgsql AS
		$$ BEGIN EXECUTE format('SET extra_float_digits = %s', v); END $$`)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	mustExec(t, direct, "SET enable_indexscan = off")
	ctx := context.Background()
	ways := map[string]func(c *pgx.Conn, v int){
		"SET": func(c *pgx.Conn, v int) { mustExec(t, c, fmt.Sprintf("SET extra_float_digits = %d", v)) },
		"extended SET": func(c *pgx.Conn, v int) {
			if _, err := c.Exec(ctx, fmt.Sprintf("SET extra_float_digits = %d", v), pgx.QueryExecModeExec); err != nil {
				t.Fatal(err)
			}
		},
		"set_config": func(c *pgx.Conn, v int) {
			mustExec(t, c, fmt.Sprintf("SELECT set_config('extra_float_digits', '%d', false)", v))
		},
		"function": func(c *pgx.Conn, v int) { mustExec(t, c, fmt.Sprintf("SELECT public.efd(%d)", v)) },
	}
	for _, way := range []string{"SET", "extended SET", "set_config", "function"} {
		for _, efd := range []int{0, -3, 3} {
			// Answers from memory at the default (1) first: the session's check is warm.
			for _, c := range []*pgx.Conn{via, direct} {
				mustExec(t, c, "RESET extra_float_digits")
			}
			fast := f.g.Stats().FastPath
			for range 2 {
				rawAnswer(t, via, shapeWith(f.vector()))
			}
			if f.g.Stats().FastPath == fast {
				t.Fatalf("%s %d: no answer from memory at extra_float_digits 1: the test proves nothing", way, efd)
			}
			for _, c := range []*pgx.Conn{via, direct} {
				ways[way](c, efd)
			}
			fast = f.g.Stats().FastPath
			for range 3 {
				v := f.vector()
				got, want := rawAnswer(t, via, shapeWith(v)), rawAnswer(t, direct, shapeWith(v))
				if efd <= 0 && got != want {
					t.Errorf("%s extra_float_digits = %d:\nthrough vecgate:\n%s\ndirectly:\n%s", way, efd, got, want)
				}
				if efd > 0 && !sameText(got, want) {
					t.Errorf("%s extra_float_digits = %d:\nthrough vecgate:\n%s\ndirectly:\n%s", way, efd, got, want)
				}
			}
			n := f.g.Stats().FastPath - fast
			if efd <= 0 && n != 0 {
				t.Errorf("%s extra_float_digits = %d: %d answers from memory", way, efd, n)
			}
			if efd > 0 && n == 0 {
				t.Errorf("%s extra_float_digits = %d: no answer from memory", way, efd)
			}
		}
	}
}

// sameText compares two id|distance answers: the same ids in the same order, each distance in
// the shortest form of a value within 1e-6 of Postgres' (vecgate computes it in another order).
func sameText(got, want string) bool {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		gi, gd, _ := strings.Cut(g[i], "|")
		wi, wd, _ := strings.Cut(w[i], "|")
		if gi != wi {
			return false
		}
		if gd == wd {
			continue
		}
		a, err1 := strconv.ParseFloat(gd, 64)
		b, err2 := strconv.ParseFloat(wd, 64)
		if err1 != nil || err2 != nil || math.Abs(a-b) > 1e-6*math.Max(1, math.Abs(b)) || strconv.FormatFloat(a, 'f', -1, 64) != gd {
			return false
		}
	}
	return true
}

// TestShadowingOperator: a `<->` of the session's own in a schema earlier on its search_path is
// the operator Postgres applies (here: the negated distance, farthest rows first); vecgate
// forwards such statements (simple and extended, answer from memory and rewrite alike) — as long
// as any operator of that name but pgvector's is on the path — and answers again once it is off.
func TestShadowingOperator(t *testing.T) {
	f := newFixture(t, 500)
	mustExec(t, pgtest.Connect(t, f.dsn),
		"CREATE SCHEMA evil",
		`CREATE FUNCTION evil.far(vector, vector) RETURNS float8 LANGUAGE sql IMMUTABLE AS 'SELECT 0 - ($1 OPERATOR(public.<->) $2)'`,
		`CREATE OPERATOR evil.<-> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = evil.far)`)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	mustExec(t, direct, "SET enable_indexscan = off")
	for range 3 { // warm: descriptions known, answers from memory
		rawAnswer(t, via, shapeWith(f.vector()))
	}
	for _, c := range []*pgx.Conn{via, direct} {
		mustExec(t, c, "SET search_path = evil, public")
	}
	before, checks := f.g.Stats().Intercepted, f.g.Stats().Forwarded["table_check"]
	for range 3 {
		v := f.vector()
		for _, sql := range []string{shapeWith(v), rewriteWith(v)} {
			if got, want := rawAnswer(t, via, sql), rawAnswer(t, direct, sql); got != want {
				t.Errorf("evil <-> on the search_path:\nthrough vecgate:\n%s\ndirectly:\n%s", got, want)
			}
		}
		ext := `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
		if got, want := rawExtended(t, via, "", ext, v), rawExtended(t, direct, "", ext, v); got != want {
			t.Errorf("evil <-> on the search_path (extended):\nthrough vecgate:\n%s\ndirectly:\n%s", got, want)
		}
	}
	if n := f.g.Stats().Intercepted - before; n != 0 {
		t.Errorf("%d statements intercepted with evil.<-> on the search_path", n)
	}
	if f.g.Stats().Forwarded["table_check"] == checks {
		t.Error("no statement forwarded by the table check")
	}
	for _, c := range []*pgx.Conn{via, direct} {
		mustExec(t, c, "SET search_path = public")
	}
	mustExec(t, via, "SET vecgate.exact_distances = on") // compared byte for byte: Postgres prints the distances
	before = f.g.Stats().Intercepted
	for range 3 {
		v := f.vector()
		if got, want := rawAnswer(t, via, rewriteWith(v)), rawAnswer(t, direct, rewriteWith(v)); got != want {
			t.Errorf("evil off the search_path:\nthrough vecgate:\n%s\ndirectly:\n%s", got, want)
		}
	}
	if f.g.Stats().Intercepted == before {
		t.Error("nothing intercepted once evil is off the search_path")
	}
}

// TestCheckUsesCatalog: the session check reads the catalog, not what the session's search_path
// puts in front of it. A role under row-level security, with a table evil.pg_class that claims
// no RLS first on its search_path, gets through vecgate the rows Postgres lets it see.
func TestCheckUsesCatalog(t *testing.T) {
	f := newFixture(t, 500)
	admin := pgtest.Connect(t, f.dsn)
	role := fmt.Sprintf("vg_rls_%d", rand.Uint32())
	mustExec(t, admin,
		"CREATE ROLE "+role+" LOGIN PASSWORD 'pw'",
		"GRANT USAGE ON SCHEMA public TO "+role,
		"GRANT SELECT ON items TO "+role,
		"ALTER TABLE items ENABLE ROW LEVEL SECURITY",
		"CREATE POLICY low ON items FOR SELECT TO "+role+" USING (category < 10)",
		"CREATE SCHEMA evil",
		"CREATE TABLE evil.pg_class AS SELECT oid, relnamespace, false AS relrowsecurity FROM pg_catalog.pg_class",
		"GRANT USAGE ON SCHEMA evil TO "+role,
		"GRANT SELECT ON evil.pg_class TO "+role)
	t.Cleanup(func() {
		c := pgtest.Connect(t, f.dsn)
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = c.Exec(context.Background(), "DROP ROLE "+role)
	})
	via := pgtest.Connect(t, pgtest.WithUser(t, f.via, role, "pw"))
	direct := pgtest.Connect(t, pgtest.WithUser(t, f.dsn, role, "pw"))
	for _, c := range []*pgx.Conn{via, direct} {
		mustExec(t, c, "SET search_path = evil, pg_catalog, public")
	}
	mustExec(t, direct, "SET enable_indexscan = off")
	fast := f.g.Stats().FastPath
	for range 5 {
		v := f.vector()
		if got, want := rawAnswer(t, via, shapeWith(v)), rawAnswer(t, direct, shapeWith(v)); got != want {
			t.Errorf("RLS with evil.pg_class:\nthrough vecgate:\n%s\ndirectly:\n%s", got, want)
		}
	}
	if n := f.g.Stats().FastPath - fast; n != 0 {
		t.Errorf("%d answers from memory on a table with row-level security", n)
	}
}

// TestUnnamedStatementForwarded: an unnamed statement (libpq's PQexecParams, pgx's exec modes)
// whose session check fails — here a search_path that finds a tenant's table first — is
// forwarded with its Parse: the check, a simple Query, runs before the Parse is sent (sent
// after it, the check destroyed the unnamed statement and the Bind failed with 26000).
func TestUnnamedStatementForwarded(t *testing.T) {
	f := newFixture(t, 500)
	tenantSchema(t, f)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	for _, c := range []*pgx.Conn{via, direct} {
		mustExec(t, c, "SET search_path = tenant1, public", "SET enable_indexscan = off")
	}
	checks := f.g.Stats().Forwarded["table_check"]
	sql := `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	for range 3 {
		v := f.vector()
		mustExec(t, via, "SET search_path = tenant1, public") // the check runs again
		if got, want := rawExtended(t, via, "", sql, v), rawExtended(t, direct, "", sql, v); got != want {
			t.Errorf("tenant search_path, unnamed statement:\nthrough vecgate:\n%s\ndirectly:\n%s", got, want)
		}
	}
	if f.g.Stats().Forwarded["table_check"] == checks {
		t.Error("nothing forwarded by the table check: the test proves nothing")
	}
}

// TestVecgateDDLInLatin1: a CREATE INDEX with vecgate's options whose names are not ASCII, sent in
// a LATIN1 session, is refused (0A000) rather than recorded with names read as UTF8; in ASCII it
// is carried out as in UTF8.
func TestVecgateDDLInLatin1(t *testing.T) {
	f := newFixture(t, 300)
	via := pgtest.Connect(t, f.via)
	mustExec(t, via, "SET client_encoding = 'LATIN1'")
	// The bytes of UTF8 'índice', which LATIN1 reads as 'Ã\u00adndice': Postgres would name the
	// index so, and vecgate would have recorded 'índice'.
	name := "índice"
	got := rawAnswer(t, via, `CREATE INDEX "`+name+`" ON items USING hnsw (emb vector_cosine_ops) WITH (quantizer = 'sq8')`)
	if got != "ERROR 0A000" {
		t.Errorf("non-ASCII vecgate DDL in LATIN1: %q, want ERROR 0A000", got)
	}
	var n int
	if err := pgtest.Connect(t, f.dsn).QueryRow(context.Background(), "SELECT count(*) FROM vecgate.indexes").Scan(&n); err != nil || n != 0 {
		t.Errorf("vecgate.indexes holds %d definitions (%v), want none", n, err)
	}
	if got := rawAnswer(t, via, `CREATE INDEX items_cos ON items USING hnsw (emb vector_cosine_ops) WITH (quantizer = 'sq8')`); got != "" {
		t.Fatalf("ASCII vecgate DDL in LATIN1: %q", got)
	}
	waitTwin(t, f, "items_cos", 300)
}
