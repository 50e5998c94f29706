// Pipelines of executions with one Sync (pgx's Batch), row-limited Executes and cursors over
// vector queries: each answer — rows, order, errors, command tags, PortalSuspended,
// ReadyForQuery — the same through vecgate as directly (proxy/extended.go).
package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// batchAnswer is what a pgx Batch returned for one of its statements: its (id, distance) rows,
// or its error's SQLSTATE.
type batchAnswer struct {
	rows []idDist
	code string
}

// runBatch sends the statements (each with its arguments) as one pgx Batch in mode, and returns
// each statement's answer.
func runBatch(t *testing.T, c *pgx.Conn, mode pgx.QueryExecMode, stmts []string, args [][]any) []batchAnswer {
	t.Helper()
	ctx := context.Background()
	b := &pgx.Batch{}
	for i, q := range stmts {
		b.Queue(q, args[i]...)
	}
	c.Config().DefaultQueryExecMode = mode
	defer func() { c.Config().DefaultQueryExecMode = pgx.QueryExecModeCacheStatement }()
	br := c.SendBatch(ctx, b)
	out := make([]batchAnswer, len(stmts))
	for i := range stmts {
		rows, err := br.Query()
		if err == nil {
			out[i].rows, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (idDist, error) {
				var x idDist
				if len(r.FieldDescriptions()) == 1 {
					return x, r.Scan(&x.id)
				}
				return x, r.Scan(&x.id, &x.d)
			})
		}
		if err != nil {
			out[i].code = errCode(err)
			if out[i].code == "" {
				out[i].code = err.Error()
			}
		}
	}
	_ = br.Close() // its error, if any, was read with its statement
	return out
}

func sameAnswers(a, b []batchAnswer) bool {
	return slices.EqualFunc(a, b, func(x, y batchAnswer) bool { return x.code == y.code && sameRows(x.rows, y.rows) })
}

// TestBatch: a pgx Batch of vector queries is answered by vecgate, each of its statements
// intercepted (they were all forwarded as "pipeline"), with the answers Postgres gives, in every
// pgx execution mode that uses the extended protocol.
func TestBatch(t *testing.T) {
	f := newFixture(t, 500)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	waitLonger(t, via)
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec} {
		for round := range 2 {
			stmts, args := make([]string, 10), make([][]any, 10)
			for i := range stmts {
				stmts[i], args[i] = q, []any{f.vector()}
			}
			before := f.g.Stats()
			got := runBatch(t, via, mode, stmts, args)
			moved := statsMoved(before, f.g.Stats())
			want := runBatch(t, direct, mode, stmts, args)
			if !sameAnswers(got, want) {
				t.Fatalf("%v round %d: WRONG ANSWER through vecgate %v, directly %v", mode, round, got, want)
			}
			if !slices.Equal(moved, []string{"intercept+10"}) {
				t.Errorf("%v round %d: counters moved %v, want intercept+10", mode, round, moved)
			}
		}
	}
	// In a transaction block: each statement under vecgate's savepoint.
	ctx := context.Background()
	for _, c := range []*pgx.Conn{via, direct} {
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			t.Fatal(err)
		}
	}
	stmts, args := []string{q, q, q}, [][]any{{f.vector()}, {f.vector()}, {f.vector()}}
	before := f.g.Stats()
	got := runBatch(t, via, pgx.QueryExecModeCacheStatement, stmts, args)
	moved := statsMoved(before, f.g.Stats())
	if want := runBatch(t, direct, pgx.QueryExecModeCacheStatement, stmts, args); !sameAnswers(got, want) {
		t.Fatalf("in a block: WRONG ANSWER through vecgate %v, directly %v", got, want)
	}
	if !slices.Equal(moved, []string{"intercept+3"}) {
		t.Errorf("in a block: counters moved %v, want intercept+3", moved)
	}
	for _, c := range []*pgx.Conn{via, direct} {
		if _, err := c.Exec(ctx, "COMMIT"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBatchWrites: Postgres runs a pipeline's statements in one implicit transaction, so a
// vector query after an INSERT in the same batch sees the inserted row; vecgate's twins cannot
// (it is not committed), so that query goes to Postgres, while one before the INSERT is
// vecgate's.
func TestBatchWrites(t *testing.T) {
	f := newFixture(t, 500)
	via := pgtest.Connect(t, f.via)
	waitLonger(t, via)
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	const ins = `INSERT INTO items (id, category, rare, title, emb) VALUES ($1, 0, 0, 'new', $2::vector)`
	for i, shape := range [][]string{{ins, q}, {q, ins, q}} {
		v, id := f.vector(), int64(900000+i)
		args := make([][]any, len(shape))
		for j, s := range shape {
			if s == ins {
				args[j] = []any{id, v}
			} else {
				args[j] = []any{v}
			}
		}
		before := f.g.Stats()
		got := runBatch(t, via, pgx.QueryExecModeCacheStatement, shape, args)
		moved := statsMoved(before, f.g.Stats())
		last := got[len(got)-1]
		if last.code != "" || len(last.rows) != 5 || last.rows[0].id != id || last.rows[0].d != 0 {
			t.Errorf("batch %d: the query after the INSERT got %+v, want the inserted row %d first", i, last, id)
		}
		want := []string{"forward:not_vector+1", "forward:pipeline+1"}
		if len(shape) == 3 {
			if first := got[0]; first.code != "" || len(first.rows) != 5 || first.rows[0].id == id {
				t.Errorf("batch %d: the query before the INSERT got %+v", i, first)
			}
			want = append(want, "intercept+1")
			slices.Sort(want)
		}
		if !slices.Equal(moved, want) {
			t.Errorf("batch %d: counters moved %v, want %v", i, moved, want)
		}
	}
}

// rawConn is a connection whose messages a test writes and reads itself.
type rawConn struct {
	t *testing.T
	c *pgconn.PgConn
}

func dialRaw(t *testing.T, dsn string) *rawConn {
	t.Helper()
	c, err := pgconn.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &rawConn{t: t, c: c}
}

// run sends msgs and returns every message received up to the ReadyForQuery answering the
// last Sync or Query among them, each as its type and bytes.
func (r *rawConn) run(msgs ...pgproto3.FrontendMessage) []string {
	r.t.Helper()
	fe := r.c.Frontend()
	waits := 0
	for _, m := range msgs {
		switch m.(type) {
		case *pgproto3.Sync, *pgproto3.Query:
			waits++
		}
		fe.Send(m)
	}
	if err := fe.Flush(); err != nil {
		r.t.Fatal(err)
	}
	_ = r.c.Conn().SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = r.c.Conn().SetReadDeadline(time.Time{}) }()
	var out []string
	for waits > 0 {
		m, err := fe.Receive()
		if err != nil {
			r.t.Fatalf("after %v: %v", out, err)
		}
		b, _ := m.Encode(nil)
		out = append(out, fmt.Sprintf("%T %q", m, b[5:]))
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			waits--
		}
	}
	return out
}

// wireCompare returns a function that sends msgs through vecgate and directly, each on a
// connection of its own kept across calls, and fails unless both got the same messages, byte
// for byte, and (wantMoved non-nil) the counters moved by wantMoved (an empty one: none moved).
func wireCompare(t *testing.T, f *fixture) func(step string, wantMoved []string, msgs ...pgproto3.FrontendMessage) {
	via, direct := dialRaw(t, f.via), dialRaw(t, f.dsn)
	return func(step string, wantMoved []string, msgs ...pgproto3.FrontendMessage) {
		t.Helper()
		before := f.g.Stats()
		got := via.run(msgs...)
		moved := statsMoved(before, f.g.Stats())
		want := direct.run(msgs...)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: through vecgate\n%s\ndirectly\n%s", step, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if wantMoved != nil && !slices.Equal(moved, wantMoved) && len(moved)+len(wantMoved) > 0 {
			t.Errorf("%s: counters moved %v, want %v", step, moved, wantMoved)
		}
	}
}

// vecBind binds the prepared statement vq (a vector query taking one text vector) to v.
func vecBind(v string) *pgproto3.Bind {
	return &pgproto3.Bind{PreparedStatement: "vq", Parameters: [][]byte{[]byte(v)}}
}

// TestPipelineWire: pipelines sent message by message — vector executions, errors before and
// after them, a failed Parse, in and out of transaction blocks, under REPEATABLE READ — get from
// vecgate exactly the messages Postgres sends, byte for byte, and the vector executions that
// lead their pipeline are intercepted.
func TestPipelineWire(t *testing.T) {
	f := newFixture(t, 500)
	const vq = `SELECT id FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	exec := &pgproto3.Execute{}
	sync := &pgproto3.Sync{}
	both := wireCompare(t, f)
	both("prepare", nil, &pgproto3.Query{String: "SET vecgate.max_wait = '10s'"},
		&pgproto3.Parse{Name: "vq", Query: vq}, &pgproto3.Describe{ObjectType: 'S', Name: "vq"}, sync)
	v := func() *pgproto3.Bind { return vecBind(f.vector()) }
	both("two vector executions", []string{"intercept+2"}, v(), exec, v(), &pgproto3.Describe{ObjectType: 'P'}, exec, sync)
	both("with a Flush", []string{"intercept+2"}, v(), exec, &pgproto3.Flush{}, v(), exec, sync)
	both("an error between", []string{"forward:not_vector+1", "forward:pipeline+1", "intercept+1"},
		v(), exec, &pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, exec, v(), exec, sync)
	both("an error first", []string{"forward:not_vector+1", "forward:pipeline+2"},
		&pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, exec, v(), exec, v(), exec, sync)
	// An unnamed vector statement whose Parse fails (its parameter declared boolean): the
	// executions after it are skipped.
	both("a Parse the planner refuses", []string{"forward:pipeline+1", "forward:planner+1"},
		&pgproto3.Parse{Query: vq, ParameterOIDs: []uint32{16}}, &pgproto3.Bind{Parameters: [][]byte{[]byte("t")}},
		exec, v(), exec, sync)
	// A vector statement the planner takes but Postgres refuses (no such column): vecgate sends
	// its Parse, which fails; the rest of the pipeline is skipped (the Parse of "skipped" too).
	const bad = `SELECT id, nosuch FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	both("a failed Parse", []string{"forward:error+1", "forward:pipeline+1"}, &pgproto3.Parse{Query: bad}, unnamed(v()), exec,
		&pgproto3.Parse{Name: "skipped", Query: vq}, v(), exec, sync)
	both("a failed Parse second", []string{"forward:error+1", "forward:pipeline+1", "intercept+1"}, v(), exec,
		&pgproto3.Parse{Query: bad}, unnamed(v()), exec, v(), exec, sync)
	both("the skipped Parse", []string{"forward:not_vector+1"}, &pgproto3.Bind{PreparedStatement: "skipped",
		Parameters: [][]byte{[]byte(f.vector())}}, exec, sync)
	// Parses Postgres skipped (after an error of their pipeline, which vecgate relayed) or that
	// failed: their names are not vecgate's to answer (they were).
	both("a Parse after an error", []string{"forward:not_vector+1"}, &pgproto3.Parse{Query: "SELECT 1/0"},
		&pgproto3.Bind{}, exec, &pgproto3.Parse{Name: "skipped2", Query: vq}, sync)
	both("its execution", []string{"forward:not_vector+1"}, &pgproto3.Bind{PreparedStatement: "skipped2",
		Parameters: [][]byte{[]byte(f.vector())}}, exec, sync)
	both("an unnamed Parse after an error", []string{"forward:not_vector+1"}, &pgproto3.Parse{Query: "SELECT 1/0"},
		&pgproto3.Bind{}, exec, &pgproto3.Parse{Query: vq}, sync)
	both("its execution", []string{"forward:not_vector+1"}, unnamed(v()), exec, sync)
	both("a failed Parse alone", nil, &pgproto3.Parse{Name: "failed", Query: bad}, sync)
	both("its execution", []string{"forward:not_vector+1"}, &pgproto3.Bind{PreparedStatement: "failed",
		Parameters: [][]byte{[]byte(f.vector())}}, exec, sync)
	both("a Parse before an error", []string{"forward:not_vector+1"}, &pgproto3.Parse{Name: "kept", Query: vq},
		&pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, exec, sync)
	both("its execution", []string{"intercept+1"}, &pgproto3.Bind{PreparedStatement: "kept",
		Parameters: [][]byte{[]byte(f.vector())}}, exec, sync)
	both("unnamed vector statements", []string{"intercept+2"}, &pgproto3.Parse{Query: vq}, unnamed(v()),
		&pgproto3.Describe{ObjectType: 'P'}, exec, &pgproto3.Parse{Query: vq}, unnamed(v()), exec, sync)
	both("a bad vector", nil,
		vecBind("[1,2,3]"), exec, v(), exec, sync)
	both("a lone Sync", nil, sync)

	// In a transaction block: the same, and an error fails the block.
	both("BEGIN", nil, &pgproto3.Query{String: "BEGIN"})
	both("in a block", []string{"intercept+2"}, v(), exec, v(), exec, sync)
	both("an error in a block", []string{"forward:not_vector+1", "forward:pipeline+1", "intercept+1"},
		v(), exec, &pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, exec, v(), exec, sync)
	both("in the failed block", []string{"forward:pipeline+1", "forward:transaction+1"}, v(), exec, v(), exec, sync)
	both("ROLLBACK", nil, &pgproto3.Query{String: "ROLLBACK"})

	// REPEATABLE READ by default: a pipeline's statements share one snapshot.
	both("repeatable read", nil, &pgproto3.Query{String: "SET default_transaction_isolation = 'repeatable read'"})
	both("a pipeline under repeatable read", []string{"forward:pipeline+1", "forward:transaction+1"}, v(), exec, v(), exec, sync)
	both("one execution under repeatable read", []string{"intercept+1"}, v(), exec, sync)
	both("read committed", nil, &pgproto3.Query{String: "RESET default_transaction_isolation"})
	both("after", []string{"intercept+2"}, v(), exec, v(), exec, sync)
}

// unnamed is b binding the unnamed statement instead.
func unnamed(b *pgproto3.Bind) *pgproto3.Bind {
	b.PreparedStatement = ""
	return b
}

// BenchmarkBatch: a pgx Batch of 10 top-10 queries (10,000 × 128-d, L2, HNSW) sent directly to
// Postgres and through vecgate (answered from memory), each batch one round trip for the
// client. The ratio of the two ns/op is the speed-up.
func BenchmarkBatch(b *testing.B) {
	const rows, dim = 10000, 128
	dsn := pgtest.NewDB(b)
	admin := pgtest.Connect(b, dsn)
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE bench (id bigint PRIMARY KEY, emb vector(%d))`, dim),
		fmt.Sprintf(`INSERT INTO bench SELECT g, (SELECT array_agg(random()) FROM generate_series(1, %d) d WHERE g > 0)::vector
			FROM (SELECT setseed(0.5)) s, generate_series(1, %d) g`, dim, rows),
		`CREATE INDEX ON bench USING hnsw (emb vector_l2_ops)`, `ANALYZE bench`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	g := startTestGateway(b, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("b%d", time.Now().UnixNano()%1e6)})
	waitIndexed(b, g, rows)
	vecs := make([]string, 100)
	for i := range vecs {
		parts := make([]string, dim)
		for j := range parts {
			parts[j] = fmt.Sprintf("%.4f", float64((i*7919+j*104729)%1000)/1000)
		}
		vecs[i] = "[" + strings.Join(parts, ",") + "]"
	}
	const q = `SELECT id, emb <-> $1::vector AS d FROM bench ORDER BY emb <-> $1::vector LIMIT 10`
	n := 0
	send := func(b *testing.B, c *pgx.Conn) {
		batch := &pgx.Batch{}
		for range 10 {
			batch.Queue(q, vecs[n%len(vecs)])
			n++
		}
		br := c.SendBatch(ctx, batch)
		for range 10 {
			rows, err := br.Query()
			if err != nil {
				b.Fatal(err)
			}
			got := 0
			for rows.Next() {
				got++
			}
			if rows.Err() != nil || got != 10 {
				b.Fatalf("%d rows, %v", got, rows.Err())
			}
		}
		if err := br.Close(); err != nil {
			b.Fatal(err)
		}
	}
	sides := []struct {
		name string
		c    *pgx.Conn
	}{{"direct", pgtest.Connect(b, dsn)}, {"vecgate", pgtest.Connect(b, viaDSN(dsn, g))}}
	for _, side := range sides { // warm both: Postgres' index pages, vecgate's descriptions
		for range 50 {
			send(b, side.c)
		}
	}
	for _, side := range sides {
		b.Run(side.name, func(b *testing.B) {
			before, n0 := g.Stats().FastPath, n
			for b.Loop() {
				send(b, side.c)
			}
			b.ReportMetric(float64(g.Stats().FastPath-before)/float64(n-n0), "fast/query")
		})
	}
	// For comparison: the same 10 queries one after the other, each its own round trip.
	for _, side := range sides {
		b.Run(side.name+"-one-by-one", func(b *testing.B) {
			for b.Loop() {
				for range 10 {
					rows, err := side.c.Query(ctx, q, vecs[n%len(vecs)])
					n++
					if err != nil {
						b.Fatal(err)
					}
					rows.Close()
				}
			}
		})
	}
}

// TestRowLimitWire: an Execute with a row limit (JDBC's fetchSize) over a vector query gets
// what Postgres sends, byte for byte: outside a block vecgate answers it (the first rows and
// PortalSuspended, also when the limit is exactly the row count; all rows and their tag under
// a larger limit); a portal that outlives its Execute (a block, more Executes before the Sync)
// goes to Postgres.
func TestRowLimitWire(t *testing.T) {
	f := newFixture(t, 500)
	const vq = `SELECT id FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	sync := &pgproto3.Sync{}
	both := wireCompare(t, f)
	both("prepare", nil, &pgproto3.Query{String: "SET vecgate.max_wait = '10s'"},
		&pgproto3.Parse{Name: "vq", Query: vq}, &pgproto3.Describe{ObjectType: 'S', Name: "vq"}, sync)
	bind := func(portal string) *pgproto3.Bind {
		b := vecBind(f.vector())
		b.DestinationPortal = portal
		return b
	}
	for _, max := range []uint32{1, 3, 5, 6, 100} {
		both(fmt.Sprintf("max %d", max), []string{"intercept+1"}, bind(""), &pgproto3.Execute{MaxRows: max}, sync)
		both(fmt.Sprintf("max %d, named portal, described", max), []string{"intercept+1"}, bind("C_1"),
			&pgproto3.Describe{ObjectType: 'P', Name: "C_1"}, &pgproto3.Execute{Portal: "C_1", MaxRows: max}, sync)
	}
	// Through the rewrite (a filter vecgate does not hold): Postgres' rounds run without the limit.
	both("prepare vr", nil, &pgproto3.Parse{Name: "vr", Query: `SELECT id, title FROM items WHERE id % 2 = 0
		ORDER BY emb <-> $1::vector LIMIT 5`}, sync)
	for _, max := range []uint32{2, 5, 7} {
		fast := f.g.Stats().FastPath
		b := bind("")
		b.PreparedStatement = "vr"
		both(fmt.Sprintf("rewrite, max %d", max), []string{"intercept+1"}, b,
			&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{MaxRows: max}, sync)
		if f.g.Stats().FastPath != fast {
			t.Errorf("rewrite, max %d: answered from memory", max)
		}
	}
	both("the portal after its Sync", nil, &pgproto3.Execute{Portal: "C_1", MaxRows: 2}, sync)
	both("two Executes before the Sync", []string{"forward:portal+1"}, bind("C_2"),
		&pgproto3.Execute{Portal: "C_2", MaxRows: 2}, &pgproto3.Execute{Portal: "C_2", MaxRows: 2}, sync)
	// In a block (JDBC's fetchSize): a named portal's rows are fetched by later Executes; vecgate
	// holds them, Postgres the consumed portal, which says whether the client's would still be
	// there.
	exec := func(portal string, max uint32) *pgproto3.Execute {
		return &pgproto3.Execute{Portal: portal, MaxRows: max}
	}
	both("BEGIN", nil, &pgproto3.Query{String: "BEGIN"})
	both("in a block", []string{"intercept+1"}, bind("C_3"), exec("C_3", 2), sync)
	for i := range 3 {
		both(fmt.Sprintf("fetch %d", i), []string{}, exec("C_3", 2), sync)
	}
	both("fetch past the end", nil, exec("C_3", 2), sync)
	both("fetch the rest", []string{"intercept+1"}, bind("C_4"), exec("C_4", 2), sync, exec("C_4", 0), sync)
	both("two portals", []string{"intercept+2"}, bind("C_5"), exec("C_5", 1), sync, bind("C_6"), exec("C_6", 4), sync,
		exec("C_5", 3), sync, exec("C_6", 4), sync, exec("C_5", 3), sync)
	both("unnamed in a block", []string{"forward:portal+1"}, bind(""), exec("", 2), sync)
	// Fetches after other messages of their pipeline (JDBC closes statements it dropped first).
	both("to fetch after others", []string{"intercept+1"}, bind("C_11"), exec("C_11", 1), sync)
	both("after a Close", nil, &pgproto3.Close{ObjectType: 'S', Name: "nosuch"}, exec("C_11", 1), sync)
	both("after an Execute", nil, &pgproto3.Parse{Name: "one", Query: "SELECT 1"}, &pgproto3.Bind{PreparedStatement: "one",
		DestinationPortal: "p1"}, exec("p1", 0), &pgproto3.Describe{ObjectType: 'S', Name: "vq"}, exec("C_11", 1),
		&pgproto3.Bind{PreparedStatement: "one", DestinationPortal: "p2"}, exec("p2", 0), sync)
	both("after a Parse", nil, &pgproto3.Parse{Name: "parsed_inline", Query: vq}, exec("C_11", 1), sync)
	both("that Parse's statement", []string{"intercept+1"}, &pgproto3.Bind{PreparedStatement: "parsed_inline",
		Parameters: [][]byte{[]byte(f.vector())}}, exec("", 0), sync)
	both("after a Describe, the rest", nil, &pgproto3.Describe{ObjectType: 'S', Name: "vq"}, exec("C_11", 0), sync)
	both("after a Flush, past the end", nil, &pgproto3.Flush{}, exec("C_11", 1), exec("C_11", 1), sync)
	for _, filter := range []string{"id % 2 = 0", "id % 20 = 0", "id % 200 = 3"} { // the rounds widen
		b := bind("C_8")
		b.PreparedStatement = "vf"
		both("filtered "+filter, nil, &pgproto3.Parse{Name: "vf", Query: `SELECT id, title FROM items WHERE ` + filter +
			` ORDER BY emb <-> $1::vector LIMIT 5`}, sync, b, &pgproto3.Describe{ObjectType: 'P', Name: "C_8"},
			exec("C_8", 2), sync, exec("C_8", 2), sync, exec("C_8", 2), sync, &pgproto3.Close{ObjectType: 'P', Name: "C_8"},
			&pgproto3.Close{ObjectType: 'S', Name: "vf"}, sync)
	}
	both("SAVEPOINT", nil, &pgproto3.Query{String: "SAVEPOINT a"})
	both("in a savepoint", []string{"intercept+1"}, bind("C_9"), exec("C_9", 2), sync)
	both("ROLLBACK TO", nil, &pgproto3.Query{String: "ROLLBACK TO a"})
	both("after ROLLBACK TO", nil, exec("C_9", 2), sync)
	both("COMMIT", nil, &pgproto3.Query{String: "COMMIT"})
	both("after COMMIT", nil, exec("C_3", 2), sync)
	both("BEGIN again", nil, &pgproto3.Query{String: "BEGIN"})
	both("before an error", []string{"intercept+1"}, bind("C_10"), exec("C_10", 2), sync)
	both("an error before the fetch", nil, &pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{},
		exec("", 0), exec("C_10", 2), sync)
	both("the error", nil, &pgproto3.Query{String: "SELECT 1/0"})
	both("in the failed block", nil, exec("C_10", 2), sync)
	both("ROLLBACK", nil, &pgproto3.Query{String: "ROLLBACK"})
	both("BEGIN a third time", nil, &pgproto3.Query{String: "BEGIN"})
	both("closed", []string{"intercept+1"}, bind("C_7"), exec("C_7", 1), sync,
		&pgproto3.Close{ObjectType: 'P', Name: "C_7"}, sync, exec("C_7", 1), sync)
	both("ROLLBACK again", nil, &pgproto3.Query{String: "ROLLBACK"})
	// The unnamed portal in a block stays the client's across vecgate's own statements (its table
	// check, savepoints), made again after the session's SET.
	both("BEGIN for the unnamed portal", nil, &pgproto3.Query{String: "BEGIN"})
	both("the unnamed portal", []string{"intercept+1"}, bind(""), &pgproto3.Execute{}, sync)
	both("a SET", nil, &pgproto3.Query{String: "SET LOCAL enable_seqscan = on"})
	both("a named portal", []string{"intercept+1"}, bind("C_12"), &pgproto3.Execute{Portal: "C_12"}, sync)
	both("the unnamed portal again", nil, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, sync)
	both("ROLLBACK the last", nil, &pgproto3.Query{String: "ROLLBACK"})
}

// TestPipelineFuzz: random pipelines of vector executions (whole, row-limited on named portals,
// fetched later), errors, failed Parses, Closes, Describes and Flushes, in and out of transaction
// blocks with savepoints, each sent through vecgate and directly: every message the same, byte
// for byte (seeded).
func TestPipelineFuzz(t *testing.T) {
	f := newFixture(t, 500)
	compare := wireCompare(t, f)
	both := func(step string, wantMoved []string, msgs ...pgproto3.FrontendMessage) {
		t.Helper()
		before := f.g.Stats()
		compare(step, wantMoved, msgs...)
		if os.Getenv("VECGATE_TEST_TRACE") != "" {
			t.Logf("%s: %v", step, statsMoved(before, f.g.Stats()))
		}
	}
	const vq = `SELECT id FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	const bad = `SELECT id, nosuch FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	both("prepare", nil, &pgproto3.Query{String: "SET vecgate.max_wait = '10s'"},
		&pgproto3.Parse{Name: "vq", Query: vq}, &pgproto3.Sync{})
	seed := uint64(14)
	if v := os.Getenv("VECGATE_PIPELINE_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 4))
	portal := func() string { return fmt.Sprintf("P%d", rng.IntN(3)) }
	steps := []func() []pgproto3.FrontendMessage{
		func() []pgproto3.FrontendMessage { // a vector execution
			out := []pgproto3.FrontendMessage{vecBind(f.vector())}
			if rng.IntN(2) == 0 {
				out = append(out, &pgproto3.Describe{ObjectType: 'P'})
			}
			return append(out, &pgproto3.Execute{})
		},
		func() []pgproto3.FrontendMessage { // row-limited, on a named portal
			b, p := vecBind(f.vector()), portal()
			b.DestinationPortal = p
			return []pgproto3.FrontendMessage{b, &pgproto3.Execute{Portal: p, MaxRows: uint32(rng.IntN(7))}}
		},
		func() []pgproto3.FrontendMessage { // a fetch
			return []pgproto3.FrontendMessage{&pgproto3.Execute{Portal: portal(), MaxRows: uint32(rng.IntN(4))}}
		},
		func() []pgproto3.FrontendMessage {
			return []pgproto3.FrontendMessage{&pgproto3.Close{ObjectType: 'P', Name: portal()}}
		},
		func() []pgproto3.FrontendMessage {
			return []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SELECT 1/0"}, &pgproto3.Bind{}, &pgproto3.Execute{}}
		},
		func() []pgproto3.FrontendMessage {
			return []pgproto3.FrontendMessage{&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}}
		},
		func() []pgproto3.FrontendMessage {
			return []pgproto3.FrontendMessage{&pgproto3.Parse{Query: bad}, unnamed(vecBind(f.vector())), &pgproto3.Execute{}}
		},
		func() []pgproto3.FrontendMessage { return []pgproto3.FrontendMessage{&pgproto3.Flush{}} },
		func() []pgproto3.FrontendMessage {
			return []pgproto3.FrontendMessage{&pgproto3.Close{ObjectType: 'S', Name: "nosuch"}}
		},
		func() []pgproto3.FrontendMessage {
			return []pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'S', Name: "vq"}}
		},
		func() []pgproto3.FrontendMessage { // the unnamed portal again
			if rng.IntN(2) == 0 {
				return []pgproto3.FrontendMessage{&pgproto3.Describe{ObjectType: 'P'}}
			}
			return []pgproto3.FrontendMessage{&pgproto3.Execute{MaxRows: uint32(rng.IntN(3))}}
		},
	}
	queries := []string{"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT a", "ROLLBACK TO a", "RELEASE a", "SELECT 1"}
	for i := range 300 {
		if rng.IntN(5) == 0 {
			q := queries[rng.IntN(len(queries))]
			both(fmt.Sprintf("%d: %s", i, q), nil, &pgproto3.Query{String: q})
			continue
		}
		var msgs []pgproto3.FrontendMessage
		var names []string
		for range 1 + rng.IntN(4) {
			k := rng.IntN(len(steps)+4) % len(steps) // vector executions, limited ones and fetches twice as often
			msgs = append(msgs, steps[k]()...)
			names = append(names, strconv.Itoa(k))
		}
		both(fmt.Sprintf("%d: pipeline %s", i, strings.Join(names, ",")), nil, append(msgs, &pgproto3.Sync{})...)
	}
	t.Logf("%+v", f.g.Stats())
}
