package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestRestartFromSnapshot: vecgate with --data-dir writes its indexes to disk; a restarted
// vecgate loads them, resumes from the slot (rows written while it was down included) without a
// full reload, and answers queries from the index again.
func TestRestartFromSnapshot(t *testing.T) {
	opt := Config{Intercept: true, SlotName: fmt.Sprintf("r%d", rand.Uint32()), DataDir: t.TempDir()}
	f := newFixtureWith(t, 1500, opt)
	if err := f.g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	admin := pgtest.Connect(t, f.dsn)
	if _, err := admin.Exec(context.Background(), `INSERT INTO items (category, rare, title, emb)
		SELECT 1, 1, 'while down', (SELECT array_agg(0.1 * d + g * 0)::vector(16) FROM generate_series(1, 16) d)
		FROM generate_series(1, 25) g`); err != nil {
		t.Fatal(err)
	}
	g := startTestGateway(t, f.dsn, opt)
	waitIndexed(t, g, 1525)
	if st := g.stream.Status(); st.Resnapshots != 0 {
		t.Fatalf("restart reloaded from Postgres (%d full loads) instead of resuming: %+v", st.Resnapshots, st)
	}
	via := pgtest.Connect(t, viaDSN(f.dsn, g))
	before := g.Stats().Intercepted
	got := idDists(t, via, pgx.QueryExecModeSimpleProtocol,
		`SELECT id, emb <-> '[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1,1.1,1.2,1.3,1.4,1.5,1.6]' FROM items
		 ORDER BY emb <-> '[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1,1.1,1.2,1.3,1.4,1.5,1.6]' LIMIT 3`)
	if len(got) != 3 || got[0].d > 1e-6 || g.Stats().Intercepted != before+1 {
		t.Fatalf("after restart: %v (intercepted %d)", got, g.Stats().Intercepted-before)
	}
}

// TestReload: a pgvector index created upstream after vecgate started gets its in-memory twin
// after Reload, and queries with its metric are then intercepted.
func TestReload(t *testing.T) {
	f := newFixture(t, 1000)
	admin := pgtest.Connect(t, f.dsn)
	if _, err := admin.Exec(context.Background(), `CREATE INDEX items_emb_cos ON items USING hnsw (emb vector_cosine_ops) WITH (m = 8)`); err != nil {
		t.Fatal(err)
	}
	f.g.stream.Reload()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, ix := range f.g.set.Indexes() {
			if ix.Source == "items_emb_cos" && ix.Len() == 1000 {
				n++
			}
		}
		if n == 1 && f.g.stream.Ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cosine twin after Reload: %+v", f.g.stream.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	via := pgtest.Connect(t, f.via)
	before := f.g.Stats().Intercepted
	idDists(t, via, pgx.QueryExecModeSimpleProtocol,
		`SELECT id, emb <=> $1::vector FROM items ORDER BY emb <=> $1::vector LIMIT 5`, f.vector())
	if f.g.Stats().Intercepted != before+1 {
		t.Fatal("cosine query not intercepted after reload")
	}
}

// TestCatalogFollowed: a table with a vector column and a pgvector index created directly in
// Postgres (not through vecgate) gets its in-memory twin at the next catalog check.
func TestCatalogFollowed(t *testing.T) {
	f := newFixtureWith(t, 500, Config{Intercept: true, SlotName: fmt.Sprintf("k%d", rand.Uint32()),
		CatalogInterval: 200 * time.Millisecond})
	admin := pgtest.Connect(t, f.dsn)
	for _, q := range []string{
		`CREATE TABLE other (id int PRIMARY KEY, e vector(3))`,
		`INSERT INTO other SELECT g, ARRAY[g, g % 7, 1]::vector FROM generate_series(1, 300) g`,
		`CREATE INDEX other_e ON other USING hnsw (e vector_l2_ops)`,
	} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := -1
		for _, ix := range f.g.set.Indexes() {
			if ix.Source == "other_e" {
				n = ix.Len()
			}
		}
		if n == 300 && f.g.stream.Ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no twin for a table created upstream (%d rows): %+v", n, f.g.stream.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	via := pgtest.Connect(t, f.via)
	before := f.g.Stats().Intercepted
	got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, `SELECT id, e <-> '[10,3,1]' FROM other ORDER BY e <-> '[10,3,1]' LIMIT 1`)
	if len(got) != 1 || got[0].id != 10 || f.g.Stats().Intercepted != before+1 {
		t.Fatalf("query on the new table: %v, intercepted %d", got, f.g.Stats().Intercepted-before)
	}
}
