package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/observe"
)

// TestRecallSpot: the recall spot-check samples answers and compares them with an exact scan of
// the twin. A twin made poor on purpose (pgvector's HNSW with m=2, ef_construction=4, searched
// with hnsw.ef_search=1, on 20,000 × 128 random rows: too many to be scanned exactly) shows a
// recall under 1; a table small enough that vecgate scans it exactly shows 1. /status and
// /metrics agree, and statements with a WHERE are not sampled.
func TestRecallSpot(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	const dims = 128
	randomVec := func(table string, rows int) string {
		return fmt.Sprintf(`INSERT INTO %s SELECT g, (SELECT array_agg(random() + (g + d) * 0)::vector(%d) FROM generate_series(1, %d) d)
			FROM (SELECT setseed(0.5)) s, generate_series(1, %d) g`, table, dims, dims, rows)
	}
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE poor (id int PRIMARY KEY, tag int, emb vector(%d))`, dims),
		randomVec("poor (id, emb)", 20000),
		`UPDATE poor SET tag = id % 10`,
		`CREATE INDEX poor_hnsw ON poor USING hnsw (emb vector_l2_ops) WITH (m = 2, ef_construction = 4)`,
		fmt.Sprintf(`CREATE TABLE exact (id int PRIMARY KEY, emb vector(%d))`, dims),
		randomVec("exact", 500),
		`CREATE INDEX exact_hnsw ON exact USING hnsw (emb vector_l2_ops)`,
		`ANALYZE`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("r%d", rand.Uint32()),
		Recall: observe.RecallConfig{Rate: 1, PerSecond: 1e6, Queue: 1000}})
	waitIndexed(t, g, 20500)
	addr := serveObserver(t, g.Observer())
	via := pgtest.Connect(t, viaDSN(dsn, g))
	if _, err := via.Exec(ctx, "SET hnsw.ef_search = 10", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 9))
	vec := func() string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range dims {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%.4f", rng.Float32())
		}
		b.WriteByte(']')
		return b.String()
	}
	const queries = 30
	before := g.Stats().Intercepted
	for range queries {
		for _, table := range []string{"poor", "exact"} {
			q := fmt.Sprintf(`SELECT id, emb <-> $1::vector AS d FROM %s ORDER BY emb <-> $1::vector LIMIT 10`, table)
			// pgvector's own search of this graph may return fewer rows (a statement forwarded);
			// the exact table's, never.
			if got := ids(t, via, q, vec()); len(got) > 10 || table == "exact" && len(got) != 10 {
				t.Fatalf("%s: %d rows", table, len(got))
			}
		}
		// Filtered: not sampled (the exact answer would need the filter). (Postgres answers it, as
		// vecgate's in-index filter widens past its bound on this graph.)
		if _, err := via.Exec(ctx, `SELECT id FROM poor WHERE tag = 3 ORDER BY emb <-> $1::vector LIMIT 10`, vec()); err != nil {
			t.Fatal(err)
		}
	}
	if n := g.Stats().Intercepted - before; n < queries {
		t.Fatalf("%d of %d statements intercepted: %v", n, 3*queries, g.Stats())
	}
	figure := func(st observe.Status, table string) observe.IndexStatus {
		for _, ix := range st.Indexes {
			if ix.Table == "public."+table {
				return ix
			}
		}
		t.Fatalf("no twin of %s in /status", table)
		return observe.IndexStatus{}
	}
	// Every sample offered is checked (the queue holds them all): wait until the counts stop.
	var st observe.Status
	var last uint64
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		st = g.Status()
		n := figure(st, "poor").RecallSamples + figure(st, "exact").RecallSamples
		if n == last && figure(st, "poor").RecallSamples >= queries/2 && figure(st, "exact").RecallSamples >= queries/2 {
			break
		}
		last = n
		if time.Now().After(deadline) {
			t.Fatalf("samples after 60 s: poor %d, exact %d; %v", figure(st, "poor").RecallSamples, figure(st, "exact").RecallSamples, g.Stats())
		}
	}
	poor, exact := figure(st, "poor"), figure(st, "exact")
	if poor.RecallSamples > queries {
		t.Errorf("poor: %d samples for %d unfiltered statements (filtered ones must not be sampled)", poor.RecallSamples, queries)
	}
	if r := *poor.RecallSpot; r >= 0.95 || r <= 0 {
		t.Errorf("poor twin (m=2, ef_search=1): recall %v, want clearly under 1", r)
	}
	if r := *exact.RecallSpot; r != 1 {
		t.Errorf("exactly scanned twin: recall %v, want 1", r)
	}
	fams := scrape(t, addr)
	for _, ix := range []observe.IndexStatus{poor, exact} {
		labels := map[string]string{"table": ix.Table, "column": ix.Column, "metric": ix.Metric, "source": ix.Source, "kind": ix.Method}
		if v := mustMetric(t, fams, "vecgate_recall_spot", labels); v != *ix.RecallSpot {
			t.Errorf("%s: vecgate_recall_spot %v, /status %v", ix.Table, v, *ix.RecallSpot)
		}
		if v := mustMetric(t, fams, "vecgate_recall_spot_samples_total", labels); v != float64(ix.RecallSamples) {
			t.Errorf("%s: vecgate_recall_spot_samples_total %v, /status %v", ix.Table, v, ix.RecallSamples)
		}
	}
	t.Logf("recall spot: poor twin %.3f, exact twin %.3f over %d samples", *poor.RecallSpot, *exact.RecallSpot, poor.RecallSamples)
}
