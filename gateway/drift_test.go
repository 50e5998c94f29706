package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pgvector "github.com/pgvector/pgvector-go"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/internal/anntest"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/live"
)

// TestDriftedRowsThroughVecgate (issue 13): quantised twins trained on 9,000 clustered rows (256-d)
// take, through Postgres, 30 rows far outside what their codes learnt (×50, positive orthant,
// a spike where no trained row has one); each queried through vecgate with its own vector must
// come back first, as from Postgres' exact scan — 30 of 30 — live and after a restart from the
// snapshot in --data-dir, for each quantised twin kind: hnsw-sq8 keeping its vectors (a pgvector
// index at ≥ SQ8MinDims), hnsw-sq8 codes only, ivf-sq8, ivf-pq and ivf-binary (definitions
// through vecgate). Every query is intercepted. Without the side lists 4, 2, 8, 30 and 10 of 30
// came back first (ivf-pq told them apart, but did not mark them drifted).
func TestDriftedRowsThroughVecgate(t *testing.T) {
	// rows × dims above planner.ExactScanWork: the twins are searched through their graphs and lists.
	const dims, rows, drifted = 256, 9000, 30
	dsn := pgtest.NewDB(t)
	direct := pgtest.Connect(t, dsn)
	ctx := context.Background()
	exec := func(c *pgx.Conn, sql string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	base := bench.Clustered(bench.GenConfig{N: rows, Dims: dims, Clusters: 40, Seed: 5})
	texts := make([]string, rows)
	ids := make([]int64, rows)
	for i := range rows {
		ids[i], texts[i] = int64(i+1), pgvector.NewVector(base[i*dims:(i+1)*dims]).String()
	}
	twins := []struct {
		table, index, kind string
		metric             ann.Metric
	}{
		{"t_hnsw", "CREATE INDEX t_hnsw_emb ON t_hnsw USING hnsw (emb vector_l2_ops)", "hnsw-sq8", ann.L2},
		{"t_codes", "CREATE INDEX t_codes_emb ON t_codes USING hnsw (emb vector_l2_ops) WITH (quantizer = sq8, mode = offload)", "hnsw-sq8", ann.L2},
		{"t_ivfsq8", "CREATE INDEX t_ivfsq8_emb ON t_ivfsq8 USING ivfflat (emb vector_l2_ops) WITH (lists = 16, quantizer = sq8, mode = offload)", "ivf-sq8", ann.L2},
		{"t_pq", "CREATE INDEX t_pq_emb ON t_pq USING ivfflat (emb vector_l2_ops) WITH (lists = 16, quantizer = pq, mode = offload)", "ivf-pq", ann.L2},
		{"t_bin", "CREATE INDEX t_bin_emb ON t_bin USING ivfflat (emb vector_l2_ops) WITH (lists = 16, quantizer = binary, mode = offload)", "ivf-binary", ann.L2},
	}
	for _, tw := range twins {
		exec(direct, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, emb vector(%d))`, tw.table, dims))
		exec(direct, fmt.Sprintf(`INSERT INTO %s SELECT id, v::vector FROM unnest($1::bigint[], $2::text[]) AS u(id, v)`, tw.table), ids, texts)
	}
	exec(direct, twins[0].index)
	exec(direct, "SET enable_indexscan = off") // Postgres' exact answer (pgvector's HNSW is approximate too)
	opt := Config{Intercept: true, SlotName: fmt.Sprintf("q%d", rand.Uint32()), DataDir: t.TempDir(),
		Twins: &live.Options{SQ8MinDims: dims}}
	g := startTestGateway(t, dsn, opt)
	waitIndexed(t, g, rows)
	via := pgtest.Connect(t, viaDSN(dsn, g))
	for _, tw := range twins[1:] {
		exec(via, tw.index, pgx.QueryExecModeSimpleProtocol)
	}
	waitTwins := func(g *Gateway, n int) {
		t.Helper()
		deadline := time.Now().Add(applyWait)
		for {
			ready := 0
			for _, tw := range twins {
				if ix, ok := g.set.Lookup("public", tw.table, "emb", tw.metric); ok && ix.Len() == n && ix.Kind() == tw.kind {
					ready++
				}
			}
			if ready == len(twins) && g.stream.Ready() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d twins hold %d rows", ready, len(twins), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitTwins(g, rows)

	// The drifted rows arrive one at a time, through Postgres.
	out := anntest.Outliers(drifted, dims, 50, 1_000_000, 9)
	for i, k := range out.Keys {
		for _, tw := range twins {
			exec(direct, fmt.Sprintf(`INSERT INTO %s VALUES ($1, $2::vector)`, tw.table), k.Int(), pgvector.NewVector(out.Row(i)).String())
		}
	}
	check := func(when string, g *Gateway, via *pgx.Conn) {
		t.Helper()
		for _, tw := range twins {
			sql := fmt.Sprintf(`SELECT id FROM %s ORDER BY emb %s $1::vector LIMIT 1`, tw.table, tw.metric)
			before := g.Stats().Intercepted
			found := 0
			for i, k := range out.Keys {
				v := pgvector.NewVector(out.Row(i)).String()
				var got, want int64
				if err := via.QueryRow(ctx, sql, v).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if err := direct.QueryRow(ctx, sql, v).Scan(&want); err != nil {
					t.Fatal(err)
				}
				if want != k.Int() {
					t.Fatalf("%s: Postgres' nearest to row %d is %d", tw.table, k.Int(), want)
				}
				if got == want {
					found++
				}
			}
			if n := g.Stats().Intercepted - before; found != drifted || n != drifted {
				t.Errorf("%s: %s (%s): %d of %d drifted rows first through vecgate, %d intercepted", when, tw.table, tw.kind, found, drifted, n)
			}
		}
	}
	waitTwins(g, rows+drifted)
	check("live", g, via)
	for _, is := range g.Status().Indexes {
		if is.DriftedRows == 0 {
			t.Errorf("status of %s (%s): no drifted rows", is.Table, is.Method)
		}
	}
	via.Close(ctx) // Close waits for client sessions
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}

	g = startTestGateway(t, dsn, opt)
	waitTwins(g, rows+drifted)
	if st := g.stream.Status(); st.Resnapshots != 0 {
		t.Fatalf("restart reloaded from Postgres (%d full loads) instead of the snapshot", st.Resnapshots)
	}
	check("after restart", g, pgtest.Connect(t, viaDSN(dsn, g)))
}
