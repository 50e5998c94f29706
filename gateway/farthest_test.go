package gateway

import (
	"context"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestFarthestRows: ORDER BY … DESC (the most dissimilar rows; also 1 - distance ASC), which
// pgvector's index cannot serve and Postgres answers by scanning and sorting every row, is
// answered by scanning the twin's vectors: from memory when the statement allows, else by the
// rewrite, with Postgres' rows, order and bytes. A row without a vector, which DESC puts first,
// and a cosine zero vector (NaN, before every other) send it to Postgres.
func TestFarthestRows(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)", "CREATE INDEX ON docs USING hnsw (emb vector_ip_ops)",
		"CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops)", "CREATE INDEX ON docs USING hnsw (emb vector_l1_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	q := [][]byte{[]byte("[0.3,-0.2,-0.55]")}
	statements := []struct {
		sql  string
		fast bool
	}{
		{"SELECT id, content, emb <-> $1 AS d FROM docs ORDER BY d DESC LIMIT 7", true},
		{"SELECT id, emb <#> $1 FROM docs ORDER BY emb <#> $1 DESC LIMIT 5 OFFSET 3", true},
		{"SELECT id, metadata, emb <=> $1 AS d FROM docs ORDER BY d DESC LIMIT 6", true},
		{"SELECT id, emb <+> $1 FROM docs WHERE flag AND n > 100000 ORDER BY emb <+> $1 DESC LIMIT 9", true},
		{"SELECT id, 1 - (emb <=> $1) AS s FROM docs ORDER BY s ASC LIMIT 4", true},
		{"SELECT id FROM docs WHERE tag < 'tag5' ORDER BY emb <-> $1 DESC LIMIT 5", false},         // text order: the rewrite
		{"SELECT id, emb <-> $1 FROM docs WHERE n < 5000 ORDER BY emb <-> $1 DESC LIMIT 50", true}, // fewer rows than asked
	}
	check := func(step string, fast, intercepted bool) {
		t.Helper()
		for _, st := range statements {
			for i := range 2 {
				before := g.Stats()
				got, want := wireAnswer(t, via, st.sql, q, []int16{0}), wireAnswer(t, direct, st.sql, q, []int16{0})
				if got != want {
					t.Fatalf("%s: %s:\nvecgate:  %s\nPostgres: %s", step, st.sql, got, want)
				}
				if i == 1 && strings.Count(want, "\n") < 2 {
					t.Fatalf("%s: %s: no rows", step, st.sql)
				}
				after := g.Stats()
				if i == 0 {
					continue
				}
				// ASC puts rows without a vector last: 1 - d ASC is not affected by them.
				nullsLast := strings.Contains(st.sql, "ASC")
				if moved := after.FastPath > before.FastPath; moved != (st.fast && (fast || nullsLast)) {
					t.Errorf("%s: %s: from memory %v, want %v", step, st.sql, moved, !moved)
				}
				if moved := after.Intercepted > before.Intercepted; moved != (intercepted || nullsLast) {
					t.Errorf("%s: %s: intercepted %v, want %v", step, st.sql, moved, !moved)
				}
			}
		}
	}
	check("every row has a vector", true, true)
	if _, err := via.Exec(context.Background(), "INSERT INTO docs (id, content) VALUES (5000, 'no vector')").ReadAll(); err != nil {
		t.Fatal(err)
	}
	check("a NULL vector", false, false)
}

// TestArrayQueryVector: `ARRAY[…]::vector` as the query vector (integers and numerics, as
// array_to_vector reads them) is intercepted with Postgres' answer.
func TestArrayQueryVector(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	for _, v := range []string{"ARRAY[0.3, -0.2, -0.55]::vector", "ARRAY[1, 0, -1]::vector(3)", "ARRAY[1e-1, 2.5E0, -0.333333333333333333333]::vector",
		"ARRAY[16777217, 0, 1]::vector"} {
		sql := "SELECT id, content, emb <-> " + v + " AS d FROM docs ORDER BY d LIMIT 5"
		for i := range 2 {
			before := g.Stats().Intercepted
			got, want := wireAnswer(t, via, sql, nil, nil), wireAnswer(t, direct, sql, nil, nil)
			if got != want {
				t.Fatalf("%s:\nvecgate:  %s\nPostgres: %s", v, got, want)
			}
			if i == 1 && g.Stats().Intercepted == before {
				t.Errorf("%s: not intercepted", v)
			}
		}
	}
}
