package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// columnDDLTable makes items (id, title, emb) with 200 rows and an HNSW index, and a gateway
// with a covering twin of it (SELECT * answered from memory).
func columnDDLTable(t *testing.T) (dsn string, g *Gateway, admin *pgconn.PgConn) {
	t.Helper()
	dsn = pgtest.NewDB(t)
	admin = pgtest.Connect(t, dsn).PgConn()
	for _, q := range []string{"CREATE EXTENSION IF NOT EXISTS vector",
		"CREATE TABLE items (id int PRIMARY KEY, title text, emb vector(2))",
		"INSERT INTO items SELECT i, 't' || i, ARRAY[sin(i), cos(i)]::vector FROM generate_series(1, 200) i",
		"CREATE INDEX ON items USING hnsw (emb vector_l2_ops)"} {
		if _, err := admin.Exec(context.Background(), q).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	g = startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("cd%d", rand.Uint32())})
	waitIndexed(t, g, 200)
	return dsn, g, admin
}

// waitTwinColumns waits until the twin of items holds (and so answers `*` with) n columns.
func waitTwinColumns(t *testing.T, g *Gateway, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ixs := g.set.Indexes()
		if len(ixs) == 1 && len(ixs[0].TableColumns()) == n && len(g.stream.Status().Loading) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the twin of items does not hold %d columns: %d twins", n, len(ixs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// execPrepared runs the statement prepared as name with one vector parameter, as a client that
// keeps the description Postgres gave at Prepare (pgx's statement cache) does: Bind, Execute,
// Sync, no Describe. It returns the rows, or the error's SQLSTATE; a row whose width is not the
// prepared description's fails the test.
func execPrepared(t *testing.T, c *pgconn.PgConn, sd *pgconn.StatementDescription, vec string) (rows int, code string) {
	t.Helper()
	res := c.ExecPrepared(context.Background(), sd.Name, [][]byte{[]byte(vec)}, nil, nil).Read()
	if res.Err != nil {
		var pe *pgconn.PgError
		if !errors.As(res.Err, &pe) {
			t.Fatalf("%s: %v", sd.SQL, res.Err)
		}
		return 0, pe.Code
	}
	for _, r := range res.Rows {
		if len(r) != len(sd.Fields) {
			t.Fatalf("%s: a row of %d values under the prepared description of %d columns", sd.SQL, len(r), len(sd.Fields))
		}
	}
	return len(res.Rows), ""
}

// TestPreparedStarAfterColumnDDL: a statement prepared (and described) before a column of its
// table was added or dropped keeps the result type it was prepared with; Postgres then refuses to
// run it (0A000, cached plan must not change result type), and vecgate must not answer it from
// memory with the twin's new columns (found by the soak: pgx read 4 values under its cached
// description of 5 columns after DROP COLUMN).
func TestPreparedStarAfterColumnDDL(t *testing.T) {
	dsn, g, admin := columnDDLTable(t)
	ctx := context.Background()
	via := pgtest.Connect(t, viaDSN(dsn, g)).PgConn()
	direct := pgtest.Connect(t, dsn).PgConn()
	for _, c := range []*pgconn.PgConn{via, direct} {
		if _, err := c.Exec(ctx, "SET vecgate.max_wait = '10s'").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	prepare := func(c *pgconn.PgConn, name, limit string) *pgconn.StatementDescription {
		t.Helper()
		sd, err := c.Prepare(ctx, name, "SELECT * FROM items ORDER BY emb <-> $1 LIMIT "+limit, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sd
	}
	// Both sides run the same sequence; vecgate must answer as Postgres does.
	type side struct {
		c       *pgconn.PgConn
		before  *pgconn.StatementDescription // prepared with 3 columns
		between *pgconn.StatementDescription // prepared with the added column (4)
	}
	sides := []*side{{c: via}, {c: direct}}
	for _, s := range sides {
		s.before = prepare(s.c, "before", "3")
	}
	fast := g.Stats().FastPath
	for range 3 {
		for _, s := range sides {
			if n, code := execPrepared(t, s.c, s.before, "[0.5,0.5]"); n != 3 || code != "" {
				t.Fatalf("before any DDL: %d rows, error %q", n, code)
			}
		}
	}
	if g.Stats().FastPath == fast {
		t.Fatal("the prepared SELECT * was not answered from memory: the test proves nothing")
	}

	if _, err := admin.Exec(ctx, "ALTER TABLE items ADD COLUMN extra int DEFAULT 7").ReadAll(); err != nil {
		t.Fatal(err)
	}
	waitTwinColumns(t, g, 4)
	var got [2]string
	for i, s := range sides {
		_, got[i] = execPrepared(t, s.c, s.before, "[0.5,0.5]")
		s.between = prepare(s.c, "between", "4")
	}
	if got[0] != got[1] {
		t.Errorf("after ADD COLUMN, the statement prepared before: vecgate %q, Postgres %q", got[0], got[1])
	}
	fast = g.Stats().FastPath
	for range 3 {
		for _, s := range sides {
			if n, code := execPrepared(t, s.c, s.between, "[0.5,0.5]"); n != 4 || code != "" {
				t.Fatalf("prepared after ADD COLUMN: %d rows, error %q", n, code)
			}
		}
	}
	if g.Stats().FastPath == fast {
		t.Error("the statement prepared after ADD COLUMN was not answered from memory")
	}

	if _, err := admin.Exec(ctx, "ALTER TABLE items DROP COLUMN extra").ReadAll(); err != nil {
		t.Fatal(err)
	}
	waitTwinColumns(t, g, 3)
	for i, s := range sides {
		_, got[i] = execPrepared(t, s.c, s.between, "[0.5,0.5]")
	}
	if got[0] != got[1] {
		t.Errorf("after DROP COLUMN, the statement prepared before: vecgate %q, Postgres %q", got[0], got[1])
	}
}

// TestStarWhileColumnsChange: sessions run SELECT * in a loop — simple protocol, extended with
// a statement described at each execution, and extended with the description kept from Prepare
// — while another session adds and drops a column. Every row has as many values as the
// description the client holds, the columns are the table's (with or without the added one),
// and the rows are Postgres' (the same ids in the same order); a statement whose prepared result
// type no longer matches the table may fail as in Postgres (0A000).
func TestStarWhileColumnsChange(t *testing.T) {
	dsn, g, admin := columnDDLTable(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const sql = "SELECT * FROM items ORDER BY emb <-> '[0.5,0.5]' LIMIT 5"
	direct := pgtest.Connect(t, dsn).PgConn()
	res, err := direct.Exec(context.Background(), sql).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var wantIDs []string
	for _, r := range res[0].Rows {
		wantIDs = append(wantIDs, string(r[0]))
	}
	colsOK := func(fields []pgconn.FieldDescription) bool {
		var names []string
		for _, f := range fields {
			names = append(names, f.Name)
		}
		got := strings.Join(names, ",")
		return got == "id,title,emb" || got == "id,title,emb,extra"
	}

	var (
		mu       sync.Mutex
		problems []string
		answers  = map[string]int{}
	)
	report := func(mode string, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(problems) < 10 {
			problems = append(problems, mode+": "+fmt.Sprintf(format, args...))
		}
	}
	check := func(mode string, fields []pgconn.FieldDescription, rows [][][]byte) {
		if !colsOK(fields) {
			report(mode, "columns %v", fields)
		}
		var ids []string
		for _, r := range rows {
			if len(r) != len(fields) {
				report(mode, "a row of %d values under a description of %d columns", len(r), len(fields))
				return
			}
			ids = append(ids, string(r[0]))
		}
		if !slices.Equal(ids, wantIDs) {
			report(mode, "ids %v, Postgres %v", ids, wantIDs)
		}
		mu.Lock()
		answers[mode]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	loop := func(mode string, run func(c *pgconn.PgConn) error) {
		c := pgtest.Connect(t, viaDSN(dsn, g)).PgConn()
		if _, err := c.Exec(ctx, "SET vecgate.max_wait = '10s'").ReadAll(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := run(c); err != nil && ctx.Err() == nil {
					var pe *pgconn.PgError
					if !errors.As(err, &pe) || pe.Code != "0A000" {
						report(mode, "%v", err)
						return
					}
				}
			}
		})
	}
	loop("simple", func(c *pgconn.PgConn) error {
		res, err := c.Exec(ctx, sql).ReadAll()
		if err == nil {
			check("simple", res[0].FieldDescriptions, res[0].Rows)
		}
		return err
	})
	loop("described", func(c *pgconn.PgConn) error {
		res := c.ExecParams(ctx, sql, nil, nil, nil, nil).Read()
		if res.Err == nil {
			check("described", res.FieldDescriptions, res.Rows)
		}
		return res.Err
	})
	var sd *pgconn.StatementDescription
	loop("prepared", func(c *pgconn.PgConn) error {
		if sd == nil {
			var err error
			if sd, err = c.Prepare(ctx, "star", sql, nil); err != nil {
				return err
			}
		}
		res := c.ExecPrepared(ctx, "star", nil, nil, nil).Read()
		if res.Err == nil {
			check("prepared", sd.Fields, res.Rows)
			return nil
		}
		// Postgres refuses a statement whose result type changed: prepare it again.
		if _, err := c.Exec(ctx, "DEALLOCATE star").ReadAll(); err != nil {
			return err
		}
		sd = nil
		return res.Err
	})

	for i := range 8 {
		stmt := "ALTER TABLE items ADD COLUMN extra int DEFAULT 7"
		if i%2 == 1 {
			stmt = "ALTER TABLE items DROP COLUMN extra"
		}
		if _, err := admin.Exec(context.Background(), stmt).ReadAll(); err != nil {
			t.Fatal(err)
		}
		waitTwinColumns(t, g, 3+(i+1)%2)
		time.Sleep(300 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("answers through vecgate unlike Postgres':\n%s", strings.Join(problems, "\n"))
	}
	for _, mode := range []string{"simple", "described", "prepared"} {
		if answers[mode] == 0 {
			t.Errorf("no %s answer", mode)
		}
	}
	if g.Stats().FastPath == 0 {
		t.Error("nothing answered from memory: the test proves nothing")
	}
}

// TestColumnDDLUnderWrites: while sessions update rows (held columns and vectors) and insert and
// delete them, another adds and drops a column of the table again and again (each change loads
// the table's twins again, alone, while the old ones answer); once the writes stop and the
// twins are loaded, filtered and unfiltered top-k statements through vecgate return what an
// exact scan in Postgres returns.
func TestColumnDDLUnderWrites(t *testing.T) {
	dsn, g, admin := columnDDLTable(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := admin.Exec(ctx, "ALTER TABLE items ADD COLUMN cat int NOT NULL DEFAULT 0; UPDATE items SET cat = id % 10").ReadAll(); err != nil {
		t.Fatal(err)
	}
	waitTwinColumns(t, g, 4)
	var wg sync.WaitGroup
	for w := range 3 {
		c := pgtest.Connect(t, dsn).PgConn()
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; ctx.Err() == nil; i++ {
				id := 1 + rng.IntN(300)
				var q string
				switch i % 4 {
				case 0:
					q = fmt.Sprintf("UPDATE items SET cat = %d, title = title || '.' WHERE id = %d", rng.IntN(10), id)
				case 1:
					q = fmt.Sprintf("UPDATE items SET emb = '[%g,%g]' WHERE id = %d", rng.Float64(), rng.Float64(), id)
				case 2:
					q = fmt.Sprintf("INSERT INTO items (id, title, emb, cat) VALUES (%d, 'n', '[%g,%g]', %d) ON CONFLICT (id) DO UPDATE SET cat = excluded.cat",
						id, rng.Float64(), rng.Float64(), rng.IntN(10))
				default:
					q = fmt.Sprintf("DELETE FROM items WHERE id = %d", id)
				}
				if _, err := c.Exec(ctx, q).ReadAll(); err != nil && ctx.Err() == nil {
					t.Errorf("%s: %v", q, err)
					return
				}
			}
		})
	}
	for i := range 10 {
		stmt := "ALTER TABLE items ADD COLUMN extra int DEFAULT 7"
		if i%2 == 1 {
			stmt = "ALTER TABLE items DROP COLUMN extra"
		}
		if _, err := admin.Exec(context.Background(), stmt).ReadAll(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	waitTwinColumns(t, g, 4)
	via := pgtest.Connect(t, viaDSN(dsn, g)).PgConn()
	direct := pgtest.Connect(t, dsn).PgConn()
	// Postgres answers exactly (a forwarded statement too): pgvector's index scan is approximate
	// and returns fewer rows than LIMIT under a filter.
	for _, c := range []*pgconn.PgConn{via, direct} {
		if _, err := c.Exec(context.Background(), "SET vecgate.max_wait = '10s'; SET enable_indexscan = off; SET enable_bitmapscan = off").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	fast := g.Stats().FastPath
	answer := func(c *pgconn.PgConn, sql string) string {
		t.Helper()
		res, err := c.Exec(context.Background(), sql).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var b strings.Builder
		for _, r := range res[len(res)-1].Rows {
			for _, v := range r {
				b.Write(v)
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	wrong := 0
	for i := range 30 {
		v := fmt.Sprintf("'[%g,%g]'", float64(i%7)/7, float64(i%5)/5)
		sql := "SELECT id, cat, title FROM items ORDER BY emb <-> " + v + " LIMIT 10"
		if i%2 == 1 {
			sql = fmt.Sprintf("SELECT id, cat FROM items WHERE cat = %d ORDER BY emb <-> %s LIMIT 10", i%10, v)
		}
		if got, want := answer(via, sql), answer(direct, sql); got != want {
			wrong++
			if wrong <= 5 {
				t.Errorf("%s:\nvecgate:\n%sPostgres:\n%s", sql, got, want)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of 30 answers unlike Postgres' after column DDL under writes (%v)", wrong, g.Stats())
	}
	if g.Stats().FastPath == fast {
		t.Errorf("nothing answered from memory: the test proves little (%v)", g.Stats())
	}
}
