package live_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pgvector "github.com/pgvector/pgvector-go"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// TestIVFTwinRetrainsAfterDrift: an ivfflat index on a small table gets a twin trained on its
// rows (4 clusters); four times as many rows from 40 other clusters then arrive through Postgres.
// The twin, kept from retraining a moment, loses recall@10 at its default probes; let go, it
// retrains in the background (status: one retrain, rows at training = the whole table) and its
// recall is restored. Measured (16-d, lists 32, 6 probes): 0.868 before, 1.000 after.
func TestIVFTwinRetrainsAfterDrift(t *testing.T) {
	const dims, lists, oldRows, newRows = 16, 32, 2000, 8000
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	vecs := map[int64][]float32{}
	insert := func(first int64, rows []float32) {
		t.Helper()
		var ids []int64
		var texts []string
		for i := 0; i*dims < len(rows); i++ {
			v := rows[i*dims : (i+1)*dims]
			id := first + int64(i)
			vecs[id] = v
			ids = append(ids, id)
			texts = append(texts, pgvector.NewVector(v).String())
		}
		if _, err := c.Exec(ctx, `INSERT INTO items SELECT id, v::vector FROM unnest($1::bigint[], $2::text[]) AS u(id, v)`, ids, texts); err != nil {
			t.Fatal(err)
		}
	}
	pgExec(t, c, fmt.Sprintf(`CREATE TABLE items (id bigint PRIMARY KEY, emb vector(%d))`, dims))
	insert(1, bench.Clustered(bench.GenConfig{N: oldRows, Dims: dims, Clusters: 4, Seed: 5}))
	pgExec(t, c, fmt.Sprintf(`CREATE INDEX items_ivf ON items USING ivfflat (emb vector_l2_ops) WITH (lists = %d)`, lists))

	set := live.New(testLogger(t))
	set.PauseRetrains(true)
	cfg := replication.DefaultConfig()
	cfg.DSN, cfg.Name, cfg.Applier, cfg.Logger = dsn, "live_drift", set, testLogger(t)
	s, err := replication.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); set.WaitRetrains() })
	waitApplied(t, s, c)
	ix, ok := set.Lookup("public", "items", "emb", ann.L2)
	if !ok || ix.Kind() != "ivf-flat" || ix.Lists() != lists || ix.Len() != oldRows {
		t.Fatalf("twin: %v %+v", ok, ix)
	}
	st, _ := ix.Training()
	if !st.Trained || st.Rows == 0 || st.Rows > oldRows || st.Retrains != 0 {
		t.Fatalf("twin after the initial load: %+v", st)
	}

	gen := bench.GenConfig{N: newRows, Dims: dims, Clusters: 40, Seed: 9}
	fresh := bench.Clustered(gen)
	for b := 0; b < newRows; b += 2000 {
		insert(oldRows+1+int64(b), fresh[b*dims:(b+2000)*dims])
	}
	queries := bench.Rows(bench.ClusteredQueries(gen, 50), dims)
	waitApplied(t, s, c)
	if ix.Len() != oldRows+newRows {
		t.Fatalf("twin holds %d rows, want %d", ix.Len(), oldRows+newRows)
	}
	before, _ := ix.Training()
	rb := twinRecall(t, ix, vecs, queries)
	if before.Retrains != 0 || before.Drift < 1.5 {
		t.Fatalf("drifted twin before retraining: %+v", before)
	}

	// Let retrains go: the next commit starts one (a keepalive's, or the delete's: the retrain
	// trains on the table with or without row 1, and row 1 leaves the new lists either way).
	set.PauseRetrains(false)
	pgExec(t, c, `DELETE FROM items WHERE id = 1`)
	delete(vecs, 1)
	waitApplied(t, s, c)
	set.WaitRetrains()
	after, _ := ix.Training()
	ra := twinRecall(t, ix, vecs, queries)
	t.Logf("drift %.2f; recall@10 at %d probes: %.3f before retrain, %.3f after; %+v", before.Drift, ix.Probes(), rb, ra, after)
	if after.Retrains != 1 || after.Rows < len(vecs) || after.Rows > oldRows+newRows || after.Retraining || ix.Len() != len(vecs) {
		t.Fatalf("twin after retraining: %+v, %d rows; want 1 retrain on %d rows", after, ix.Len(), len(vecs))
	}
	if ra < 0.98 || ra < rb+0.07 {
		t.Fatalf("recall@10 %.3f after retraining, %.3f before", ra, rb)
	}

	// Replication still applies to the retrained twin.
	pgExec(t, c, `DELETE FROM items WHERE id BETWEEN 2 AND 100`)
	for id := int64(2); id <= 100; id++ {
		delete(vecs, id)
	}
	waitApplied(t, s, c)
	if ix.Len() != len(vecs) {
		t.Fatalf("after deletes: %d rows, want %d", ix.Len(), len(vecs))
	}
	if r := twinRecall(t, ix, vecs, queries); r < 0.98 {
		t.Fatalf("recall@10 %.3f after deletes", r)
	}
}

// twinRecall is recall@10 of the twin at its default probes against exact results.
func twinRecall(t *testing.T, ix *live.Index, vecs map[int64][]float32, queries [][]float32) float64 {
	t.Helper()
	hit := 0
	for _, q := range queries {
		want := map[int64]bool{}
		for _, id := range exactTop(vecs, q, 10) {
			want[id] = true
		}
		for _, id := range searchKeys(t, ix, q, 10, 0) {
			if want[id] {
				hit++
			}
		}
	}
	return float64(hit) / float64(10*len(queries))
}

func pgExec(t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// waitApplied waits until the stream applied everything written so far.
func waitApplied(t *testing.T, s *replication.Stream, c *pgx.Conn) {
	t.Helper()
	var lsnText string
	if err := c.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&lsnText); err != nil {
		t.Fatal(err)
	}
	lsn, err := replication.ParseLSN(lsnText)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.WaitFor(ctx, lsn); err != nil {
		t.Fatalf("WaitFor(%s): %v; status %+v", lsn, err, s.Status())
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}
