package gateway

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestDeallocateAllBind: after DEALLOCATE ALL, a Bind of a statement prepared before it gets
// Postgres' own error (26000), through vecgate as directly; vecgate answered it from its index.
func TestDeallocateAllBind(t *testing.T) {
	f := newFixture(t, 500)
	ctx := context.Background()
	for _, dsn := range []string{f.dsn, f.via} {
		c := pgtest.Connect(t, dsn).PgConn()
		if _, err := c.Prepare(ctx, "s1", `SELECT id FROM items WHERE rare >= 0 ORDER BY emb <-> $1::vector LIMIT 3`, nil); err != nil {
			t.Fatal(err)
		}
		v := []byte(f.vector())
		r := c.ExecPrepared(ctx, "s1", [][]byte{v}, nil, nil).Read()
		if r.Err != nil || len(r.Rows) != 3 {
			t.Fatalf("before: %d rows, %v", len(r.Rows), r.Err)
		}
		if err := c.Exec(ctx, "DEALLOCATE ALL").Close(); err != nil {
			t.Fatal(err)
		}
		before := f.g.Stats().Intercepted
		r = c.ExecPrepared(ctx, "s1", [][]byte{v}, nil, nil).Read()
		if errCode(r.Err) != "26000" || f.g.Stats().Intercepted != before {
			t.Fatalf("%s after DEALLOCATE ALL: %d rows, %v; want 26000 (prepared statement does not exist), not intercepted", dsn, len(r.Rows), r.Err)
		}
	}
}
