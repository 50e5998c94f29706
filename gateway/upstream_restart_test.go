package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
	"github.com/vecgate/vecgate/replication"
)

// TestUpstreamRestart restarts a real Postgres under a running vecgate, twice, while a writer
// keeps writing: vecgate reconnects, resumes from its slot, and its index again holds exactly the
// table's rows; queries are intercepted again. The server is a second one, on its own port and
// data directory (scripts/pg with VECGATE_PG_DATA), so that other tests keep theirs.
func TestUpstreamRestart(t *testing.T) {
	pgtest.DSN(t) // skips locally without a test server, fails in CI
	env := append(os.Environ(), "VECGATE_PG_DATA=/var/lib/pgdata-restart-test", "VECGATE_PG_PORT=55439")
	pg := func(args ...string) {
		t.Helper()
		cmd := pgtest.Tool(t, args[0], args[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/pg %v: %v\n%s", args, err, out)
		}
	}
	pg("start")
	t.Cleanup(func() { pg("stop") })
	// A database of its own: the server outlives the run (and other checkouts use it too).
	server := "postgres://postgres@127.0.0.1:55439/postgres?sslmode=disable"
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatal(err)
	}
	db := fmt.Sprintf("vg_rt_%d", rand.Uint32())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, server); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	dsn := "postgres://postgres@127.0.0.1:55439/" + db + "?sslmode=disable"
	if admin, err = pgx.Connect(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active AND database = current_database()`,
		`CREATE TABLE rt (id bigserial PRIMARY KEY, e vector(4))`,
		`INSERT INTO rt (e) SELECT ARRAY[g, g % 9, g % 5, 1]::vector FROM generate_series(1, 1000) g`,
		`CREATE INDEX rt_e ON rt USING hnsw (e vector_l2_ops)`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	admin.Close(ctx)

	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", dsn
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	slot := fmt.Sprintf("u%d", rand.Uint32())
	g, err := startGateway(ctx, cfg, Config{Intercept: true, SlotName: slot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = g.Close(ctx)
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active AND database = current_database()`)
			c.Close(ctx)
		}
	})
	waitIndexed(t, g, 1000)

	// A writer that keeps inserting, updating and deleting through restarts (errors while the
	// server is down are expected; it retries).
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var c *pgx.Conn
		defer func() {
			if c != nil {
				c.Close(ctx)
			}
		}()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if c == nil || c.IsClosed() {
				if c, err = pgx.Connect(ctx, dsn); err != nil {
					c = nil
					time.Sleep(50 * time.Millisecond)
					continue
				}
			}
			var q string
			switch i % 3 {
			case 0:
				q = fmt.Sprintf(`INSERT INTO rt (e) VALUES ('[%d,1,2,3]')`, 2000+i)
			case 1:
				q = fmt.Sprintf(`UPDATE rt SET e = '[%d,4,4,4]' WHERE id = %d`, i, 1+i%900)
			case 2:
				q = fmt.Sprintf(`DELETE FROM rt WHERE id = %d`, 1+(i*7)%1000)
			}
			if _, err := c.Exec(ctx, q); err != nil {
				c.Close(ctx)
				c = nil
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	for round := range 2 {
		time.Sleep(300 * time.Millisecond)
		pg("stop")
		time.Sleep(200 * time.Millisecond)
		pg("start")
		t.Logf("restart %d done", round+1)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var want int
	var lsn string
	if err := c.QueryRow(ctx, `SELECT count(*), pg_current_wal_lsn()::text FROM rt`).Scan(&want, &lsn); err != nil {
		t.Fatal(err)
	}
	l, err := replication.ParseLSN(lsn)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := g.stream.WaitFor(wctx, l); err != nil {
		t.Fatalf("after restarts, not caught up with %s: %v; %+v", lsn, err, g.stream.Status())
	}
	if indexed(g) != want {
		t.Fatalf("after restarts: index %d rows, table %d", indexed(g), want)
	}
	via, err := pgx.Connect(ctx, viaDSN(dsn, g))
	if err != nil {
		t.Fatal(err)
	}
	defer via.Close(ctx)
	before := g.Stats().Intercepted
	got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, `SELECT id, e <-> '[500,5,0,1]' FROM rt ORDER BY e <-> '[500,5,0,1]' LIMIT 3`)
	if len(got) != 3 || g.Stats().Intercepted != before+1 {
		t.Fatalf("after restarts: %v, intercepted %d", got, g.Stats().Intercepted-before)
	}
	t.Logf("%d rows after two restarts; last replication error: %s", want, g.stream.Status().LastError)
}
