package gateway

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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
	via, direct := exactPair(t, dsn, g, 400)
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
	compareTypeCases(t, g, via, direct, nil, []typeCase{
		{`SELECT id, s <-> $1 AS d FROM sp ORDER BY s <-> $1 LIMIT 10`, sparse, true, false},
		{`SELECT id, s <#> $1::sparsevec(50) AS d FROM sp ORDER BY s <#> $1::sparsevec(50) LIMIT 7 OFFSET 3`, sparse, true, false},
		{`SELECT id, s <=> $1 AS d FROM sp ORDER BY s <=> $1 LIMIT 10`, sparse, true, false},
		{`SELECT id, s <+> $1::sparsevec AS d FROM sp ORDER BY s <+> $1::sparsevec LIMIT 10`, sparse, true, false},
		{`SELECT id FROM sp ORDER BY s <-> $1 LIMIT 10`, sparse, true, true},
		{`SELECT id, s FROM sp ORDER BY s <=> $1 LIMIT 5`, sparse, true, false},
	})
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
