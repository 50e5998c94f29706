package gateway

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/planner"
)

const (
	ivfRows  = 3000 // items: 16-d, clustered (as newFixture), pgvector ivfflat with ivfLists lists
	ivfLists = 30
	docRows  = 2000 // docs: 64-d, clustered, no pgvector index (for vecgate definitions)
	docDims  = 64
)

// newIVFFixture is newFixture's database with a pgvector ivfflat index on items instead of an
// HNSW, plus a 64-d table docs for vecgate's own definitions.
func newIVFFixture(t *testing.T, opt Config) *fixture {
	t.Helper()
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range append(itemsTable(ivfRows),
		fmt.Sprintf(`CREATE INDEX items_emb_ivf ON items USING ivfflat (emb vector_l2_ops) WITH (lists = %d)`, ivfLists),
		fmt.Sprintf(`CREATE TABLE docs (id bigint PRIMARY KEY, emb vector(%d))`, docDims),
		`SELECT setseed(0.5)`,
		fmt.Sprintf(`CREATE TEMP TABLE centers AS
			SELECT c, array(SELECT random() * 2 - 1 FROM generate_series(1, %d) d WHERE c > 0) AS v FROM generate_series(1, 40) c`, docDims),
		fmt.Sprintf(`INSERT INTO docs SELECT g,
			(SELECT array_agg(ce.v[d] + (random() - 0.5) * 0.8 ORDER BY d) FROM generate_series(1, %d) d)::vector
			FROM generate_series(1, %d) g JOIN centers ce ON ce.c = 1 + g %% 40`, docDims, docRows),
		`ANALYZE items`, `ANALYZE docs`,
	) {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	g := startTestGateway(t, dsn, opt)
	waitIndexed(t, g, ivfRows)
	return &fixture{dsn: dsn, via: viaDSN(dsn, g), g: g, rng: rand.New(rand.NewPCG(7, 11))}
}

func ivfOptions(prefix string) Config {
	return Config{Intercept: true, SlotName: fmt.Sprintf("%s%d", prefix, rand.Uint32())}
}

// recallAt10 runs queries (each with its vector) through vecgate and exactly in Postgres (index
// scans off) and returns recall@10 and how many were intercepted. Rows through vecgate must be
// in distance order and carry Postgres' distances (1e-6 relative, absolute below 1, as TestFastPath).
func recallAt10(t *testing.T, f *fixture, via, direct *pgx.Conn, sql string, vecs []string) (float64, int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := direct.Exec(ctx, "SET enable_indexscan = off"); err != nil {
		t.Fatal(err)
	}
	before := f.g.Stats().Intercepted
	hits, total := 0, 0
	for _, v := range vecs {
		got := idDists(t, via, pgx.QueryExecModeSimpleProtocol, sql, v)
		want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, sql, v)
		if len(got) != len(want) {
			t.Fatalf("%d rows through vecgate, %d exact", len(got), len(want))
		}
		exact := map[int64]float64{}
		for _, r := range want {
			exact[r.id] = r.d
		}
		for i, r := range got {
			if i > 0 && r.d < got[i-1].d {
				t.Fatalf("rows out of distance order: %v", got)
			}
			if d, ok := exact[r.id]; ok {
				hits++
				if math.Abs(d-r.d) > 1e-6*math.Max(1, math.Abs(d)) {
					t.Fatalf("row %d: distance %v through vecgate, %v in Postgres", r.id, r.d, d)
				}
			}
		}
		total += len(want)
	}
	return float64(hits) / float64(total), f.g.Stats().Intercepted - before
}

// docVectors returns n query vectors for docs: stored rows' vectors with noise added.
func docVectors(t *testing.T, c *pgx.Conn, n int) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), `SELECT emb::text FROM docs ORDER BY id % 97, id LIMIT $1`, n)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var out []string
	for _, s := range texts {
		v, err := planner.ParseVector(s)
		if err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatFloat(float64(x)+(rng.Float64()-0.5)*0.4, 'f', 4, 32)
		}
		out = append(out, "["+strings.Join(parts, ",")+"]")
	}
	return out
}

func (f *fixture) vectors(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f.vector()
	}
	return out
}

// TestIVFInterceptRecall: a pgvector ivfflat index gets an IVF twin with its lists; 200 top-10
// queries through vecgate at default settings are intercepted (and answered from memory: the
// twin's distances are exact) with recall@10 ≥ 0.95 against an exact scan. It logs the recall at
// ivfflat.probes = 1 (through vecgate and in pgvector itself) for comparison.
func TestIVFInterceptRecall(t *testing.T) {
	f := newIVFFixture(t, ivfOptions("v"))
	ixs := f.g.set.Indexes()
	if len(ixs) != 1 || ixs[0].Kind() != "ivf-flat" || ixs[0].Lists() != ivfLists || !ixs[0].Exact {
		t.Fatalf("twin of the ivfflat index: %+v", ixs)
	}
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	const q = `SELECT id, emb <-> $1::vector AS d FROM items ORDER BY emb <-> $1::vector LIMIT 10`
	vecs := f.vectors(200)
	fast := f.g.Stats().FastPath
	recall, n := recallAt10(t, f, via, direct, q, vecs)
	t.Logf("default probes (%d of %d lists): recall@10 %.4f, intercepted %d, from memory %d",
		ixs[0].Probes(), ivfLists, recall, n, f.g.Stats().FastPath-fast)
	if recall < 0.95 || n != int64(len(vecs)) {
		t.Fatalf("recall@10 %.4f (want ≥ 0.95), intercepted %d of %d", recall, n, len(vecs))
	}
	if f.g.Stats().FastPath == fast {
		t.Fatal("no query answered from memory by the exact IVF twin")
	}

	// The extended protocol (pgx prepares the statement) goes through the same search.
	before := f.g.Stats().Intercepted
	for _, v := range vecs[:20] {
		got := idDists(t, via, pgx.QueryExecModeCacheStatement, q, v)
		want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, q, v)
		if len(got) != 10 || got[0].id != want[0].id {
			t.Fatalf("extended protocol: %v, exact %v", got, want)
		}
	}
	if n := f.g.Stats().Intercepted - before; n != 20 {
		t.Fatalf("extended protocol: %d of 20 intercepted", n)
	}

	// probes = 1 through vecgate, and pgvector's own index at its default of 1 probe.
	if _, err := via.Exec(context.Background(), "SET ivfflat.probes = 1"); err != nil {
		t.Fatal(err)
	}
	one, _ := recallAt10(t, f, via, direct, q, vecs[:100])
	pg := pgtest.Connect(t, f.dsn)
	hits := 0
	for _, v := range vecs[:100] {
		got := idDists(t, pg, pgx.QueryExecModeSimpleProtocol, q, v)
		want := idDists(t, direct, pgx.QueryExecModeSimpleProtocol, q, v)
		in := map[int64]bool{}
		for _, r := range want {
			in[r.id] = true
		}
		for _, r := range got {
			if in[r.id] {
				hits++
			}
		}
	}
	t.Logf("ivfflat.probes = 1: recall@10 through vecgate %.4f, pgvector's own index %.4f", one, float64(hits)/1000)
}

// TestIVFProbesKnob: EXPLAIN through vecgate names the IVF twin and its probes; SET
// ivfflat.probes changes them (and RESET restores the default).
func TestIVFProbesKnob(t *testing.T) {
	f := newIVFFixture(t, ivfOptions("p"))
	via := pgtest.Connect(t, f.via)
	ctx := context.Background()
	explain := func() string {
		return simpleLines(t, via, "EXPLAIN SELECT id FROM items ORDER BY emb <-> '[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]' LIMIT 3")
	}
	def := fmt.Sprintf("probes %d of %d lists", f.g.set.Indexes()[0].Probes(), ivfLists)
	if text := explain(); !strings.Contains(text, "ivf-flat") || !strings.Contains(text, def) {
		t.Fatalf("EXPLAIN at default probes (want %q):\n%s", def, text)
	}
	if _, err := via.Exec(ctx, "SET ivfflat.probes = 2"); err != nil {
		t.Fatal(err)
	}
	if text := explain(); !strings.Contains(text, fmt.Sprintf("probes 2 of %d lists", ivfLists)) {
		t.Fatalf("EXPLAIN after SET ivfflat.probes = 2:\n%s", text)
	}
	if _, err := via.Exec(ctx, "RESET ivfflat.probes"); err != nil {
		t.Fatal(err)
	}
	if text := explain(); !strings.Contains(text, def) {
		t.Fatalf("EXPLAIN after RESET:\n%s", text)
	}
	// A plain ivfflat index created through vecgate is mirrored too; cosine answers from memory
	// carry Postgres' distances.
	if _, err := via.Exec(ctx, `CREATE INDEX items_emb_cos ON items USING ivfflat (emb vector_cosine_ops) WITH (lists = 10)`); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "items_emb_cos", ivfRows)
	fast := f.g.Stats().FastPath
	recall, n := recallAt10(t, f, pgtest.Connect(t, f.via), pgtest.Connect(t, f.dsn),
		`SELECT id, emb <=> $1::vector AS d FROM items ORDER BY emb <=> $1::vector LIMIT 10`, f.vectors(50))
	t.Logf("cosine twin: recall@10 %.4f, intercepted %d, from memory %d", recall, n, f.g.Stats().FastPath-fast)
	if recall < 0.95 || n != 50 || f.g.Stats().FastPath == fast {
		t.Fatalf("cosine twin: recall@10 %.4f, intercepted %d of 50, from memory %d", recall, n, f.g.Stats().FastPath-fast)
	}
	cols, rows := f.g.Status().Rows()
	if cols[2] != "method" || len(rows) == 0 || rows[0][2] != "ivf-flat" {
		t.Fatalf("status: %v %v", cols, rows)
	}
}

// TestIVFFilters: filtered queries on the IVF twin widen (more candidates and more probes) until
// LIMIT rows come back or every match has, even at ivfflat.probes = 1.
func TestIVFFilters(t *testing.T) {
	f := newIVFFixture(t, ivfOptions("w"))
	via := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	for _, probes := range []string{"DEFAULT", "1"} {
		if _, err := via.Exec(ctx, "SET ivfflat.probes = "+probes); err != nil {
			t.Fatal(err)
		}
		before := f.g.Stats().Intercepted
		for _, tc := range []struct {
			col  string
			vals int
		}{{"category", 100}, {"rare", 1000}} {
			for i := range 10 {
				v := f.vector()
				q := fmt.Sprintf(`SELECT id, emb <-> $1::vector FROM items WHERE %s = $2 ORDER BY emb <-> $1::vector LIMIT 10`, tc.col)
				got := ids(t, via, q, v, i*7)
				var matches int
				if err := direct.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM items WHERE %s = $1`, tc.col), i*7).Scan(&matches); err != nil {
					t.Fatal(err)
				}
				if len(got) != min(10, matches) {
					t.Fatalf("probes %s, %s = %d: %d rows through vecgate, want %d", probes, tc.col, i*7, len(got), min(10, matches))
				}
			}
		}
		if n := f.g.Stats().Intercepted - before; n < 20 {
			t.Fatalf("probes %s: only %d of 20 filtered queries intercepted", probes, n)
		}
	}
}

// TestIVFDefinitions: CREATE INDEX … USING ivfflat through vecgate with quantizer sq8, pq and
// binary, and dims = N on hnsw and ivfflat, give twins of that kind; queries are intercepted,
// Postgres reranks (never answered from memory) and recall@10 is at least 0.9 at defaults. Bad
// option values are refused with Postgres-style errors.
func TestIVFDefinitions(t *testing.T) {
	f := newIVFFixture(t, ivfOptions("d"))
	via := pgtest.Connect(t, f.via)
	reader := pgtest.Connect(t, f.via)
	direct := pgtest.Connect(t, f.dsn)
	ctx := context.Background()
	exec := func(sql string) error { _, err := via.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); return err }
	vecs := docVectors(t, direct, 100)

	for _, tc := range []struct {
		name, using, opclass, with, kind, op string
	}{
		{"docs_sq8", "ivfflat", "vector_l2_ops", "lists = 20, quantizer = sq8", "ivf-sq8", "<->"},
		{"docs_pq", "ivfflat", "vector_l2_ops", "lists = 20, quantizer = pq", "ivf-pq", "<->"},
		{"docs_bin", "ivfflat", "vector_cosine_ops", "lists = 20, quantizer = binary", "ivf-binary", "<=>"},
		{"docs_mrl", "hnsw", "vector_cosine_ops", "dims = 32", "hnsw dims=32", "<=>"},
		{"docs_mrl_sq8", "ivfflat", "vector_ip_ops", "lists = 20, dims = 48, quantizer = sq8", "ivf-sq8 dims=48", "<#>"},
	} {
		mode := "offload"
		if tc.name == "docs_pq" {
			mode = "mirror" // Postgres builds its own ivfflat (lists = 20) too
		}
		sql := fmt.Sprintf(`CREATE INDEX %s ON docs USING %s (emb %s) WITH (%s, mode = %s)`, tc.name, tc.using, tc.opclass, tc.with, mode)
		if err := exec(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		waitTwin(t, f, tc.name, docRows)
		var kind string
		lists := -1
		for _, ix := range f.g.set.Indexes() {
			if ix.Source == tc.name {
				kind, lists = ix.Kind(), ix.Lists()
			}
		}
		if wantLists := map[bool]int{true: 20, false: 0}[tc.using == "ivfflat"]; kind != tc.kind || lists != wantLists {
			t.Fatalf("%s: twin %q with %d lists, want %q with %d", tc.name, kind, lists, tc.kind, wantLists)
		}
		fast := f.g.Stats().FastPath
		q := fmt.Sprintf(`SELECT id, emb %s $1::vector AS d FROM docs ORDER BY emb %s $1::vector LIMIT 10`, tc.op, tc.op)
		recall, n := recallAt10(t, f, reader, direct, q, vecs)
		t.Logf("%s (%s): recall@10 %.4f, intercepted %d of %d", tc.name, kind, recall, n, len(vecs))
		if recall < 0.9 || n != int64(len(vecs)) || f.g.Stats().FastPath != fast {
			t.Fatalf("%s: recall@10 %.4f, intercepted %d of %d, answered from memory %d", tc.name, recall, n, len(vecs), f.g.Stats().FastPath-fast)
		}
		if err := exec("DROP INDEX " + tc.name); err != nil {
			t.Fatal(err)
		}
		waitTwin(t, f, tc.name, 0)
	}

	for sql, code := range map[string]string{
		`CREATE INDEX bad ON docs USING ivfflat (emb vector_l2_ops) WITH (dims = 64, mode = offload)`:   "22023",
		`CREATE INDEX bad ON docs USING ivfflat (emb vector_l2_ops) WITH (dims = 100)`:                  "22023",
		`CREATE INDEX bad ON docs USING hnsw (emb vector_l2_ops) WITH (dims = 0)`:                       "22023",
		`CREATE INDEX bad ON docs USING ivfflat (emb vector_l2_ops) WITH (lists = 0, mode = offload)`:   "22023",
		`CREATE INDEX bad ON docs USING ivfflat (emb vector_l2_ops) WITH (quantizer = lvq)`:             "22023",
		`CREATE INDEX bad ON docs USING hnsw (emb vector_l2_ops) WITH (quantizer = pq, mode = offload)`: "0A000",
	} {
		if err := exec(sql); errCode(err) != code {
			t.Errorf("%s: %v, want SQLSTATE %s", sql, err, code)
		}
	}
	var n int
	if err := direct.QueryRow(ctx, `SELECT count(*) FROM vecgate.indexes`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused definitions recorded: %d %v", n, err)
	}
}

// TestIVFRestart: with --data-dir, IVF twins (a pgvector ivfflat's and a vecgate ivfflat-pq
// definition's) are written to disk and loaded at restart without a reload, keep their kind and
// answer as before.
func TestIVFRestart(t *testing.T) {
	opt := ivfOptions("r")
	opt.DataDir = t.TempDir()
	f := newIVFFixture(t, opt)
	via := pgtest.Connect(t, f.via)
	if _, err := via.Exec(context.Background(),
		`CREATE INDEX docs_pq ON docs USING ivfflat (emb vector_l2_ops) WITH (lists = 10, quantizer = pq, dims = 32, mode = offload)`); err != nil {
		t.Fatal(err)
	}
	waitTwin(t, f, "docs_pq", docRows)
	direct := pgtest.Connect(t, f.dsn)
	docVecs := docVectors(t, direct, 20)
	itemVecs := f.vectors(20)
	const qi = `SELECT id, emb <-> $1::vector FROM items ORDER BY emb <-> $1::vector LIMIT 10`
	const qd = `SELECT id, emb <-> $1::vector FROM docs ORDER BY emb <-> $1::vector LIMIT 10`
	answers := func(c *pgx.Conn) [][]idDist {
		var out [][]idDist
		for _, v := range itemVecs {
			out = append(out, idDists(t, c, pgx.QueryExecModeSimpleProtocol, qi, v))
		}
		for _, v := range docVecs {
			out = append(out, idDists(t, c, pgx.QueryExecModeSimpleProtocol, qd, v))
		}
		return out
	}
	kinds := func(g *Gateway) map[string]string {
		m := map[string]string{}
		for _, ix := range g.set.Indexes() {
			m[ix.Source] = fmt.Sprintf("%s lists=%d probes=%d rows=%d", ix.Kind(), ix.Lists(), ix.Probes(), ix.Len())
		}
		return m
	}
	before, kb := answers(via), kinds(f.g)
	via.Close(context.Background())
	if err := f.g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	g := startTestGateway(t, f.dsn, opt)
	waitIndexed(t, g, ivfRows+docRows)
	if st := g.stream.Status(); st.Resnapshots != 0 {
		t.Fatalf("restart reloaded from Postgres (%d full loads): %+v", st.Resnapshots, st)
	}
	if ka := kinds(g); fmt.Sprint(ka) != fmt.Sprint(kb) {
		t.Fatalf("twins before restart %v, after %v", kb, ka)
	}
	f.g = g
	intercepted := g.Stats().Intercepted
	after := answers(pgtest.Connect(t, viaDSN(f.dsn, g)))
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("answers changed across the restart:\nbefore %v\nafter  %v", before, after)
	}
	if n := g.Stats().Intercepted - intercepted; n != int64(len(before)) {
		t.Fatalf("after restart %d of %d queries intercepted", n, len(before))
	}
}
