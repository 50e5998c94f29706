// Tests of issue 11 ("Trust") on the proxy's interception mechanics: EXPLAIN reveals nothing a
// role could not SELECT, SHOW vecgate.status is for monitoring roles, a session sees what its
// SELECTs wrote, cancel and statement_timeout end intercepted statements as in Postgres, and
// every statement is counted once.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// arrayLiterals matches the array constants a plan prints ('{1,2,3}'::bigint[] and ARRAY[…]).
var arrayLiterals = regexp.MustCompile(`'\{[^}]*\}'|ARRAY\[[^\]]*\]`)

// TestExplainRevealsNoHiddenRows: under row-level security that hides rows, EXPLAIN of a vector
// query through vecgate — plain, VERBOSE, SETTINGS, ANALYZE, ANALYZE VERBOSE — prints no key of
// a hidden row and not the index's row count. (vecgate printed "holds N rows" and Postgres' plan
// of the rewrite with the real candidate keys, hidden rows' keys among them.) EXPLAIN ANALYZE
// runs the statement once, as directly: a sequence it calls moves as much as directly.
func TestExplainRevealsNoHiddenRows(t *testing.T) {
	const rows = 1237
	f := newFixture(t, rows)
	ctx := context.Background()
	admin := pgtest.Connect(t, f.dsn)
	role := fmt.Sprintf("vg_rls_%d", rand.Uint32())
	for _, q := range []string{
		"CREATE ROLE " + role,
		"GRANT USAGE ON SCHEMA public TO " + role,
		"GRANT SELECT ON items TO " + role,
		"CREATE SEQUENCE calls",
		"GRANT USAGE, SELECT, UPDATE ON SEQUENCE calls TO " + role,
		"ALTER TABLE items ENABLE ROW LEVEL SECURITY",
		"CREATE POLICY even ON items FOR SELECT USING (category % 2 = 0)",
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		c := pgtest.Connect(t, f.dsn)
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = c.Exec(context.Background(), "DROP ROLE "+role)
	})
	// The query vector is a hidden row's own (category 5), so hidden rows are its nearest.
	var hiddenID int64
	var v string
	if err := admin.QueryRow(ctx, `SELECT id, emb::text FROM items WHERE category = 5 AND id > 1000 ORDER BY id LIMIT 1`).Scan(&hiddenID, &v); err != nil {
		t.Fatal(err)
	}
	hidden := map[string]bool{}
	r, err := admin.Query(ctx, `SELECT id FROM items WHERE category % 2 = 1 ORDER BY emb <-> $1::vector LIMIT 50`, v)
	if err != nil {
		t.Fatal(err)
	}
	near, err := pgx.CollectRows(r, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range near {
		hidden[strconv.FormatInt(id, 10)] = true
	}
	via, direct := pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn)
	execAll(t, []*pgx.Conn{via, direct}, "SET ROLE "+role)
	calls := func() int64 {
		var n int64
		if err := admin.QueryRow(ctx, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM calls").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	stmt := `SELECT id, title FROM items ORDER BY emb <-> '` + v + `' LIMIT 3`
	for _, ex := range []string{"EXPLAIN", "EXPLAIN VERBOSE", "EXPLAIN (SETTINGS)", "EXPLAIN ANALYZE", "EXPLAIN (ANALYZE, VERBOSE)"} {
		before := f.g.counts.get("forward:explain")
		text := simpleLines(t, via, ex+" "+stmt)
		if f.g.counts.get("forward:explain") != before+1 || !strings.HasPrefix(text, "vecgate: ") {
			t.Fatalf("%s: not decorated by vecgate:\n%s", ex, text)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "vecgate: ") && strings.Contains(line, strconv.Itoa(rows)) {
				t.Errorf("%s: vecgate's line prints the index's row count: %s", ex, line)
			}
		}
		for _, arr := range arrayLiterals.FindAllString(text, -1) {
			for _, k := range strings.FieldsFunc(arr, func(r rune) bool { return r < '0' || r > '9' }) {
				if hidden[k] {
					t.Errorf("%s prints key %s of a row the role cannot see:\n%s", ex, k, text)
				}
			}
		}
		if strings.Contains(text, strconv.FormatInt(hiddenID, 10)) {
			t.Errorf("%s prints the nearest hidden row's key %d:\n%s", ex, hiddenID, text)
		}
		t.Logf("%s:\n%s", ex, text)
	}
	// EXPLAIN ANALYZE runs the statement once, as directly.
	withCalls := `EXPLAIN ANALYZE SELECT id, nextval('calls') FROM items ORDER BY emb <-> '` + v + `' LIMIT 3`
	c0 := calls()
	simpleLines(t, direct, withCalls)
	c1 := calls()
	simpleLines(t, via, withCalls)
	if c2 := calls(); c2-c1 != c1-c0 {
		t.Errorf("EXPLAIN ANALYZE called nextval %d times through vecgate, %d directly", c2-c1, c1-c0)
	}
}
