package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestNearTieNotOrderedFromMemory: two rows whose distances differ by less than vecgate's and
// pgvector's float32 sums can tell apart (1.2e-7 relative) are not ordered from memory: the
// statement goes through Postgres, which orders them by its own distances (the differential
// tester saw a cosine near-tie answered from memory in vecgate's order). A query without a near
// tie is answered from memory, so the test can see the difference.
func TestNearTieNotOrderedFromMemory(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	runAll(t, c,
		`CREATE TABLE pts (id int PRIMARY KEY, emb vector(2))`,
		`INSERT INTO pts VALUES (1, '[1,0]'), (2, '[0,1.0000001]')`,
		`INSERT INTO pts SELECT g, ARRAY[10 + g, 10]::vector FROM generate_series(3, 200) g`,
		`CREATE INDEX ON pts USING hnsw (emb vector_l2_ops)`)
	g := startTestGateway(t, dsn, gatewayOptions{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
	waitLen(t, g, "pts", ann.L2, 200)
	via, exact := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	runAll(t, exact, `SET enable_indexscan = off`)
	run := func(q string) (fast bool) {
		t.Helper()
		before, intercepted := g.counts.get("fast"), g.counts.get("intercept")
		got, want := textRows(t, via, q), textRows(t, exact, q)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: through vecgate %v, directly %v", q, got, want)
		}
		if g.counts.get("intercept") == intercepted {
			t.Fatalf("%s: not intercepted", q)
		}
		return g.counts.get("fast") > before
	}
	clear := `SELECT id, emb <-> '[0.5,0]' FROM pts ORDER BY emb <-> '[0.5,0]' LIMIT 1`
	run(clear) // learns the description
	if !run(clear) {
		t.Fatal("a query without a near tie was not answered from memory: the test proves nothing")
	}
	for _, q := range []string{
		`SELECT id, emb <-> '[0,0]' FROM pts ORDER BY emb <-> '[0,0]' LIMIT 1`, // the cut between them
		`SELECT id, emb <-> '[0,0]' FROM pts ORDER BY emb <-> '[0,0]' LIMIT 2`, // their order
	} {
		run(q)
		if run(q) {
			t.Errorf("%s: near-tied rows answered from memory", q)
		}
	}
}
