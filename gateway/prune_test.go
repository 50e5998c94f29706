package gateway

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestPartitionPruning: a statement on a table partitioned by tenant with `WHERE tenant = $2`
// searches only the partitions whose bounds may hold that tenant (a default partition always).
// Without pruning, the nearest rows of a large tenant crowd out a small tenant's, the rewrite
// widens past its limit and the statement goes to Postgres (reason widening); pruned, it is
// answered at once, with Postgres' exact answer. A partition whose bound changed since vecgate
// read the catalog (here with catalog events off) is caught by the rewrite's guard, which names
// every partition's bound: the statement goes to Postgres.
func TestPartitionPruning(t *testing.T) {
	dsn := pgtest.NewDB(t)
	admin := pgtest.Connect(t, dsn)
	mustExec(t, admin, "CREATE EXTENSION IF NOT EXISTS vector",
		`CREATE TABLE mt (tenant int, id int, note text, emb vector(3), PRIMARY KEY (tenant, id)) PARTITION BY LIST (tenant)`,
		`CREATE TABLE mt_1 PARTITION OF mt FOR VALUES IN (1)`,
		`CREATE TABLE mt_2 PARTITION OF mt FOR VALUES IN (2)`,
		`CREATE TABLE mt_34 PARTITION OF mt FOR VALUES IN (3, 4)`,
		`CREATE TABLE mt_def PARTITION OF mt DEFAULT`,
		`INSERT INTO mt SELECT 1, g, 'a' || g, ARRAY[sin(g) / 10, cos(g) / 10, (g % 7) / 70.0]::vector FROM generate_series(1, 21000) g`,
		`INSERT INTO mt SELECT 2, g, 'b' || g, ARRAY[5 + sin(g), 5 + cos(g), g / 10.0]::vector FROM generate_series(1, 15) g`,
		`INSERT INTO mt SELECT 3 + g % 2, g, 'c' || g, ARRAY[6 + sin(g), 6 + cos(g), g / 10.0]::vector FROM generate_series(1, 15) g`,
		`INSERT INTO mt SELECT 9, g, 'd' || g, ARRAY[7 + sin(g), 7, g / 10.0]::vector FROM generate_series(1, 10) g`,
		`CREATE INDEX ON mt USING hnsw (emb vector_l2_ops)`)
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("pp%d", rand.Uint32()), CatalogInterval: time.Hour})
	waitIndexed(t, g, 21040)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	mustExec(t, via, "SET vecgate.exact_distances = on") // distances printed by Postgres: the rewrite
	mustExec(t, direct, "SET enable_indexscan = off", "SET enable_bitmapscan = off")
	const q = `SELECT id, note, emb <-> $1 AS d FROM mt WHERE tenant = $2 ORDER BY emb <-> $1 LIMIT 10`
	vec := "[0.01,0.02,0.03]"
	for _, tenant := range []int{2, 3, 9, 1} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement} {
			before := g.Stats()
			got, want := answer(t, via, mode, q, vec, tenant), answer(t, direct, mode, q, vec, tenant)
			if got != want || strings.Count(want, "\n") < 5 {
				t.Fatalf("tenant %d (%v):\nthrough vecgate:\n%sdirectly:\n%s", tenant, mode, got, want)
			}
			if moved := strings.Join(statsMoved(before, g.Stats()), " "); moved != "intercept+1" {
				t.Errorf("tenant %d (%v): counters moved %s, want intercept+1", tenant, mode, moved)
			}
		}
	}
	plan := simpleLines(t, via, "EXPLAIN SELECT id FROM mt WHERE tenant IN (2, 3) ORDER BY emb <-> '"+vec+"' LIMIT 5")
	if !strings.Contains(plan, "mt_2_") || !strings.Contains(plan, "mt_34_") || strings.Contains(plan, "mt_1_") || !strings.Contains(plan, "1 pruned") {
		t.Errorf("EXPLAIN does not show the pruned search:\n%s", plan)
	}

	// Two partitions swap their tenants, keeping their OIDs, while vecgate reads no catalog
	// event: its bounds are stale, and a search pruned by them would miss tenant 2's rows.
	mustExec(t, admin, "ALTER EVENT TRIGGER vecgate_catalog_end DISABLE", "ALTER EVENT TRIGGER vecgate_catalog_drop DISABLE")
	mustExec(t, admin, `ALTER TABLE mt DETACH PARTITION mt_2`, `ALTER TABLE mt DETACH PARTITION mt_34`,
		`UPDATE mt_2 SET tenant = 3`, `UPDATE mt_34 SET tenant = 2`,
		`ALTER TABLE mt ATTACH PARTITION mt_2 FOR VALUES IN (3, 4)`, `ALTER TABLE mt ATTACH PARTITION mt_34 FOR VALUES IN (2)`)
	waitIndexed(t, g, 21040)
	for range 3 {
		before := g.Stats()
		got, want := answer(t, via, pgx.QueryExecModeExec, q, vec, 2), answer(t, direct, pgx.QueryExecModeExec, q, vec, 2)
		if got != want || !strings.Contains(want, " c") {
			t.Fatalf("after the swap:\nthrough vecgate:\n%sdirectly:\n%s", got, want)
		}
		if moved := strings.Join(statsMoved(before, g.Stats()), " "); moved == "intercept+1" {
			t.Errorf("after the swap: answered from the stale bounds (%s)", moved)
		}
	}
}
