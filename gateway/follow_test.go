package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/planner"
	"github.com/vecgate/vecgate/replication"
)

// TestLiveFollowsWrites: after updates, deletes, inserts, key changes, NULL vectors and a
// truncate upstream, the live index holds exactly the table's non-NULL vectors under their keys.
func TestLiveFollowsWrites(t *testing.T) {
	f := newFixture(t, 1000)
	admin := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	for _, q := range []string{
		`UPDATE items SET emb = (SELECT array_agg(0.01 * id + d * 0.001)::vector(16) FROM generate_series(1, 16) d) WHERE id % 20 = 0`,
		`DELETE FROM items WHERE id % 10 = 1`,
		`INSERT INTO items (category, rare, title, emb) SELECT 1, 1, 'x', (SELECT array_agg(g * 0.5 + d * 0.01)::vector(16) FROM generate_series(1, 16) d) FROM generate_series(1, 100) g`,
		`UPDATE items SET id = id + 100000 WHERE id % 10 = 3 AND id < 200`,
		`UPDATE items SET emb = NULL WHERE id % 10 = 5 AND id < 300`,
		`UPDATE items SET title = 'renamed' WHERE id % 10 = 7`,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	check := func() {
		t.Helper()
		var lsn string
		if err := admin.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
			t.Fatal(err)
		}
		l, _ := replication.ParseLSN(lsn)
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := f.g.stream.WaitFor(wctx, l); err != nil {
			t.Fatal(err)
		}
		rows, err := admin.Query(ctx, `SELECT id, emb::text FROM items WHERE emb IS NOT NULL ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		type r struct {
			id  int64
			emb string
		}
		want, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (r, error) {
			var x r
			return x, row.Scan(&x.id, &x.emb)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := indexed(f.g); n != len(want) {
			t.Fatalf("index holds %d rows, table %d non-NULL vectors", n, len(want))
		}
		for i, w := range want {
			if i%5 != 0 {
				continue
			}
			v, err := planner.ParseVector(w.emb)
			if err != nil {
				t.Fatal(err)
			}
			res, err := f.g.set.Search(ctx, "public", "items", "emb", ann.L2, v, 1)
			if err != nil || len(res) != 1 || res[0].Distance > 1e-6 {
				t.Fatalf("row %d: own vector not found at distance 0: %v %v", w.id, res, err)
			}
		}
	}
	check()
	if _, err := admin.Exec(ctx, "TRUNCATE items"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `INSERT INTO items (category, rare, title, emb) VALUES (1, 1, 'after truncate', '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]')`); err != nil {
		t.Fatal(err)
	}
	check()
}
