package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// waitTwin waits until the live index named source holds rows rows (0: until it is gone).
func waitTwin(t *testing.T, f *fixture, source string, rows int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := -1
		for _, ix := range f.g.set.Indexes() {
			if ix.Source == source {
				n = ix.Len()
			}
		}
		if f.g.stream.Ready() && (rows == 0 && n == -1 || rows > 0 && n == rows) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("index %s: %d rows, want %d (%+v)", source, n, rows, f.g.stream.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCreateIndexThroughVecgate: CREATE INDEX … USING hnsw through vecgate — plain (Postgres
// builds it, vecgate mirrors it), with vecgate options (stripped for Postgres, recorded in
// vecgate.indexes) and offloaded (vecgate only) — and DROP INDEX; queries of each metric are
// then intercepted and return what an exact scan returns.
func TestCreateIndexThroughVecgate(t *testing.T) {
	f := newFixture(t, 1500)
	via := pgtest.Connect(t, f.via)    // runs the DDL
	reader := pgtest.Connect(t, f.via) // runs the queries: it wrote nothing, so it waits for nothing
	waitLonger(t, via)
	waitLonger(t, reader)
	admin := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	simple := pgx.QueryExecModeSimpleProtocol
	exec := func(sql string) error { _, err := via.Exec(ctx, sql, simple); return err }
	pgIndex := func(name string) (reloptions string, exists bool) {
		err := admin.QueryRow(ctx, `SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class WHERE relname = $1`, name).Scan(&reloptions)
		return reloptions, err == nil
	}
	recorded := func(name string) (mode string) {
		_ = admin.QueryRow(ctx, `SELECT mode FROM vecgate.indexes WHERE name = $1`, name).Scan(&mode)
		return mode
	}
	intercepted := func(op string) bool {
		before := f.g.Stats().Intercepted
		v := f.vector()
		got := ids(t, reader, `SELECT id, emb `+op+` $1::vector FROM items ORDER BY emb `+op+` $1::vector LIMIT 5`, v)
		if _, err := admin.Exec(ctx, "SET enable_indexscan = off"); err != nil {
			t.Fatal(err)
		}
		want := ids(t, admin, `SELECT id, emb `+op+` $1::vector FROM items ORDER BY emb `+op+` $1::vector LIMIT 5`, v)
		if _, err := admin.Exec(ctx, "RESET enable_indexscan"); err != nil {
			t.Fatal(err)
		}
		hits := 0
		in := map[int64]bool{}
		for _, id := range want {
			in[id] = true
		}
		for _, id := range got {
			if in[id] {
				hits++
			}
		}
		if hits < 4 {
			t.Fatalf("%s: through vecgate %v, exact %v", op, got, want)
		}
		return f.g.Stats().Intercepted > before
	}

	if intercepted("<=>") {
		t.Fatal("cosine intercepted before any cosine index existed")
	}
	if err := exec(`CREATE INDEX items_cos ON items USING hnsw (emb vector_cosine_ops)`); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "items_cos", 1500)
	if _, ok := pgIndex("items_cos"); !ok || !intercepted("<=>") {
		t.Fatal("plain CREATE INDEX: not in Postgres or not mirrored")
	}

	if err := exec(`CREATE INDEX items_ip_sq8 ON items USING hnsw (emb vector_ip_ops) WITH (m = 12, quantizer = 'sq8', oversample = 3)`); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "items_ip_sq8", 1500)
	if opts, ok := pgIndex("items_ip_sq8"); !ok || opts != "m=12" || recorded("items_ip_sq8") != "mirror" {
		t.Fatalf("mirror with options: Postgres reloptions %q (exists %v), recorded %q", opts, ok, recorded("items_ip_sq8"))
	}
	fast := f.g.Stats().FastPath
	if !intercepted("<#>") || f.g.Stats().FastPath != fast {
		t.Fatalf("inner product on the sq8 index: not intercepted, or answered from memory with estimated distances: %v", f.g.Stats())
	}

	if err := exec(`CREATE INDEX items_l1 ON items USING hnsw (emb vector_l1_ops) WITH (mode = offload, m = 8)`); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "items_l1", 1500)
	if _, ok := pgIndex("items_l1"); ok || recorded("items_l1") != "offload" || !intercepted("<+>") {
		t.Fatal("offload: built in Postgres, not recorded, or not intercepted")
	}
	if err := exec(`CREATE INDEX items_l1 ON items USING hnsw (emb vector_l1_ops) WITH (mode = offload)`); errCode(err) != "42P07" {
		t.Fatalf("duplicate offloaded index: %v", err)
	}
	if err := exec(`CREATE INDEX bad ON items USING hnsw (emb vector_l2_ops) WITH (quantizer = 'binary')`); errCode(err) != "0A000" {
		t.Fatalf("unsupported quantizer: %v", err)
	}
	if err := exec(`CREATE INDEX bad ON nosuch USING hnsw (emb vector_l2_ops) WITH (mode = offload)`); errCode(err) != "42P01" {
		t.Fatalf("offload on a missing table: %v", err)
	}

	if err := exec(`DROP INDEX items_l1`); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "items_l1", 0)
	if recorded("items_l1") != "" || intercepted("<+>") {
		t.Fatal("dropped offloaded index still recorded or still answering")
	}
	if err := exec(`DROP INDEX items_ip_sq8`); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "items_ip_sq8", 0)
	if _, ok := pgIndex("items_ip_sq8"); ok || recorded("items_ip_sq8") != "" {
		t.Fatal("dropped mirrored index still in Postgres or recorded")
	}
}
