package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
)

// standbyHarness is a primary of its own and one physical standby of it, started through
// scripts/pg (VECGATE_PG_DATA and VECGATE_PG_PORT name the primary; `standby` makes the standby),
// removed when the test ends. The shared test server is left alone: no physical slot on it, no
// base backup of its databases.
type standbyHarness struct {
	t                    *testing.T
	env                  []string
	root, data           string
	primary, standby     string // DSNs (database postgres)
	primaryPort, stbPort int
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newStandbyHarness starts the primary and the standby "s", or skips saying why it cannot.
func newStandbyHarness(t *testing.T) *standbyHarness {
	t.Helper()
	pgtest.DSN(t) // skips locally without a test server, fails in CI
	if os.Geteuid() != 0 {
		t.Skip("the standby harness (scripts/pg standby) runs Postgres in a chroot and needs root")
	}
	h := &standbyHarness{t: t, data: fmt.Sprintf("/var/lib/pgdata-standby-test-%d", rand.Uint32()),
		primaryPort: freePort(t), stbPort: freePort(t)}
	h.env = append(os.Environ(), "VECGATE_PG_DATA="+h.data, fmt.Sprintf("VECGATE_PG_PORT=%d", h.primaryPort))
	if out, err := h.cmd("status").CombinedOutput(); strings.Contains(string(out), "not installed") {
		t.Skipf("the Postgres harness is not installed (scripts/pg install): %s %v", out, err)
	}
	h.root = strings.TrimSpace(h.run("root"))
	t.Cleanup(func() {
		_, _ = h.cmd("drop", "s").CombinedOutput()
		_, _ = h.cmd("stop").CombinedOutput()
		_ = os.RemoveAll(filepath.Join(h.root, h.data))
		_ = os.RemoveAll(filepath.Join(h.root, h.data+".standby"))
	})
	h.run("start")
	h.run("standby", "s", fmt.Sprint(h.stbPort))
	h.primary = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", h.primaryPort)
	h.standby = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", h.stbPort)
	return h
}

func (h *standbyHarness) cmd(args ...string) *exec.Cmd {
	cmd := pgtest.Tool(h.t, args[0], args[1:]...)
	cmd.Env = h.env
	return cmd
}

func (h *standbyHarness) run(args ...string) string {
	h.t.Helper()
	out, err := h.cmd(args...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("scripts/pg %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (h *standbyHarness) gateway(standby, primary string) (*Gateway, error) {
	h.t.Helper()
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", primary
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("VECGATE_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	g, err := startGateway(context.Background(), cfg, Config{Intercept: true, Standby: standby, SlotName: "s"})
	if err == nil {
		h.t.Cleanup(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = g.Close(sctx)
		})
	}
	return g, err
}

// TestStandbyReadScaleOut runs vecgate on a physical standby (--upstream the standby, --primary
// the primary): it refuses a standby without hot_standby_feedback or with wal_level = replica,
// and an upstream that is a standby with no primary, saying what to set; its slot is on the standby and its publication on
// the primary; vector queries are answered by vecgate and equal the primary's answers; a write
// through it lands on the primary and the session's next vector query sees it (read-your-writes,
// after the standby replayed it); a restart of the standby and its promotion are survived
// without a reload.
func TestStandbyReadScaleOut(t *testing.T) {
	h := newStandbyHarness(t)
	ctx := context.Background()
	stb := pgtest.Connect(t, h.standby)

	// Bad input first: a standby without hot_standby_feedback, then a standby as the only upstream.
	runAll(t, stb, `ALTER SYSTEM SET hot_standby_feedback = off`, `SELECT pg_reload_conf()`)
	waitSetting(t, stb, "hot_standby_feedback", "off")
	if _, err := h.gateway(h.standby, h.primary); err == nil {
		t.Fatal("vecgate started on a standby without hot_standby_feedback")
	} else if !strings.Contains(err.Error(), "set hot_standby_feedback = on") {
		t.Errorf("error without the setting to change: %v", err)
	}
	runAll(t, stb, `ALTER SYSTEM RESET hot_standby_feedback`, `SELECT pg_reload_conf()`)
	waitSetting(t, stb, "hot_standby_feedback", "on")
	// wal_level takes a restart of the standby.
	runAll(t, stb, `ALTER SYSTEM SET wal_level = replica`)
	h.run("stop", "s")
	h.run("standby", "s")
	if _, err := h.gateway(h.standby, h.primary); err == nil {
		t.Fatal("vecgate started on a standby with wal_level = replica")
	} else if !strings.Contains(err.Error(), "set wal_level = logical on the standby") {
		t.Errorf("error without the setting to change: %v", err)
	}
	stb = pgtest.Connect(t, h.standby)
	runAll(t, stb, `ALTER SYSTEM RESET wal_level`)
	h.run("stop", "s")
	h.run("standby", "s")
	stb = pgtest.Connect(t, h.standby)
	if _, err := h.gateway("", h.standby); err == nil {
		t.Fatal("vecgate started with a standby as its only upstream")
	} else if !strings.Contains(err.Error(), "--primary") {
		t.Errorf("error without the setting to change: %v", err)
	}

	direct := pgtest.Connect(t, h.primary)
	runAll(t, direct, itemsTable(2000)...)
	runAll(t, direct, `CREATE INDEX ON items USING hnsw (emb vector_l2_ops)`)
	// The primary's DSN names the standby as its second host: after a failover (below) client
	// sessions go there.
	g, err := h.gateway(h.standby, fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable", h.primaryPort, h.stbPort))
	if err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, g, 2000)
	var where string
	if err := stb.QueryRow(ctx, `SELECT string_agg(slot_type || ':' || slot_name, ',') FROM pg_replication_slots WHERE slot_name = 'vecgate_s'`).Scan(&where); err != nil || where != "logical:vecgate_s" {
		t.Errorf("vecgate's slot on the standby: %q %v, want logical:vecgate_s", where, err)
	}
	var onPrimary, pub int
	if err := direct.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_type = 'logical'),
		(SELECT count(*) FROM pg_publication WHERE pubname = 'vecgate_s')`).Scan(&onPrimary, &pub); err != nil || onPrimary != 0 || pub != 1 {
		t.Errorf("on the primary: %d logical slots (want 0) and %d publications vecgate_s (want 1), %v", onPrimary, pub, err)
	}

	via := pgtest.Connect(t, viaDSN(h.primary, g))
	waitLonger(t, via)
	f := &fixture{rng: rand.New(rand.NewPCG(15, 3))}
	answered := func(step string, q string) {
		t.Helper()
		before := g.Stats()
		got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, fastShape, q)
		if moved := statsMoved(before, g.Stats()); !slices.Equal(moved, []string{"intercept+1"}) {
			t.Errorf("%s: counters moved %v, want intercept+1", step, moved)
		}
		if want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, fastShape, q); !sameRows(got, want) {
			t.Errorf("%s: WRONG ANSWER through vecgate %v, on the primary %v", step, got, want)
		}
	}
	for i := range 5 {
		answered(fmt.Sprintf("query %d", i), f.vector())
	}

	// A table created on the primary while vecgate runs is loaded alone, from the standby (a
	// temporary slot there, the publication altered on the primary).
	runAll(t, direct, `CREATE TABLE items2 (id bigint PRIMARY KEY, emb vector(16))`,
		`INSERT INTO items2 SELECT id, emb FROM items WHERE id % 4 = 0`,
		`CREATE INDEX ON items2 USING hnsw (emb vector_l2_ops)`)
	waitLen(t, g, "items2", ann.L2, 500)
	{
		q := f.vector()
		const shape = `SELECT id, emb <-> $1::vector AS d FROM items2 ORDER BY emb <-> $1::vector LIMIT 5`
		before := g.Stats()
		got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, shape, q)
		if moved := statsMoved(before, g.Stats()); !slices.Equal(moved, []string{"intercept+1"}) {
			t.Errorf("new table: counters moved %v, want intercept+1", moved)
		}
		if want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, shape, q); !sameRows(got, want) {
			t.Errorf("new table: WRONG ANSWER through vecgate %v, on the primary %v", got, want)
		}
		if st := g.stream.Status(); st.TableLoads < 1 || st.Resnapshots != 1 {
			t.Errorf("new table: %d tables loaded alone, %d full loads (want ≥ 1 and 1)", st.TableLoads, st.Resnapshots)
		}
	}

	// Read-your-writes: the row written through vecgate (on the primary) is the next answer's
	// first, once the standby has replayed it and vecgate applied it.
	ref := direct // the primary, whose answers are the reference
	readsOwnWrite := func(step string, id int) {
		t.Helper()
		q := f.vector()
		runAll(t, via, fmt.Sprintf(`INSERT INTO items (id, category, rare, title, emb) VALUES (%d, 0, 0, 'new', '%s')`, id, q))
		var n int
		if err := ref.QueryRow(ctx, `SELECT count(*) FROM items WHERE id = $1`, id).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: the write is not on the primary (%d rows, %v)", step, n, err)
		}
		before := g.Stats()
		got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, fastShape, q)
		if moved := statsMoved(before, g.Stats()); !slices.Equal(moved, []string{"intercept+1"}) {
			t.Errorf("%s: counters moved %v, want intercept+1", step, moved)
		}
		if len(got) == 0 || got[0].id != int64(id) {
			t.Errorf("%s: own write %d not first: %v", step, id, got)
		}
		if want := idDists(t, ref, pgx.QueryExecModeSimpleProtocol, fastShape, q); !sameRows(got, want) {
			t.Errorf("%s: WRONG ANSWER through vecgate %v, on the primary %v", step, got, want)
		}
	}
	readsOwnWrite("read-your-writes", 100001)

	// With the standby's replay paused, a write on the primary cannot reach vecgate: the
	// session's next vector query waits its max_wait and goes to the primary, which has the row.
	runAll(t, stb, `SELECT pg_wal_replay_pause()`)
	runAll(t, via, `SET vecgate.max_wait = '300ms'`,
		`INSERT INTO items (id, category, rare, title, emb) VALUES (100005, 0, 0, 'paused', '[7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7]')`)
	before := g.Stats()
	got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, fastShape, "[7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7]")
	if moved := statsMoved(before, g.Stats()); !slices.Equal(moved, []string{"forward:lagging+1"}) {
		t.Errorf("replay paused: counters moved %v, want forward:lagging+1", moved)
	}
	if len(got) == 0 || got[0].id != 100005 {
		t.Errorf("replay paused: own write 100005 not first: %v", got)
	}
	runAll(t, stb, `SELECT pg_wal_replay_resume()`)
	waitLonger(t, via)

	// A transaction block that writes is the primary's: its vector query is forwarded and sees
	// the block's own row.
	runAll(t, via, "BEGIN", `INSERT INTO items (id, category, rare, title, emb) VALUES (100002, 0, 0, 'in block', '[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]')`)
	if got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, fastShape, "[9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9]"); len(got) == 0 || got[0].id != 100002 {
		t.Errorf("in a block that wrote: %v, want 100002 first", got)
	}
	runAll(t, via, "ROLLBACK")

	// The standby restarts: the stream reconnects and resumes from its slot.
	loads := g.stream.Status().Resnapshots
	h.run("stop", "s")
	h.run("standby", "s")
	stb2 := pgtest.Connect(t, h.standby)
	deadline := time.Now().Add(30 * time.Second)
	for active := false; !active || !g.stream.Ready(); {
		if err := stb2.QueryRow(ctx, `SELECT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = 'vecgate_s'`).Scan(&active); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replication session on the restarted standby: %+v", g.stream.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	readsOwnWrite("after the standby's restart", 100003)
	if n := g.stream.Status().Resnapshots; n != loads {
		t.Errorf("the standby's restart cost a full reload (%d loads, was %d)", n, loads)
	}

	// Failover: the standby is promoted and the primary stops. Sessions go to the promoted
	// server (the next host of the primary DSN), the stream goes on from its slot there.
	h.run("promote", "s")
	h.run("stop")
	via.Close(ctx)
	via = pgtest.Connect(t, viaDSN(h.primary, g))
	waitLonger(t, via)
	ref = stb2
	readsOwnWrite("after the promotion", 100004)
	if n := g.stream.Status().Resnapshots; n != loads {
		t.Errorf("the promotion cost a full reload (%d loads, was %d)", n, loads)
	}
}

func waitSetting(t *testing.T, c *pgx.Conn, name, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var v string
		if err := c.QueryRow(context.Background(), "SELECT current_setting($1)", name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s after reload, want %s", name, v, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
