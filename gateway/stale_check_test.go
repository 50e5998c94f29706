// Tests that a session's table check made before a statement that ran in Postgres is not reused
// by the rewrite path: that statement may have changed the search_path (and with it the
// operator `<->` names) with no sign in the protocol.
package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// evilOperator creates the review's schema evil with its own <-> on vectors (the negated L2
// distance) and public.go_evil(), a function that puts evil first on the caller's search_path.
func evilOperator(t *testing.T, f *fixture) {
	t.Helper()
	mustExec(t, pgtest.Connect(t, f.dsn),
		"CREATE SCHEMA evil",
		`CREATE FUNCTION evil.negl2(a vector, b vector) RETURNS float8 LANGUAGE sql IMMUTABLE
			AS $$ SELECT -(a OPERATOR(public.<->) b) $$`,
		`CREATE OPERATOR evil.<-> (LEFTARG = vector, RIGHTARG = vector, FUNCTION = evil.negl2)`,
		`CREATE FUNCTION public.go_evil() RETURNS text LANGUAGE plpgsql
			AS $$ BEGIN SET search_path = evil, public; RETURN 'ok'; END $$`)
}

// TestRewriteCheckAfterUpstreamStatement: a function that SETs search_path, an UPDATE of
// pg_settings and a set_config spelt with a Unicode escape (none of which vecgate sees as a
// change) put an operator evil.<-> (the negated distance) first on the session's search_path.
// The next vector query on the rewrite path, simple or extended, gets Postgres' own answer:
// vecgate checks the session again and forwards it (table_check). A session that sends only
// vector queries keeps intercepting.
func TestRewriteCheckAfterUpstreamStatement(t *testing.T) {
	f := newFixture(t, 500)
	ctx := context.Background()
	evilOperator(t, f)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	mustExec(t, direct, "SET enable_indexscan = off") // the exact order, as the rewrite's
	const simple = `SELECT id, title, emb <-> '%s' AS d FROM items WHERE category <> 3 ORDER BY emb <-> '%s' LIMIT 5`
	const ext = `SELECT id, title, emb <-> $1::vector AS d FROM items WHERE category <> 3 ORDER BY emb <-> $1::vector LIMIT 5`
	query := func(c *pgx.Conn, extended bool, v string) string {
		if extended {
			return rawExtended(t, c, "", ext, v)
		}
		return rawAnswer(t, c, fmt.Sprintf(simple, v, v))
	}
	run := func(c *pgx.Conn, extended bool, sql string) {
		t.Helper()
		if extended {
			if _, err := c.PgConn().ExecParams(ctx, sql, nil, nil, nil, nil).Close(); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			return
		}
		mustExec(t, c, sql)
	}
	changers := []string{
		"SELECT public.go_evil()",
		"UPDATE pg_settings SET setting = 'evil, public' WHERE name = 'search_path'",
		`SELECT U&"set\005fconfig"('search_path', 'evil, public', false)`,
	}
	for _, changer := range changers {
		for _, extended := range []bool{false, true} {
			step := changer
			if extended {
				step += " (extended)"
			}
			mustExec(t, via, "SET search_path = public")
			mustExec(t, direct, "SET search_path = public")
			before := f.g.Stats().Intercepted
			for range 3 { // the session's check made and kept
				v := f.vector()
				if got, want := query(via, extended, v), query(direct, extended, v); got != want {
					t.Fatalf("%s, before: through vecgate:\n%s\ndirectly:\n%s", step, got, want)
				}
			}
			if n := f.g.Stats().Intercepted - before; n != 3 {
				t.Fatalf("%s: %d of 3 vector queries intercepted before: the test proves nothing", step, n)
			}
			run(via, extended, changer)
			run(direct, extended, changer)
			before, checks := f.g.Stats().Intercepted, f.g.Stats().Forwarded["table_check"]
			for range 2 {
				v := f.vector()
				if got, want := query(via, extended, v), query(direct, extended, v); got != want {
					t.Errorf("%s, after: WRONG ANSWER through vecgate:\n%s\ndirectly:\n%s", step, got, want)
				}
			}
			if n := f.g.Stats().Intercepted - before; n != 0 {
				t.Errorf("%s: %d vector queries intercepted with evil.<-> on the search_path", step, n)
			}
			if n := f.g.Stats().Forwarded["table_check"] - checks; n != 2 {
				t.Errorf("%s: %d of 2 vector queries forwarded by the table check", step, n)
			}
		}
	}
}

// TestExplainRunsTableCheck: EXPLAIN through vecgate says what executing the statement would
// do. With evil.<-> first on the session's search_path (set by a function, or by SET) the
// statement is forwarded by the session's table check, and so EXPLAIN says "forwarded (table
// check)" before Postgres' own plan of the client's statement — not "intercepted" and the plan
// of a rewrite that will not run. Back on public, it says intercepted again.
func TestExplainRunsTableCheck(t *testing.T) {
	f := newFixture(t, 500)
	evilOperator(t, f)
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	v := f.vector()
	stmt := `SELECT id, title FROM items WHERE category <> 3 ORDER BY emb <-> '` + v + `' LIMIT 3`
	const forwarded = "vecgate: forwarded (table check)\n"
	for _, change := range []string{"SELECT public.go_evil()", "SET search_path = evil, public"} {
		mustExec(t, via, "SET search_path = public")
		mustExec(t, direct, "SET search_path = public")
		rawAnswer(t, via, stmt) // the session's check made and kept
		if got := rawAnswer(t, via, "EXPLAIN (COSTS OFF) "+stmt); !strings.HasPrefix(got, "vecgate: intercepted") {
			t.Fatalf("EXPLAIN on public: %s", got)
		}
		mustExec(t, via, change)
		mustExec(t, direct, change)
		for _, explain := range []string{"EXPLAIN (COSTS OFF) ", "EXPLAIN (COSTS OFF, ANALYZE, TIMING OFF, SUMMARY OFF) "} {
			got, want := rawAnswer(t, via, explain+stmt), rawAnswer(t, direct, explain+stmt)
			if got != forwarded+want {
				t.Errorf("after %s, %s:\nthrough vecgate:\n%s\nwant:\n%s", change, explain, got, forwarded+want)
			}
		}
		checks := f.g.Stats().Forwarded["table_check"]
		if got, want := rawAnswer(t, via, stmt), rawAnswer(t, direct, stmt); got != want {
			t.Errorf("after %s: through vecgate:\n%s\ndirectly:\n%s", change, got, want)
		}
		if f.g.Stats().Forwarded["table_check"] != checks+1 {
			t.Errorf("after %s: executing the statement was not forwarded by the table check", change)
		}
	}
	mustExec(t, via, "SET search_path = public")
	if got := rawAnswer(t, via, "EXPLAIN (COSTS OFF) "+stmt); !strings.HasPrefix(got, "vecgate: intercepted") {
		t.Errorf("EXPLAIN on public again: %s", got)
	}
}
