package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestSimilarityFromMemory: Drizzle's documented queries bind the query vector once per use
// and compute the similarity, `1 - (emb <=> $n)`, in the select list and in a WHERE threshold.
// When every use carries the same vector they are answered from memory with Postgres' own bytes
// (the server's distances, 1 - d in float8), thresholds that keep fewer rows than the LIMIT
// included; another vector in one use, or a user's `-` operator on the search path, goes to
// Postgres.
func TestSimilarityFromMemory(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	q, other := []byte("[0.3,-0.2,-0.55]"), []byte("[0.31,-0.2,-0.55]")
	similarity := `select "id", "content", "metadata", 1 - ("docs"."emb" <=> $1) from "docs" where 1 - ("docs"."emb" <=> $2) > $3 order by 1 - ("docs"."emb" <=> $4) desc limit $5`
	statements := []struct {
		name   string
		sql    string
		params [][]byte
		fast   bool
	}{
		{"similarity", similarity, [][]byte{q, q, []byte("0.1"), q, []byte("5")}, true},
		{"threshold keeps fewer than the limit", similarity, [][]byte{q, q, []byte("0.3"), q, []byte("80")}, true},
		{"threshold keeps none", similarity, [][]byte{q, q, []byte(" 2.5 "), q, []byte("5")}, true},
		{"distance", `select "id", "content", "metadata", "docs"."emb" <=> $1 from "docs" order by "docs"."emb" <=> $2 limit $3`,
			[][]byte{q, q, []byte("7")}, true},
		{"distance threshold", `select id, emb <=> $1 AS d from docs where emb <=> $1 <= $2 and flag = true order by d limit $3`,
			[][]byte{q, []byte("0.8"), []byte("40")}, true},
		{"literal threshold", `select id, 1 - (emb <=> $1) from docs where 0.3 < 1 - (emb <=> $1) order by emb <=> $1 limit 10`,
			[][]byte{q}, true},
		{"another vector projected", similarity, [][]byte{other, q, []byte("0.5"), q, []byte("5")}, false},
		{"another vector in the threshold", similarity, [][]byte{q, other, []byte("0.5"), q, []byte("5")}, false},
		{"threshold not a plain number", similarity, [][]byte{q, q, []byte("-Infinity"), q, []byte("5")}, false},
	}
	run := func(step string, fast func(sql string, fast bool) bool) {
		t.Helper()
		for _, st := range statements {
			for i := range 2 { // the first run of a shape in a session learns its description
				before := g.Stats().FastPath
				got, want := wireAnswer(t, via, st.sql, st.params, []int16{0}), wireAnswer(t, direct, st.sql, st.params, []int16{0})
				if got != want {
					t.Fatalf("%s: %s:\nvecgate:  %s\nPostgres: %s", step, st.name, got, want)
				}
				if i == 1 && strings.Count(want, "\n") < 2 && !strings.Contains(st.name, "none") {
					t.Fatalf("%s: %s: no rows; the test needs some:\n%s", step, st.name, want)
				}
				if moved := g.Stats().FastPath > before; i == 1 && moved != fast(st.sql, st.fast) {
					t.Errorf("%s: %s: from memory %v, want %v", step, st.name, moved, fast(st.sql, st.fast))
				}
			}
		}
	}
	run("as sent", func(_ string, f bool) bool { return f })
	// A user's `-` (int, float8) ahead of pg_catalog's on the search path: Postgres computes
	// 1 - d with it, so vecgate must not.
	for _, s := range []string{
		"CREATE FUNCTION public.odd_minus(int, float8) RETURNS float8 LANGUAGE sql IMMUTABLE AS 'SELECT $2 - $1'",
		"CREATE OPERATOR public.- (LEFTARG = int, RIGHTARG = float8, FUNCTION = public.odd_minus)",
	} {
		if _, err := direct.Exec(context.Background(), s).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*pgconn.PgConn{via, direct} {
		if _, err := c.Exec(context.Background(), "SET search_path = public, pg_catalog").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	run("a user's - first on the search path", func(sql string, f bool) bool { return f && !strings.Contains(sql, "1 - (") })
}
