// Tests that vecgate intercepts nothing while a session's string literals mean something else
// than the planner reads (standard_conforming_strings off).
package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// noticeConn connects to dsn and collects the SQLSTATE of each notice (a WARNING among them)
// the server sends it, in order.
func noticeConn(t *testing.T, dsn string) (*pgx.Conn, *[]string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	codes := new([]string)
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { *codes = append(*codes, n.Severity+" "+n.Code) }
	c, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c, codes
}

// TestStandardConformingStringsOff: with standard_conforming_strings off, Postgres reads 'x\\y'
// as x\y (and warns of the backslash, 22P06, while escape_string_warning is on); vecgate's
// planner reads the statement with it on. Through vecgate a session gets Postgres' own rows,
// values and warnings — simple protocol, extended (a statement parsed now, one prepared while
// off, one prepared before) and EXPLAIN — because vecgate forwards while it is off; back on, it
// intercepts again, but not a statement prepared while it was off.
func TestStandardConformingStringsOff(t *testing.T) {
	f := newFixture(t, 500)
	ctx := context.Background()
	admin := pgtest.Connect(t, f.dsn)
	mustExec(t, admin, "SET enable_indexscan = off")
	v := f.vector()
	var nearest int64
	if err := admin.QueryRow(ctx, "SELECT id FROM items ORDER BY emb <-> $1::vector LIMIT 1", v).Scan(&nearest); err != nil {
		t.Fatal(err)
	}
	mustExec(t, admin, fmt.Sprintf(`UPDATE items SET title = E'x\\y' WHERE id = %d`, nearest)) // the title x\y
	caughtUp(t, f.g, admin)

	via, viaNotes := noticeConn(t, f.via)
	waitLonger(t, via) // after each SET its next vector query waits for replication: not 100 ms on a loaded machine
	direct, directNotes := noticeConn(t, f.dsn)
	mustExec(t, direct, "SET enable_indexscan = off") // the exact order, as the rewrite's
	both := func(sqls ...string) {
		t.Helper()
		mustExec(t, via, sqls...)
		mustExec(t, direct, sqls...)
	}
	filtered := `SELECT id, title FROM items WHERE title <> 'x\\y' ORDER BY emb <-> '` + v + `' LIMIT 2`
	selected := `SELECT id, 'x\\y' AS z FROM items ORDER BY emb <-> '` + v + `' LIMIT 2`
	const ext = `SELECT id, title FROM items WHERE title <> 'x\\y' ORDER BY emb <-> $1::vector LIMIT 2`
	same := func(step, sql string) {
		t.Helper()
		*viaNotes, *directNotes = nil, nil
		got, want := rawAnswer(t, via, sql), rawAnswer(t, direct, sql)
		if got != want || strings.Join(*viaNotes, ",") != strings.Join(*directNotes, ",") {
			t.Errorf("%s: %s\nthrough vecgate:\n%s(notices %v)\ndirectly:\n%s(notices %v)", step, sql, got, *viaNotes, want, *directNotes)
		}
	}
	sameExt := func(step, name string) {
		t.Helper()
		*viaNotes, *directNotes = nil, nil
		got, want := rawExtended(t, via, name, ext, v), rawExtended(t, direct, name, ext, v)
		if got != want || strings.Join(*viaNotes, ",") != strings.Join(*directNotes, ",") {
			t.Errorf("%s, extended %q:\nthrough vecgate:\n%s(notices %v)\ndirectly:\n%s(notices %v)", step, name, got, *viaNotes, want, *directNotes)
		}
	}
	prepare := func(name string) {
		t.Helper()
		for _, c := range []*pgx.Conn{via, direct} {
			if _, err := c.PgConn().Prepare(ctx, name, ext, nil); err != nil {
				t.Fatal(err)
			}
		}
	}

	// On: the statements are vecgate's (and x\\y is no title).
	before := f.g.Stats().Intercepted
	same("on", filtered)
	same("on", selected)
	sameExt("on", "")
	prepare("p_on")
	sameExt("on", "p_on")
	if n := f.g.Stats().Intercepted - before; n != 4 {
		t.Fatalf("%d of 4 statements intercepted with standard_conforming_strings on: the test proves nothing", n)
	}

	both("SET standard_conforming_strings = off", "SET escape_string_warning = off")
	before, forwarded := f.g.Stats().Intercepted, f.g.Stats().Forwarded["standard_conforming_strings"]
	same("off", filtered)
	sameExt("off", "")
	sameExt("off, prepared while on", "p_on")
	prepare("p_off")
	sameExt("off, prepared while off", "p_off")
	mustExec(t, direct, "SET enable_indexscan = on") // as via's session has it
	same("off, EXPLAIN", "EXPLAIN (COSTS OFF) "+filtered)
	mustExec(t, direct, "SET enable_indexscan = off")
	both("SET escape_string_warning = on")
	same("off, warning", selected)
	same("off, warning", filtered)
	if len(*directNotes) == 0 {
		t.Error("no warning directly: the test proves nothing")
	}
	if n := f.g.Stats().Intercepted - before; n != 0 {
		t.Errorf("%d statements intercepted with standard_conforming_strings off", n)
	}
	if n := f.g.Stats().Forwarded["standard_conforming_strings"] - forwarded; n != 6 {
		t.Errorf("%d of 6 statements forwarded for standard_conforming_strings", n)
	}

	both("SET standard_conforming_strings = on")
	before, forwarded = f.g.Stats().Intercepted, f.g.Stats().Forwarded["standard_conforming_strings"]
	sameExt("on again, prepared while off", "p_off")
	if n := f.g.Stats().Forwarded["standard_conforming_strings"] - forwarded; n != 1 {
		t.Errorf("a statement prepared while off, executed once on: %d forwarded for standard_conforming_strings, want 1", n)
	}
	same("on again", filtered)
	same("on again", selected)
	sameExt("on again", "")
	if n := f.g.Stats().Intercepted - before; n != 3 {
		t.Errorf("%d of 3 statements intercepted once standard_conforming_strings is on again", n)
	}
}
