package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestSparsevec: sparsevec columns with sparsevec_*_ops indexes get twins that hold their rows
// dense; vecgate answers `ORDER BY s <op> q LIMIT k` (every operator, untyped and
// ::sparsevec(n) query vectors) with Postgres' rows, order and distances, key-only ones from
// memory. A vector query vector on a sparsevec column, a malformed sparse text and binary
// parameters are forwarded.
func TestSparsevec(t *testing.T) {
	const rows = 1000
	dsn, g := tableGateway(t, 4*rows,
		`CREATE TABLE sp (id int PRIMARY KEY, s sparsevec(50))`,
		`INSERT INTO sp SELECT g, (SELECT '{' || string_agg(i || ':' || round((random() * 2 - 1)::numeric, 3), ',' ORDER BY i) || '}/50'
			FROM (SELECT DISTINCT (random() * 49)::int + 1 AS i FROM generate_series(1, 6) WHERE g > 0) x)::sparsevec
			FROM (SELECT setseed(0.5)) s, generate_series(1, 1000) g`,
		`CREATE INDEX ON sp USING hnsw (s sparsevec_l2_ops)`,
		`CREATE INDEX ON sp USING hnsw (s sparsevec_ip_ops)`,
		`CREATE INDEX ON sp USING hnsw (s sparsevec_cosine_ops)`,
		`CREATE INDEX ON sp USING hnsw (s sparsevec_l1_ops)`)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	ctx := context.Background()
	if _, err := direct.Exec(ctx, "SET enable_indexscan = off; SET enable_bitmapscan = off", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := via.Exec(ctx, "SET hnsw.ef_search = 400", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	sparse := func() string {
		var parts []string
		for i := 1; i <= 50; i++ {
			if rng.IntN(6) == 0 {
				parts = append(parts, fmt.Sprintf("%d:%.4f", i, rng.Float64()*2-1))
			}
		}
		return "{" + strings.Join(parts, ",") + "}/50"
	}
	for _, c := range []struct {
		q                 string
		intercepted, fast bool
	}{
		{`SELECT id, s <-> $1 AS d FROM sp ORDER BY s <-> $1 LIMIT 10`, true, false},
		{`SELECT id, s <#> $1::sparsevec(50) AS d FROM sp ORDER BY s <#> $1::sparsevec(50) LIMIT 7 OFFSET 3`, true, false},
		{`SELECT id, s <=> $1 AS d FROM sp ORDER BY s <=> $1 LIMIT 10`, true, false},
		{`SELECT id, s <+> $1::sparsevec AS d FROM sp ORDER BY s <+> $1::sparsevec LIMIT 10`, true, false},
		{`SELECT id FROM sp ORDER BY s <-> $1 LIMIT 10`, true, true},
		{`SELECT id, s FROM sp ORDER BY s <=> $1 LIMIT 5`, true, false},
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			before := g.Stats()
			for range 10 {
				v := sparse()
				got, want := answer(t, via, mode, c.q, v), answer(t, direct, mode, c.q, v)
				if got != want {
					t.Fatalf("%s %s (%v):\nthrough vecgate:\n%sdirectly:\n%s", c.q, v, mode, got, want)
				}
			}
			after := g.Stats()
			if n := after.Intercepted - before.Intercepted; (n == 10) != c.intercepted || n != 0 && n != 10 {
				t.Errorf("%s (%v): %d of 10 intercepted, want all: %v (forwarded %v)", c.q, mode, n, c.intercepted, after.Forwarded)
			}
			if n := after.FastPath - before.FastPath; (n > 0) != c.fast {
				t.Errorf("%s (%v): %d of 10 from memory, want some: %v", c.q, mode, n, c.fast)
			}
		}
	}
	// Forwarded, with Postgres' answer or error: a vector query vector (Postgres casts it), sparse
	// texts vecgate does not take (duplicate index, index 0, another dimension).
	for _, q := range []string{
		`SELECT id FROM sp ORDER BY s <-> '[` + strings.Repeat("0.5,", 49) + `1]'::vector LIMIT 3`,
		`SELECT id FROM sp ORDER BY s <-> '{1:1,1:2}/50' LIMIT 3`,
		`SELECT id FROM sp ORDER BY s <-> '{0:1}/50' LIMIT 3`,
		`SELECT id FROM sp ORDER BY s <-> '{1:1}/49' LIMIT 3`,
		`SELECT id FROM sp ORDER BY s <-> '{1:NaN}/50' LIMIT 3`,
	} {
		before := g.Stats().Intercepted
		if got, want := answer(t, via, pgx.QueryExecModeSimpleProtocol, q), answer(t, direct, pgx.QueryExecModeSimpleProtocol, q); got != want {
			t.Errorf("%s:\nthrough vecgate:\n%sdirectly:\n%s", q, got, want)
		}
		if g.Stats().Intercepted != before {
			t.Errorf("%s: intercepted", q)
		}
	}
}
