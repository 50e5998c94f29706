package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestNoOpDDLNoReload: DDL through vecgate and in Postgres that changes nothing vecgate's twins
// depend on — CREATE INDEX IF NOT EXISTS of the existing pgvector index (LangChain and Drizzle
// send it at every start), an index on a column that is not a vector, a table without a vector
// column, GRANT and REVOKE — reloads nothing, and queries keep being answered from memory.
func TestNoOpDDLNoReload(t *testing.T) {
	f := newFixture(t, 1500)
	via := pgtest.Connect(t, f.via)
	waitLonger(t, via)
	admin := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	loads := f.g.stream.Status().Resnapshots
	for _, q := range []string{
		`CREATE INDEX IF NOT EXISTS items_emb_hnsw ON items USING hnsw (emb vector_l2_ops)`,
		`CREATE INDEX IF NOT EXISTS items_emb_hnsw ON items USING hnsw (emb vector_l2_ops) WITH (m = 16)`,
		`CREATE INDEX items_category ON items (category)`,
		`CREATE TABLE notes (id int PRIMARY KEY, body text)`,
		`GRANT SELECT ON items TO PUBLIC`,
		`REVOKE SELECT ON items FROM PUBLIC`,
	} {
		if _, err := via.Exec(ctx, q, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		time.Sleep(300 * time.Millisecond) // a reload, if one was asked for, has begun
		caughtUp(t, f.g, admin)
		if n := f.g.stream.Status().Resnapshots; n != loads {
			t.Fatalf("after %s: %d full loads, want %d", q, n, loads)
		}
		before := f.g.Stats().Intercepted
		ids(t, via, `SELECT id, emb <-> $1::vector FROM items ORDER BY emb <-> $1::vector LIMIT 5`, f.vector())
		if f.g.Stats().Intercepted == before {
			t.Fatalf("after %s: the query was not intercepted: %+v", q, f.g.Stats())
		}
	}
}
