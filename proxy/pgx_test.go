package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestPgxProtocols runs the same workload with each of pgx's query execution modes (simple
// protocol, extended with and without statement caching, described) through vecgate and directly,
// and compares the results.
func TestPgxProtocols(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	setup := connect(t, dsn)
	mustExec(t, setup, `CREATE TABLE docs (id bigint PRIMARY KEY, body text, tags text[], score float8, emb vector(3))`)
	mustExec(t, setup, `INSERT INTO docs SELECT g, 'doc ' || g, ARRAY['t' || (g % 3)], g / 7.0,
		ARRAY[g, g % 5, 1]::vector FROM generate_series(1, 500) g`)

	modes := map[string]pgx.QueryExecMode{
		"simple":         pgx.QueryExecModeSimpleProtocol,
		"cache_stmt":     pgx.QueryExecModeCacheStatement,
		"cache_describe": pgx.QueryExecModeCacheDescribe,
		"describe_exec":  pgx.QueryExecModeDescribeExec,
		"exec":           pgx.QueryExecModeExec,
	}
	workload := func(t *testing.T, c *pgx.Conn, mode pgx.QueryExecMode) string {
		ctx := ctxT(t, time.Minute)
		var b strings.Builder
		for _, lim := range []int{1, 10, 200} {
			rows, err := c.Query(ctx, `SELECT id, body, tags, score, emb::text, emb <-> $1::vector AS d
				FROM docs WHERE score > $2 ORDER BY emb <-> $1::vector, id LIMIT $3`, mode, "[10,2,1]", 1.5, lim)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				var body, emb string
				var tags []string
				var score, d float64
				if err := rows.Scan(&id, &body, &tags, &score, &emb, &d); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(&b, id, body, tags, score, emb, d)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
		}
		// An error mid-session leaves the session usable.
		_, err := c.Exec(ctx, `SELECT id FROM docs WHERE id = $1`, mode, "not a number")
		fmt.Fprintln(&b, "error:", errCode(err))
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM docs WHERE body LIKE $1`, mode, "doc 1%").Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, "count", n)
		return b.String()
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			want := workload(t, connect(t, dsn), mode)
			got := workload(t, connect(t, via(dsn)), mode)
			if got != want {
				t.Errorf("through vecgate:\n%s\ndirect:\n%s", got, want)
			}
			if !strings.Contains(want, "error: 22P02") || !strings.Contains(want, "count 111") {
				t.Errorf("workload did not run as designed:\n%s", want)
			}
		})
	}
}

// TestPgxBatchPipeline sends a pipelined batch (many Parse/Bind/Execute before one Sync) with an
// error in the middle, through vecgate.
func TestPgxBatchPipeline(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	c := connect(t, via(dsn))
	ctx := ctxT(t, time.Minute)
	mustExec(t, c, `CREATE TABLE p (id int PRIMARY KEY, v vector(2))`)

	b := &pgx.Batch{}
	for i := range 100 {
		b.Queue(`INSERT INTO p VALUES ($1, $2::vector)`, i, fmt.Sprintf("[%d,%d]", i, -i))
	}
	b.Queue(`SELECT count(*) FROM p`)
	res := c.SendBatch(ctx, b)
	for i := range 100 {
		if _, err := res.Exec(); err != nil {
			t.Fatalf("insert %d: %v", i, err)
		}
	}
	var n int
	if err := res.QueryRow().Scan(&n); err != nil || n != 100 {
		t.Fatalf("count = %d, %v; want 100", n, err)
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}

	// A failing statement inside a batch fails the rest of it, as Postgres says.
	b = &pgx.Batch{}
	b.Queue(`SELECT 1`)
	b.Queue(`INSERT INTO p VALUES (1, '[0,0]')`) // duplicate key
	b.Queue(`SELECT 3`)
	res = c.SendBatch(ctx, b)
	if _, err := res.Exec(); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Exec(); errCode(err) != "23505" {
		t.Fatalf("duplicate insert: got %v, want 23505", err)
	}
	_ = res.Close()
	var one int
	if err := c.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatalf("session unusable after batch error: %v", err)
	}

	// pgconn's raw pipeline mode: prepare, then several executions queued before one Sync.
	pc := c.PgConn()
	pl := pc.StartPipeline(ctx)
	pl.SendPrepare("byid", `SELECT v::text FROM p WHERE id = $1`, nil)
	for _, id := range []string{"3", "5", "7"} {
		pl.SendQueryPrepared("byid", [][]byte{[]byte(id)}, nil, nil)
	}
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		r, err := pl.GetResults()
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		switch r := r.(type) {
		case *pgconn.ResultReader:
			rr := r.Read()
			if rr.Err != nil {
				t.Fatal(rr.Err)
			}
			for _, row := range rr.Rows {
				got = append(got, string(row[0]))
			}
		case *pgconn.PipelineSync:
		}
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "[3,-3] [5,-5] [7,-7]" {
		t.Fatalf("pipeline results %v", got)
	}
}

// TestListenNotify: a notification sent by another session reaches a client listening through
// vecgate.
func TestListenNotify(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	listener := connect(t, via(dsn))
	mustExec(t, listener, `LISTEN vecgate_test`)
	sender := connect(t, dsn)
	mustExec(t, sender, `SELECT pg_notify('vecgate_test', 'hello')`)
	n, err := listener.WaitForNotification(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != "vecgate_test" || n.Payload != "hello" {
		t.Fatalf("notification %+v", n)
	}
}

// TestNoticeResponse: notices (and their severity) arrive through vecgate.
func TestNoticeResponse(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	cfg, err := pgx.ParseConfig(via(dsn))
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Severity+":"+n.Message) }
	c, err := pgx.ConnectConfig(ctxT(t, time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	mustExec(t, c, `DO $$ BEGIN RAISE NOTICE 'n1'; RAISE WARNING 'w1'; END $$`)
	if strings.Join(notices, ",") != "NOTICE:n1,WARNING:w1" {
		t.Fatalf("notices %v", notices)
	}
}

func errCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err == nil {
		return ""
	}
	return "not a PgError: " + err.Error()
}
