package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/intercept"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/migrations"
	"github.com/vecgate/vecgate/planner"
)

// tenants of the docs table: tenant → share of the 20,000 rows.
var tenants = []struct {
	id      int
	matches int
}{{1, 10000}, {2, 2000}, {3, 200}, {4, 20}} // 50 %, 10 %, 1 %, 0.1 %

// newIncludeFixture: rows × 16 dimensions with a tenant column (tenants 1 to 4 at 50 %, 10 %,
// 1 %, 0.1 %), a pgvector HNSW index, and vecgate's own index with include = 'tenant_id,
// category': created through vecgate when viaDDL (which costs a second load), else recorded in
// vecgate.indexes before vecgate starts, as an HNSW index or (ivfLists > 0) an IVF one.
func newIncludeFixture(t *testing.T, rows int, viaDDL bool, ivfLists ...int) *fixture {
	t.Helper()
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE docs (id bigserial PRIMARY KEY, tenant_id int NOT NULL, category text NOT NULL, price numeric, emb vector(16))`,
		fmt.Sprintf(`INSERT INTO docs (tenant_id, category, price, emb)
			SELECT CASE WHEN g %% 1000 < 500 THEN 1 WHEN g %% 1000 < 600 THEN 2 WHEN g %% 1000 < 610 THEN 3
			            WHEN g %% 1000 = 610 THEN 4 ELSE 5 + g %% 7 END,
			       'c' || (g %% 3), g,
			       (SELECT array_agg((g %% 20) * 0.3 + random() - 0.5 + d * 0)::vector(16) FROM generate_series(1, 16) d)
			FROM (SELECT setseed(0.5)) s, generate_series(1, %d) g`, rows),
		`CREATE INDEX docs_emb_hnsw ON docs USING hnsw (emb vector_l2_ops)`,
		`ANALYZE docs`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// m = 8, ef_construction = 32: the build under -race is most of this test's time.
	if !viaDDL {
		if err := migrations.Up(ctx, dsn, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		method, opts := "hnsw", `{"include": ["tenant_id", "category"], "m": 8, "ef_construction": 32}`
		if len(ivfLists) > 0 {
			method, opts = "ivfflat", fmt.Sprintf(`{"include": ["tenant_id", "category"], "lists": %d}`, ivfLists[0])
		}
		if _, err := c.Exec(ctx, `INSERT INTO vecgate.indexes (schema_name, name, table_name, column_name, method, metric, options, mode)
			VALUES ('public', 'docs_emb_inc', 'docs', 'emb', $1, $2, $3, 'offload')`,
			method, ann.L2.String(), opts); err != nil {
			t.Fatal(err)
		}
	}
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
	waitIndexed(t, g, rows)
	f := &fixture{dsn: dsn, via: viaDSN(dsn, g), g: g, rng: rand.New(rand.NewPCG(7, 13))}
	if viaDDL {
		createIncludeIndex(t, f, c, rows)
	}
	ix, ok := g.set.Lookup("public", "docs", "emb", ann.L2)
	if !ok || ix.Source != "docs_emb_inc" || ix.IncludeType("tenant_id") != "int" || ix.IncludeType("category") != "text" || ix.IncludeRows() != rows {
		t.Fatalf("live index %v: include types %q %q, rows %d", ix.Source, ix.IncludeType("tenant_id"), ix.IncludeType("category"), ix.IncludeRows())
	}
	return f
}

// createIncludeIndex creates docs_emb_inc through vecgate (after refusals of columns it cannot
// filter on) and waits for its twin.
func createIncludeIndex(t *testing.T, f *fixture, c *pgx.Conn, rows int) {
	t.Helper()
	ctx := context.Background()
	via := pgtest.Connect(t, f.via)
	for _, q := range []string{
		`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
		`ALTER TABLE docs ADD COLUMN label text COLLATE ci`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for sql, code := range map[string]string{
		`CREATE INDEX docs_bad ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'label', mode = offload)`:                                "0A000",
		`CREATE INDEX docs_bad ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'price', mode = offload)`:                                "0A000",
		`CREATE INDEX docs_bad ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'nope', mode = offload)`:                                 "42703",
		`CREATE INDEX docs_bad ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'emb', mode = mirror)`:                                   "0A000",
		`CREATE INDEX docs_emb_inc ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'tenant_id, category', m = 8, ef_construction = 32)`: "",
	} {
		_, err := via.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		var pe *pgconn.PgError
		switch {
		case code == "" && err != nil:
			t.Fatalf("%s: %v", sql, err)
		case code != "" && (!errorsAs(err, &pe) || pe.Code != code):
			t.Fatalf("%s: %v, want SQLSTATE %s", sql, err, code)
		}
	}
	waitTwin(t, f, "docs_emb_inc", rows) // mirror: recorded once Postgres has built its index
	var opts string
	if err := c.QueryRow(ctx, `SELECT options::text FROM vecgate.indexes WHERE name = 'docs_emb_inc'`).Scan(&opts); err != nil || !strings.Contains(opts, `"include": ["tenant_id", "category"]`) {
		t.Fatalf("vecgate.indexes options %s (%v)", opts, err)
	}
	var reloptions string
	if err := c.QueryRow(ctx, `SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'docs_emb_inc'`).Scan(&reloptions); err != nil || strings.Contains(reloptions, "include") {
		t.Fatalf("Postgres' docs_emb_inc: reloptions %q (%v), want no include", reloptions, err)
	}
	var bad int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'docs_bad'`).Scan(&bad); err != nil || bad != 0 {
		t.Fatalf("a refused index was built: %d (%v)", bad, err)
	}
}

func errorsAs(err error, pe **pgconn.PgError) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*pgconn.PgError)
	*pe = e
	return ok
}

// TestIncludeFilters: WHERE tenant_id = $2 ORDER BY emb <-> $1 LIMIT 10 at 50 %, 10 %, 1 % and
// 0.1 % selectivity. Through vecgate every query is intercepted (never forwarded after widening)
// and returns min(10, matches) rows, the exact answer's rows in its order (at 50 % the filtered
// graph search may miss a row: recall ≥ 0.95 there); pgvector's HNSW scan directly (ef_search 40,
// no iterative scan) returns short, and how often is logged. Parameters go as literals (simple
// protocol), binary (prepared, types inferred) and text (declared int8).
func TestIncludeFilters(t *testing.T) {
	f := newIncludeFixture(t, 20000, false)
	ctx := context.Background()
	via := pgtest.Connect(t, f.via)
	exact := pgtest.Connect(t, f.dsn)
	pgv := pgtest.Connect(t, f.dsn)
	for _, q := range []string{"SET enable_indexscan = off"} {
		if _, err := exact.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"SET enable_seqscan = off", "SET hnsw.ef_search = 40", "SET hnsw.iterative_scan = off"} {
		if _, err := pgv.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	defer func() { t.Logf("queries %v", time.Since(start)) }()
	const perTenant = 24
	const q = `SELECT id, emb <-> $1::vector FROM docs WHERE tenant_id = $2 ORDER BY emb <-> $1::vector LIMIT 10`
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec}
	before, widened := f.g.Stats().Intercepted, f.g.Stats().Forwarded["widening"]
	for _, tn := range tenants {
		short, pgShort, hits, total := 0, 0, 0, 0
		var tVia, tExact, tPgv time.Duration
		for i := range perTenant {
			v := f.vector()
			mode := modes[i%len(modes)]
			var tenant any = tn.id // binary int4 (cache statement), text with type int8 (exec), literal (simple)
			t0 := time.Now()
			got := rowIDs(t, via, mode, q, v, tenant)
			t1 := time.Now()
			want := rowIDs(t, exact, pgx.QueryExecModeSimpleProtocol, q, v, tn.id)
			t2 := time.Now()
			direct := rowIDs(t, pgv, pgx.QueryExecModeSimpleProtocol, q, v, tn.id)
			tVia, tExact, tPgv = tVia+t1.Sub(t0), tExact+t2.Sub(t1), tPgv+time.Since(t2)
			if len(want) != min(10, tn.matches) {
				t.Fatalf("exact scan returned %d rows for %d matches", len(want), tn.matches)
			}
			if len(got) != len(want) {
				short++
				t.Errorf("tenant %d (%d matches), %v: %d rows through vecgate, want %d", tn.id, tn.matches, mode, len(got), len(want))
			}
			if len(direct) < len(want) {
				pgShort++
			}
			if tn.matches < 5000 && !slices.Equal(got, want) {
				t.Errorf("tenant %d (%d matches), %v: vecgate %v, exact %v", tn.id, tn.matches, mode, got, want)
			}
			for _, id := range got {
				if slices.Contains(want, id) {
					hits++
				}
			}
			total += len(want)
		}
		recall := float64(hits) / float64(total)
		t.Logf("tenant %d (%5d matches, %5.1f %%): vecgate short %d of %d, recall@10 %.4f; pgvector HNSW directly short %d of %d; mean latency vecgate %v, exact scan %v, pgvector HNSW %v",
			tn.id, tn.matches, float64(tn.matches)/200, short, perTenant, recall, pgShort, perTenant,
			tVia/perTenant, tExact/perTenant, tPgv/perTenant)
		if recall < 0.95 {
			t.Errorf("tenant %d: recall@10 %.4f", tn.id, recall)
		}
	}
	if n := f.g.Stats().Intercepted - before; n != int64(perTenant*len(tenants)) {
		t.Errorf("%d of %d filtered queries intercepted", n, perTenant*len(tenants))
	}
	if n := f.g.Stats().Forwarded["widening"] - widened; n != 0 {
		t.Errorf("%d filtered queries forwarded after widening", n)
	}

	// The live index filters whichever way the tenant arrives: a literal, a binary int4, a text
	// int8 (what pgx's exec mode declares), and the one round sees every passing row.
	pl := planner.New(intercept.Searcher(f.g.set, 0))
	v := f.vector()
	sq, err := pl.PlanSimple(`SELECT id FROM docs WHERE tenant_id = 4 ORDER BY emb <-> '`+v+`' LIMIT 30`, planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := pl.Prepare(`SELECT id FROM docs WHERE tenant_id = $2 ORDER BY emb <-> $1::vector LIMIT 30`)
	if err != nil {
		t.Fatal(err)
	}
	bq, err := pl.Bind(pr, [][]byte{[]byte(v), {0, 0, 0, 4}}, []int16{0, 1}, planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	pr8 := *pr
	pr8.ParamOIDs = []uint32{0, 20}
	tq, err := pl.Bind(&pr8, [][]byte{[]byte(v), []byte("04")}, nil, planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	for name, pq := range map[string]*planner.Query{"literal": sq, "binary int4": bq, "text int8": tq} {
		if _, _, _, err := pq.Next(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if pq.Filtered != "exact over the 20 matching rows" || len(pq.Keys()) != 20 {
			t.Errorf("%s: filtered %q, %d candidates", name, pq.Filtered, len(pq.Keys()))
		}
		if _, done, fwd, _ := pq.Next(ctx, 20); !done || fwd {
			t.Errorf("%s: 20 of 30 rows: done %v forward %v, want done", name, done, fwd)
		}
	}

	// EXPLAIN through vecgate says the filter is applied in the index (not how many rows match:
	// row-level security may hide some).
	rows, err := via.Query(ctx, `EXPLAIN SELECT id FROM docs WHERE tenant_id = 4 AND category <> 'x' ORDER BY emb <-> '`+f.vector()+`' LIMIT 10`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "vecgate: filter on tenant_id applied in the index; Postgres re-checks the whole WHERE") {
		t.Fatalf("EXPLAIN:\n%s", text)
	}
	t.Logf("EXPLAIN:\n%s", text)
}

// TestIncludeFilterFollowsUpdates: a row moved to another tenant (vector untouched) is found
// under its new tenant and no longer under the old one, in the session that moved it; a key
// change and a delete are followed too.
func TestIncludeFilterFollowsUpdates(t *testing.T) {
	f := newIncludeFixture(t, 3000, true)
	ctx := context.Background()
	via := pgtest.Connect(t, f.via)
	simple := pgx.QueryExecModeSimpleProtocol
	const q = `SELECT id, emb <-> $1::vector FROM docs WHERE tenant_id = $2 AND category = $3 ORDER BY emb <-> $1::vector LIMIT 5`
	// Each read follows a write: on a loaded machine the default 100 ms wait for replication can
	// run out, and the read is then (correctly) forwarded; this test wants them intercepted.
	if _, err := via.Exec(ctx, `SET vecgate.max_wait = '10s'`, simple); err != nil {
		t.Fatal(err)
	}
	var id int64
	var v, cat string
	if err := via.QueryRow(ctx, `SELECT id, emb::text, category FROM docs WHERE tenant_id = 1 ORDER BY id LIMIT 1 OFFSET 77`, simple).Scan(&id, &v, &cat); err != nil {
		t.Fatal(err)
	}
	before := f.g.Stats().Intercepted
	steps := []struct {
		sql          string
		tenant       int
		wantFirst    int64 // 0: the row must not be returned
		checkTenant1 bool
	}{
		{`UPDATE docs SET tenant_id = 4 WHERE id = $1`, 4, id, true},
		{`UPDATE docs SET id = id + 100000 WHERE id = $1`, 4, id + 100000, false},
		{`DELETE FROM docs WHERE id = $1 + 100000`, 4, 0, false},
	}
	for _, st := range steps {
		if _, err := via.Exec(ctx, st.sql, id); err != nil {
			t.Fatal(err)
		}
		for _, mode := range []pgx.QueryExecMode{simple, pgx.QueryExecModeCacheStatement} {
			got := rowIDs(t, via, mode, q, v, st.tenant, cat)
			if st.wantFirst != 0 && (len(got) == 0 || got[0] != st.wantFirst) || st.wantFirst == 0 && slices.Contains(got, id+100000) {
				t.Fatalf("after %s: tenant %d returns %v (want %d first)", st.sql, st.tenant, got, st.wantFirst)
			}
			if st.checkTenant1 {
				if got := rowIDs(t, via, mode, q, v, 1, cat); slices.Contains(got, id) || len(got) != 5 {
					t.Fatalf("after %s: tenant 1 still returns %d: %v", st.sql, id, got)
				}
			}
		}
	}
	if n := f.g.Stats().Intercepted - before; n < 8 {
		t.Fatalf("only %d of the queries were intercepted", n)
	}

	// Published columns: the definitions' include columns and, twins being covering, every
	// other column vecgate prints. With the include index dropped the tenant is no longer
	// filtered on and pgvector's twin answers (widening, as without include).
	admin := pgtest.Connect(t, f.dsn)
	published := func() []string {
		var cols []string
		if err := admin.QueryRow(ctx, `SELECT attnames FROM pg_publication_tables WHERE pubname = $1 AND tablename = 'docs'`,
			f.g.stream.Status().Publication).Scan(&cols); err != nil {
			t.Fatal(err)
		}
		slices.Sort(cols)
		return cols
	}
	all := []string{"category", "emb", "id", "label", "price", "tenant_id"}
	if got := published(); !slices.Equal(got, all) {
		t.Fatalf("published columns %v", got)
	}
	if _, err := via.Exec(ctx, `DROP INDEX docs_emb_inc`, simple); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "docs_emb_inc", 0)
	waitTwin(t, f, "docs_emb_hnsw", 3000-1)
	if got := published(); !slices.Equal(got, all) {
		t.Fatalf("published columns after DROP INDEX %v", got)
	}
	if ix, ok := f.g.set.Lookup("public", "docs", "emb", ann.L2); !ok || ix.IncludeType("tenant_id") != "" {
		t.Fatalf("after DROP INDEX: %v %v", ok, ix.Source)
	}
	if got := rowIDs(t, via, simple, q, v, 2, cat); len(got) != 5 {
		t.Fatalf("tenant 2 after DROP INDEX: %v", got)
	}
}

// TestIncludeFiltersIVF: the same filtered queries answered by an IVF twin (lists = 20, probes
// 1 to start): the filter goes into the list scan, probes widen until LIMIT rows or every list,
// and the answer is the exact one.
func TestIncludeFiltersIVF(t *testing.T) {
	f := newIncludeFixture(t, 5000, false, 20)
	if ix, _ := f.g.set.Lookup("public", "docs", "emb", ann.L2); !strings.HasPrefix(ix.Kind(), "ivf") {
		t.Fatalf("twin of kind %s, want an IVF", ix.Kind())
	}
	ctx := context.Background()
	via := pgtest.Connect(t, f.via)
	exact := pgtest.Connect(t, f.dsn)
	if _, err := exact.Exec(ctx, "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT id, emb <-> $1::vector FROM docs WHERE tenant_id = $2 ORDER BY emb <-> $1::vector LIMIT 10`
	before, widened := f.g.Stats().Intercepted, f.g.Stats().Forwarded["widening"]
	queries := 0
	for _, tn := range []struct{ id, matches int }{{1, 2500}, {2, 500}, {3, 50}, {4, 5}} {
		hits, total := 0, 0
		for i := range 8 {
			v := f.vector()
			mode := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement}[i%2]
			got := rowIDs(t, via, mode, q, v, tn.id)
			want := rowIDs(t, exact, pgx.QueryExecModeSimpleProtocol, q, v, tn.id)
			queries++
			if len(got) != min(10, tn.matches) || len(want) != len(got) {
				t.Fatalf("tenant %d (%d matches): %d rows through vecgate, exact %d", tn.id, tn.matches, len(got), len(want))
			}
			if tn.matches <= 4096 && !slices.Equal(got, want) {
				t.Errorf("tenant %d: vecgate %v, exact %v", tn.id, got, want)
			}
			for _, id := range got {
				if slices.Contains(want, id) {
					hits++
				}
			}
			total += len(want)
		}
		t.Logf("tenant %d (%d matches): recall@10 %.4f", tn.id, tn.matches, float64(hits)/float64(total))
	}
	if n := f.g.Stats().Intercepted - before; n != int64(queries) {
		t.Errorf("%d of %d filtered queries intercepted", n, queries)
	}
	if n := f.g.Stats().Forwarded["widening"] - widened; n != 0 {
		t.Errorf("%d filtered queries forwarded after widening", n)
	}
}
