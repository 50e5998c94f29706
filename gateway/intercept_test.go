package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/planner"
	"github.com/vecgate/vecgate/proxy"
)

const dims = 16

// fixture is a test database with a clustered vector table and a running vecgate in front of it.
type fixture struct {
	dsn, via string
	g        *Gateway
	rng      *rand.Rand
}

func newFixture(t *testing.T, rows int) *fixture {
	t.Helper()
	return newFixtureWith(t, rows, Config{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
}

func newFixtureWith(t *testing.T, rows int, opt Config) *fixture {
	t.Helper()
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range append(itemsTable(rows),
		`CREATE INDEX items_emb_hnsw ON items USING hnsw (emb vector_l2_ops)`,
		`ANALYZE items`,
	) {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	g := startTestGateway(t, dsn, opt)
	waitIndexed(t, g, rows)
	return &fixture{dsn: dsn, via: viaDSN(dsn, g), g: g, rng: rand.New(rand.NewPCG(7, 11))}
}

// itemsTable creates the fixtures' table items: rows 16-d vectors in 20 clusters (seeded), with
// category = g % 100 (1 % selectivity) and rare = g % 1000 (0.1 %).
func itemsTable(rows int) []string {
	return []string{
		`CREATE TABLE items (id bigserial PRIMARY KEY, category int NOT NULL, rare int NOT NULL, title text, emb vector(16))`,
		fmt.Sprintf(`INSERT INTO items (category, rare, title, emb)
			SELECT g %% 100, g %% 1000, 'item ' || g,
			       (SELECT array_agg((g %% 20) * 0.3 + random() - 0.5 + d * 0)::vector(16) FROM generate_series(1, 16) d)
			FROM (SELECT setseed(0.25)) s, generate_series(1, %d) g`, rows),
	}
}

// startGateway starts a gateway with proxy settings cfg and the rest of opt (the observer's
// catalog cache refreshed every 50ms unless opt says otherwise).
func startGateway(ctx context.Context, cfg proxy.Config, opt Config) (*Gateway, error) {
	opt.Proxy = cfg
	if opt.Observe.Refresh == 0 {
		opt.Observe.Refresh = 50 * time.Millisecond
	}
	return Start(ctx, opt)
}

// counted is the counter key of s: "intercept", "fast", "canceled" or "forward:<reason>".
func counted(s observe.Stats, key string) int64 {
	switch key {
	case "intercept":
		return s.Intercepted
	case "fast":
		return s.FastPath
	case "canceled":
		return s.Canceled
	}
	reason, ok := strings.CutPrefix(key, "forward:")
	if !ok {
		panic("unknown counter " + key)
	}
	return s.Forwarded[reason]
}

// startTestGateway starts a gateway in front of dsn, closed when the test ends (logging to
// stderr when VECGATE_TEST_LOG is set).
func startTestGateway(t testing.TB, dsn string, opt Config) *Gateway {
	t.Helper()
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", dsn
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("VECGATE_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	g, err := startGateway(context.Background(), cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(sctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return g
}

// waitIndexed waits until replication is streaming and the live indexes hold rows rows.
func waitIndexed(t testing.TB, g *Gateway, rows int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !g.stream.Ready() || indexed(g) < rows {
		if time.Now().After(deadline) {
			t.Fatalf("replication not ready (%d rows indexed): %+v", indexed(g), g.stream.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func viaDSN(dsn string, g *Gateway) string {
	u, _ := url.Parse(dsn)
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(g.srv.Addr().(*net.TCPAddr).Port))
	return u.String()
}

// indexed sums the rows of every twin (a table with two twins counts twice): waiting for it
// waits for every twin to fill. Users see observe.IndexedRows instead.
func indexed(g *Gateway) int {
	n := 0
	for _, ix := range g.set.Indexes() {
		n += ix.Len()
	}
	return n
}

func (f *fixture) vector() string {
	c := f.rng.IntN(20)
	parts := make([]string, dims)
	for i := range parts {
		parts[i] = strconv.FormatFloat(float64(c)*0.3+f.rng.Float64()-0.5, 'f', 4, 32)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func ids(t *testing.T, c *pgx.Conn, sql string, args ...any) []int64 {
	t.Helper()
	return rowIDs(t, c, pgx.QueryExecModeSimpleProtocol, sql, args...)
}

// rowIDs runs a query that returns (id, distance) rows in the given pgx execution mode and
// returns the ids.
func rowIDs(t *testing.T, c *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) []int64 {
	t.Helper()
	var out []int64
	for _, r := range idDists(t, c, mode, sql, args...) {
		out = append(out, r.id)
	}
	return out
}

// TestInterceptRecall: 1,000 random top-10 queries over 20,000 rows through vecgate are answered
// from the live index (the counter says so), rows come back in exact distance order with
// Postgres' own distances, and recall@10 against an exact scan is at least 0.95.
func TestInterceptRecall(t *testing.T) {
	f := newFixture(t, recallRows) // 50,000 rows; 20,000 under the race detector
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	if _, err := direct.Exec(context.Background(), "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	const queries = 1000
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 10`
	hits, total := 0, 0
	for range queries {
		v := f.vector()
		got := ids(t, via, q, v)
		exact := ids(t, direct, q, v)
		if len(got) != 10 || len(exact) != 10 {
			t.Fatalf("got %d rows through vecgate, %d exact", len(got), len(exact))
		}
		in := map[int64]bool{}
		for _, id := range exact {
			in[id] = true
		}
		for _, id := range got {
			if in[id] {
				hits++
			}
		}
		total += 10
		// Order and distances: Postgres computed them, so recompute directly for the same ids.
		var sorted bool
		if err := direct.QueryRow(context.Background(), `SELECT bool_and(d1 <= d2) FROM (
			SELECT emb <-> $1::vector AS d1, lead(emb <-> $1::vector) OVER (ORDER BY ord) AS d2
			FROM unnest($2::bigint[]) WITH ORDINALITY u(id, ord) JOIN items USING (id)) s WHERE d2 IS NOT NULL`,
			v, got).Scan(&sorted); err != nil || !sorted {
			t.Fatalf("rows not in distance order: %v %v", got, err)
		}
	}
	recall := float64(hits) / float64(total)
	t.Logf("recall@10 = %.4f over %d queries; intercepted %d", recall, queries, f.g.Stats().Intercepted)
	if recall < 0.95 {
		t.Fatalf("recall@10 %.4f < 0.95", recall)
	}
	if n := f.g.Stats().Intercepted; n < queries {
		t.Fatalf("only %d of %d queries were intercepted", n, queries)
	}
}

// TestInterceptFilters: with a WHERE on columns the index does not hold, vecgate widens its
// candidate list until LIMIT rows come back (or every match has), at selectivities 50 %, 10 %, 1 %
// and 0.1 %: it returns min(10, matches) rows every time, Postgres' exact answer. pgvector's HNSW
// scan directly (ef_search 40, no iterative scan) is counted where it returns short.
func TestInterceptFilters(t *testing.T) {
	f := newFixture(t, 10000) // 0.1 %: 10 rows match
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	exact := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	if _, err := exact.Exec(ctx, "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, where string
	}{
		{"50%", "category < 50 AND rare >= $2"},
		{"10%", "category < 10 AND rare >= $2"},
		{"1%", "category = $2"},
		{"0.1%", "rare = $2"},
	} {
		q := `SELECT id, emb <-> $1::vector FROM items WHERE ` + tc.where + ` ORDER BY emb <-> $1::vector LIMIT 10`
		short := 0
		for i := range 10 {
			v := f.vector()
			got, want := ids(t, via, q, v, i), ids(t, exact, q, v, i)
			if !slices.Equal(got, want) {
				t.Fatalf("%s, $2 = %d: through vecgate %v, exact %v", tc.name, i, got, want)
			}
			if len(ids(t, direct, q, v, i)) < len(want) {
				short++
			}
		}
		t.Logf("selectivity %s: vecgate returned min(10, matches) rows, Postgres' exact answer, 10 times of 10; pgvector HNSW directly short in %d of 10", tc.name, short)
	}
	if f.g.Stats().Intercepted < 40 {
		t.Fatalf("filtered queries were not intercepted: %d", f.g.Stats().Intercepted)
	}
}

// TestReadYourWrites: a session that inserts a row and then searches for its vector sees it, 1,000
// times of 1,000.
func TestReadYourWrites(t *testing.T) {
	f := newFixture(t, 2000)
	via := pgtest.Connect(t, f.via)
	const writes = 1000
	for i := range writes {
		v := f.vector()
		var id int64
		if err := via.QueryRow(context.Background(), `INSERT INTO items (category, rare, title, emb) VALUES (1, 1, 'new', $1::vector) RETURNING id`,
			pgx.QueryExecModeSimpleProtocol, v).Scan(&id); err != nil {
			t.Fatal(err)
		}
		got := ids(t, via, `SELECT id, emb <-> $1::vector FROM items ORDER BY emb <-> $1::vector LIMIT 5`, v)
		if len(got) != 5 || got[0] != id {
			t.Fatalf("write %d: searched for row %d's vector, got %v", i, id, got)
		}
	}
	t.Logf("intercepted %d, forwarded while lagging %d", f.g.Stats().Intercepted, f.g.Stats().Forwarded["lagging"])
	if n := f.g.Stats().Intercepted; n < writes*3/4 {
		t.Fatalf("only %d of %d reads were intercepted (forwarded: lagging %d)", n, writes, f.g.Stats().Forwarded["lagging"])
	}
}

// TestRewriteAvoidsPgvectorIndex pins the rewrite's design: Postgres must not plan the rewritten
// statement onto pgvector's HNSW index (which would apply the id filter after a short scan), even
// when index scans are all it may use; the original statement does use it then.
func TestRewriteAvoidsPgvectorIndex(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE items (id bigint PRIMARY KEY, emb vector(3))`,
		`INSERT INTO items SELECT g, ARRAY[g, g % 7, 1]::vector FROM generate_series(1, 2000) g`,
		`CREATE INDEX items_emb_hnsw ON items USING hnsw (emb vector_l2_ops)`,
		`ANALYZE items`, `SET enable_seqscan = off`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	sql := `SELECT id FROM items ORDER BY emb <-> '[5,5,1]' LIMIT 5`
	plan := explain(t, c, sql)
	if !strings.Contains(plan, "items_emb_hnsw") {
		t.Fatalf("the original does not use the HNSW index, so this test proves nothing:\n%s", plan)
	}
	sh, err := planner.Classify(sql)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := sh.Rewrite(planner.Target{Schema: "public", Table: "items", Key: "id", KeyType: "bigint"})
	if err != nil {
		t.Fatal(err)
	}
	plan = explain(t, c, rw.Fill("ARRAY[1,2,3,4,5,6]::bigint[]"))
	if strings.Contains(plan, "items_emb_hnsw") {
		t.Fatalf("rewrite planned onto the HNSW index:\n%s", plan)
	}
	if !strings.Contains(plan, "items_pkey") {
		t.Fatalf("rewrite does not use the primary key:\n%s", plan)
	}
	if strings.Contains(plan, "Filter") {
		t.Fatalf("the rewrite's search_path guard was not folded away while planning:\n%s", plan)
	}
}

// simpleLines runs sql with the simple protocol and returns its one-column rows, one per line
// (EXPLAIN through vecgate: vecgate's lines come first).
func simpleLines(t *testing.T, c *pgx.Conn, sql string) string {
	t.Helper()
	rows, err := c.Query(context.Background(), sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return strings.Join(lines, "\n")
}

func explain(t *testing.T, c *pgx.Conn, sql string) string {
	rows, err := c.Query(context.Background(), "EXPLAIN "+sql)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestInterceptExtended: the extended protocol as pgx drives it — prepared and cached
// statements, one-shot Parse/Bind/Execute groups, text and binary (pgvector-go) vector
// parameters — is intercepted and returns what an exact scan returns.
func TestInterceptExtended(t *testing.T) {
	f := newFixture(t, 3000)
	direct := pgtest.Connect(t, f.dsn)
	if _, err := direct.Exec(context.Background(), "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	const q = `SELECT id, emb <-> $1 AS d FROM items WHERE rare <> $2 ORDER BY d LIMIT $3`
	modes := []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec}
	for _, binary := range []bool{false, true} {
		for _, mode := range modes {
			t.Run(fmt.Sprintf("%v/binary=%v", mode, binary), func(t *testing.T) {
				via := pgtest.Connect(t, f.via)
				waitLonger(t, via)
				if binary {
					if err := pgxvec.RegisterTypes(context.Background(), via); err != nil {
						t.Fatal(err)
					}
				}
				before := f.g.Stats()
				for range 30 {
					v := f.vector()
					var arg any = v
					if binary {
						vec, err := planner.ParseVector(v)
						if err != nil {
							t.Fatal(err)
						}
						arg = pgvector.NewVector(vec)
					}
					rows, err := via.Query(context.Background(), q, mode, arg, -1, 5)
					if err != nil {
						t.Fatal(err)
					}
					got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (int64, error) {
						var id int64
						var d float64
						return id, r.Scan(&id, &d)
					})
					if err != nil {
						t.Fatal(err)
					}
					want := ids(t, direct, `SELECT id, emb <-> $1::vector FROM items ORDER BY emb <-> $1::vector LIMIT 5`, v)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("through vecgate %v, exact %v", got, want)
					}
				}
				if after := f.g.Stats(); after.Intercepted-before.Intercepted < 30 {
					t.Fatalf("%d of 30 executions intercepted: %v", after.Intercepted-before.Intercepted, statsMoved(before, after))
				}
			})
		}
	}
}

type idDist struct {
	id int64
	d  float64
}

func idDists(t *testing.T, c *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) []idDist {
	t.Helper()
	rows, err := c.Query(context.Background(), sql, append([]any{mode}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (idDist, error) {
		var x idDist
		return x, r.Scan(&x.id, &x.d)
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// TestFastPath: `SELECT id, distance … ORDER BY … LIMIT k` is answered from memory (simple and
// extended protocol, text and binary results): rows in ascending distance order, each distance
// within 1e-6 relative of Postgres' own for that row, recall against an exact scan ≥ 0.95.
func TestFastPath(t *testing.T) {
	f := newFixture(t, 3000)
	direct := pgtest.Connect(t, f.dsn)
	if _, err := direct.Exec(context.Background(), "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			via := pgtest.Connect(t, f.via)
			before := f.g.Stats().FastPath
			hits, total := 0, 0
			for i := range 40 {
				v := f.vector()
				q := `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT $2`
				if i%2 == 1 {
					q = `SELECT id, emb <-> $1::vector FROM items ORDER BY 2 LIMIT $2 OFFSET 3`
				}
				got := idDists(t, via, mode, q, v, 7)
				want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, q, v, 7)
				if len(got) != len(want) {
					t.Fatalf("%d rows, want %d", len(got), len(want))
				}
				ids := make([]int64, len(got))
				for j := range got {
					ids[j] = got[j].id
					if j > 0 && got[j].d < got[j-1].d {
						t.Fatalf("rows out of order: %v", got)
					}
				}
				own := map[int64]float64{}
				for _, r := range idDists(t, direct, pgx.QueryExecModeSimpleProtocol,
					`SELECT id, emb <-> $1::vector FROM items WHERE id = ANY($2)`, v, ids) {
					own[r.id] = r.d
				}
				for _, r := range got {
					if pd, ok := own[r.id]; !ok || math.Abs(r.d-pd) > 1e-6*math.Max(1, math.Abs(pd)) {
						t.Fatalf("row %d: vecgate distance %v, Postgres %v", r.id, r.d, pd)
					}
				}
				exact := map[int64]bool{}
				for _, r := range want {
					exact[r.id] = true
				}
				for _, r := range got {
					if exact[r.id] {
						hits++
					}
				}
				total += len(want)
			}
			if r := float64(hits) / float64(total); r < 0.95 {
				t.Fatalf("recall %.3f < 0.95", r)
			}
			if n := f.g.Stats().FastPath - before; n < 35 {
				t.Fatalf("only %d of 40 answered from memory", n)
			}
		})
	}
}

// TestAccessControl: a role without SELECT gets Postgres' own error through vecgate, and a table
// with a row-level security policy returns through vecgate exactly the rows it returns directly
// (exact scan) — never answered from memory.
func TestAccessControl(t *testing.T) {
	f := newFixture(t, 2000)
	admin := pgtest.Connect(t, f.dsn)
	role := fmt.Sprintf("vg_rls_%d", rand.Uint32())
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD 'pw'",
		"GRANT USAGE ON SCHEMA public TO " + role,
	} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c := pgtest.Connect(t, f.dsn)
		_, _ = c.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = c.Exec(context.Background(), "DROP ROLE "+role)
	})
	asRole := func(dsn string) *pgx.Conn { return pgtest.Connect(t, pgtest.WithUser(t, dsn, role, "pw")) }
	q := `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 5`
	v := f.vector()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		_, errVia := asRole(f.via).Exec(context.Background(), q, mode, v)
		_, errDirect := asRole(f.dsn).Exec(context.Background(), q, mode, v)
		if errCode(errVia) != "42501" || errCode(errDirect) != "42501" {
			t.Fatalf("no SELECT privilege: through vecgate %v, direct %v", errVia, errDirect)
		}
	}
	for _, q := range []string{
		"GRANT SELECT ON items TO " + role,
		"ALTER TABLE items ENABLE ROW LEVEL SECURITY",
		"CREATE POLICY low ON items FOR SELECT TO " + role + " USING (category < 10)",
	} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	via, direct := asRole(f.via), asRole(f.dsn)
	if _, err := direct.Exec(context.Background(), "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	fastBefore := f.g.Stats().FastPath
	for range 20 {
		v := f.vector()
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			got := idDists(t, via, mode, q, v)
			want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, q, v)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("RLS: through vecgate %v, direct exact %v", got, want)
			}
		}
	}
	if n := f.g.Stats().FastPath - fastBefore; n != 0 {
		t.Fatalf("%d queries on an RLS table answered from memory", n)
	}
}

func errCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return fmt.Sprint(err)
}

// TestSessionKnobs: vecgate.enabled = off forwards, SET hnsw.ef_search still reaches Postgres,
// EXPLAIN shows vecgate's decision before Postgres' plan, SHOW vecgate.status lists the index.
func TestSessionKnobs(t *testing.T) {
	f := newFixture(t, 1000)
	via := pgtest.Connect(t, f.via)
	ctx := context.Background()
	simple := pgx.QueryExecModeSimpleProtocol
	q := `SELECT id, emb <-> $1::vector FROM items ORDER BY emb <-> $1::vector LIMIT 3`
	// Reads after a statement run in Postgres wait for replication: up to 10 s here, not 100 ms,
	// past which a loaded machine forwards them as lagging (a CI run saw that).
	if _, err := via.Exec(ctx, "SET vecgate.max_wait = '10s'", simple); err != nil {
		t.Fatal(err)
	}

	if _, err := via.Exec(ctx, "SET hnsw.ef_search = 77", simple); err != nil {
		t.Fatal(err)
	}
	var ef string
	if err := via.QueryRow(ctx, "SHOW hnsw.ef_search", simple).Scan(&ef); err != nil || ef != "77" {
		t.Fatalf("hnsw.ef_search upstream = %q, %v", ef, err)
	}
	rows, err := via.Query(ctx, "EXPLAIN SELECT id FROM items ORDER BY emb <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 3", simple)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.HasPrefix(text, "vecgate: intercepted: live index items_emb_hnsw") || !strings.Contains(text, "ef_search 77") ||
		!strings.Contains(text, "items_pkey") || strings.Contains(text, "Index Scan using items_emb_hnsw") {
		t.Fatalf("EXPLAIN through vecgate:\n%s", text)
	}
	rows, err = via.Query(ctx, "EXPLAIN SELECT id FROM items ORDER BY emb <-> '[1,1]' LIMIT 3", simple)
	if err == nil {
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || !strings.Contains(strings.Join(plan, "\n"), "vecgate: forwarded (query vector has 2 dimensions, index 16)") {
		t.Fatalf("EXPLAIN of a wrong-dimension query: %v\n%s", err, strings.Join(plan, "\n"))
	}

	before := f.g.Stats().Intercepted
	idDists(t, via, simple, q, f.vector())
	if f.g.Stats().Intercepted != before+1 {
		t.Fatal("query not intercepted before vecgate.enabled = off")
	}
	if _, err := via.Exec(ctx, "SET vecgate.enabled = off", simple); err != nil {
		t.Fatal(err)
	}
	idDists(t, via, simple, q, f.vector())
	if f.g.Stats().Intercepted != before+1 {
		t.Fatal("query intercepted with vecgate.enabled = off")
	}
	if _, err := via.Exec(ctx, "RESET vecgate.enabled", simple); err != nil {
		t.Fatal(err)
	}
	stats := f.g.Stats()
	idDists(t, via, simple, q, f.vector())
	if f.g.Stats().Intercepted != before+2 {
		t.Fatalf("query not intercepted after RESET vecgate.enabled: %v", statsMoved(stats, f.g.Stats()))
	}

	rows, err = via.Query(ctx, "SHOW vecgate.status", simple)
	if err != nil {
		t.Fatal(err)
	}
	status, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		vals, err := r.Values()
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = fmt.Sprint(v)
		}
		return out, err
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range status { // table, column, method, metric, m, ef_construction, source, state, rows, …
		if r[0] == "public.items" && r[1] == "emb" && r[3] == "<->" && strings.HasPrefix(r[6], "items_emb_hnsw") && r[8] == "1000" {
			found = true
		}
	}
	if !found {
		t.Fatalf("SHOW vecgate.status does not list the index with its 1000 rows: %v", status)
	}
}

// TestQueryDuringCopyIn: a vector query sent while the client's own COPY FROM STDIN is open is a
// protocol violation; vecgate must not wait for the COPY to finish before deciding. Postgres
// answers with its error and ends the session — through vecgate exactly as directly.
func TestQueryDuringCopyIn(t *testing.T) {
	f := newFixture(t, 200)
	run := func(target string) (got []string) {
		c, err := pgconn.Connect(context.Background(), target)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		fe := c.Frontend()
		fe.Send(&pgproto3.Query{String: "COPY items (category, rare) FROM STDIN"})
		fe.Send(&pgproto3.Query{String: "SELECT id, emb <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' FROM items ORDER BY emb <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 1"})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		_ = c.Conn().SetDeadline(time.Now().Add(15 * time.Second))
		for {
			m, err := fe.Receive()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("%s: no answer within 15 s (waiting on the COPY?)", target)
				}
				return append(got, "end")
			}
			got = append(got, fmt.Sprintf("%T", m))
			if e, ok := m.(*pgproto3.ErrorResponse); ok {
				got = append(got, e.Code)
			}
		}
	}
	direct, through := run(f.dsn), run(f.via)
	if fmt.Sprint(direct) != fmt.Sprint(through) || !strings.Contains(fmt.Sprint(direct), "08P01") {
		t.Fatalf("direct %v, through vecgate %v", direct, through)
	}
}

// TestFastPathCosine: cosine distances the fast path prints are within 1e-5 relative of
// Postgres' own; near-duplicates (distance below planner.MinFastCosine) get Postgres' own value,
// exactly — the float32 sums of pgvector and vecgate differ by about 1e-7, a large part of such a
// distance.
func TestFastPathCosine(t *testing.T) {
	f := newFixture(t, 2000)
	ctx := context.Background()
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	if _, err := via.Exec(ctx, `CREATE INDEX items_cos ON items USING hnsw (emb vector_cosine_ops)`, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, f.g, 4000) // both twins
	// Rows indexed, as users see it (status, metrics, progress bar, bench sql): each table once.
	if n, byTable := observe.IndexedRows(f.g.set); n != 2000 || byTable["public.items"] != 2000 {
		t.Errorf("rows indexed %d (%v) with two twins of 2000 rows: want each table counted once", n, byTable)
	}
	if lp := f.g.Status().Load; lp.Running || lp.Rows != 2000 {
		t.Errorf("status load %+v: want 2000 rows indexed", lp)
	}
	const q = `SELECT id, emb <=> $1::vector AS d FROM items ORDER BY emb <=> $1::vector LIMIT 5`
	near, far := 0, 0
	for i := range 40 {
		v := f.vector()
		if i%2 == 0 { // a stored row's vector, nudged: near-duplicates
			var s string
			if err := direct.QueryRow(ctx, `SELECT emb::text FROM items WHERE id = $1`, 1+i*37).Scan(&s); err != nil {
				t.Fatal(err)
			}
			v = strings.Replace(s, ",", "1,", 1)
		}
		got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, q, v)
		ids := make([]int64, len(got))
		for j, r := range got {
			ids[j] = r.id
		}
		own := map[int64]float64{}
		for _, r := range idDists(t, direct, pgx.QueryExecModeSimpleProtocol, `SELECT id, emb <=> $1::vector FROM items WHERE id = ANY($2)`, v, ids) {
			own[r.id] = r.d
		}
		for _, r := range got {
			pd := own[r.id]
			if r.d < planner.MinFastCosine {
				near++
				if r.d != pd {
					t.Fatalf("near-duplicate row %d: vecgate printed %v, Postgres %v", r.id, r.d, pd)
				}
			} else if far++; math.Abs(r.d-pd) > 1e-5*pd {
				t.Fatalf("row %d: vecgate %v, Postgres %v", r.id, r.d, pd)
			}
		}
	}
	if near == 0 || far == 0 {
		t.Fatalf("the test saw %d near-duplicate and %d other distances", near, far)
	}
	t.Logf("%d near-duplicate distances, %d others; %d answers from memory", near, far, f.g.Stats().FastPath)
}

// TestExplainAnalyze: EXPLAIN ANALYZE through vecgate shows vecgate's decision, then Postgres'
// executed plan of the statement as sent (run once, by Postgres: a plan of the rewrite would
// print the candidate keys); EXPLAIN in a non-text format is Postgres' alone.
func TestExplainAnalyze(t *testing.T) {
	f := newFixture(t, 1000)
	via := pgtest.Connect(t, f.via)
	explain := func(sql string) string { return simpleLines(t, via, sql) }
	v := f.vector()
	plan := explain(`EXPLAIN ANALYZE SELECT id, title FROM items WHERE category = 3 ORDER BY emb <-> '` + v + `' LIMIT 4`)
	if !strings.HasPrefix(plan, "vecgate: would intercept") || !strings.Contains(plan, "actual time=") ||
		strings.Contains(plan, "ANY (") {
		t.Fatalf("EXPLAIN ANALYZE through vecgate:\n%s", plan)
	}
	plan = explain(`EXPLAIN (FORMAT JSON) SELECT id FROM items ORDER BY emb <-> '` + v + `' LIMIT 4`)
	if strings.Contains(plan, "vecgate") || !strings.HasPrefix(strings.TrimSpace(plan), "[") {
		t.Fatalf("EXPLAIN (FORMAT JSON) through vecgate:\n%s", plan)
	}
}

// TestHalfvecQueryVector: a query vector cast to halfvec makes Postgres cast the vector column to
// halfvec and compute in half precision (emb::halfvec <-> q), which no float32 index reproduces:
// such queries are forwarded, and the rows and distances are Postgres' own.
func TestHalfvecQueryVector(t *testing.T) {
	f := newFixture(t, 2000)
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	const q = `SELECT id, emb <-> $1::halfvec AS d FROM items ORDER BY emb <-> $1::halfvec LIMIT 5`
	before := f.g.Stats().Intercepted
	for range 5 {
		v := f.vector()
		got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, q, v)
		want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, q, v)
		if !slices.Equal(got, want) {
			t.Fatalf("through vecgate %v, directly %v", got, want)
		}
	}
	if n := f.g.Stats().Intercepted - before; n != 0 {
		t.Fatalf("%d halfvec queries intercepted", n)
	}
}

// TestLowEFSearch: hnsw.ef_search below pgvector's default of 40 is followed, as pgvector
// follows it (recall traded for speed), but never below twice the candidates a round needs.
func TestLowEFSearch(t *testing.T) {
	f := newFixture(t, 500)
	via := pgtest.Connect(t, f.via)
	ctx := context.Background()
	explain := func() string {
		return simpleLines(t, via, "EXPLAIN SELECT id FROM items ORDER BY emb <-> '"+f.vector()+"' LIMIT 3")
	}
	for _, c := range []struct{ set, want string }{
		{"RESET hnsw.ef_search", "ef_search 40"},
		{"SET hnsw.ef_search = 10", "ef_search 10"},
		{"SET hnsw.ef_search = 2", "ef_search 8"}, // LIMIT 3, exact distances, no WHERE: 4 candidates in the first round, ef twice that
	} {
		if _, err := via.Exec(ctx, c.set, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
		if plan := explain(); !strings.Contains(plan, c.want) {
			t.Fatalf("after %s, EXPLAIN does not say %q:\n%s", c.set, c.want, plan)
		}
	}
}

// waitLonger lets c's reads wait up to 10 s for replication after a statement it ran in Postgres
// (vecgate.max_wait; 100 ms by default, past which a loaded machine forwards them as lagging and
// a test would not see the path it checks).
func waitLonger(t *testing.T, c *pgx.Conn) {
	t.Helper()
	if _, err := c.Exec(context.Background(), "SET vecgate.max_wait = '10s'", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
}
