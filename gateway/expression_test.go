package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pgvector "github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestHalfvecExpressionIndex: pgvector's recipe for vectors past HNSW's 2,000 dimensions, an
// index on `(col::halfvec(n))` queried with `ORDER BY col::halfvec(n) <op> $1`, gets a twin that
// holds the column's values rounded to halves; vecgate answers those queries (untyped, ::halfvec
// and ::vector query vectors) with Postgres' rows, order and distances, key-only ones from
// memory, the 3,072-d case and pgvector's rerank wrapper included. The column's own index keeps
// its own twin; a cast the index does not have (`::halfvec` without its dimension) and an
// operator without an index are forwarded.
func TestHalfvecExpressionIndex(t *testing.T) {
	const bigRows = 300
	dsn, g := tableGateway(t, 4*800+bigRows,
		`CREATE TABLE e3 (id int PRIMARY KEY, content text, emb vector(3))`,
		`INSERT INTO e3 SELECT g, 'row ' || g, ARRAY[random() + g * 0, random(), random()]::vector(3)
			FROM (SELECT setseed(0.5)) s, generate_series(1, 800) g`,
		`CREATE INDEX ON e3 USING hnsw ((emb::halfvec(3)) halfvec_l2_ops)`,
		`CREATE INDEX ON e3 USING hnsw ((emb::halfvec(3)) halfvec_cosine_ops)`,
		`CREATE INDEX ON e3 USING hnsw (emb vector_l2_ops)`,
		`CREATE TABLE big (id int PRIMARY KEY, emb vector(3072))`,
		fmt.Sprintf(`INSERT INTO big SELECT g, (SELECT array_agg(random() - 0.5) FROM generate_series(1, 3072) i WHERE g > 0)::vector(3072)
			FROM (SELECT setseed(0.25)) s, generate_series(1, %d) g`, bigRows),
		`CREATE INDEX ON big USING hnsw ((emb::halfvec(3072)) halfvec_cosine_ops)`,
		`CREATE TABLE hh (id int PRIMARY KEY, h halfvec(3))`,
		`INSERT INTO hh SELECT id, emb::halfvec(3) FROM e3`,
		`CREATE INDEX ON hh USING hnsw (h halfvec_cosine_ops)`)
	via, direct := exactPair(t, dsn, g, 0)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 9))
	vec := func(dims int) string {
		parts := make([]string, dims)
		for i := range parts {
			parts[i] = fmt.Sprintf("%.7f", rng.Float64()-0.5*float64(min(dims/1000, 1)))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	arg := func() string { return vec(3) }
	big := func() string { return vec(3072) }
	compareTypeCases(t, g, via, direct, nil, []typeCase{
		{`SELECT id FROM e3 ORDER BY CAST(emb AS halfvec(3)) <-> $1::vector LIMIT 6`, arg, true, true},
		{`SELECT id, content FROM e3 ORDER BY emb::halfvec(3) <=> $1::halfvec(3) LIMIT 7 OFFSET 2`, arg, true, true},
		{`SELECT id, emb <-> $1 AS d FROM e3 ORDER BY emb <-> $1 LIMIT 5`, arg, true, true},
		{`SELECT id FROM e3 ORDER BY emb::halfvec <-> $1 LIMIT 5`, arg, false, false},
		{`SELECT id FROM e3 ORDER BY emb::halfvec(3) <+> $1 LIMIT 5`, arg, false, false},
		{`SELECT id FROM big ORDER BY emb::halfvec(3072) <=> $1 LIMIT 10`, big, true, true},
	})
	// Statements that print halfvec distances (or select *) would take the rewrite, where Postgres
	// casts every candidate's 3,072 floats again: slower than pgvector's own index over its
	// stored halves, so they are forwarded, and answered as Postgres answers them with its index.
	indexed := pgtest.Connect(t, dsn)
	compareTypeCases(t, g, via, indexed, nil, []typeCase{
		{`SELECT id, emb::halfvec(3) <-> $1 AS d FROM e3 ORDER BY emb::halfvec(3) <-> $1 LIMIT 5`, arg, false, false},
		{`SELECT id, content, emb::halfvec(3) <=> $1::halfvec(3) AS d FROM e3 ORDER BY emb::halfvec(3) <=> $1::halfvec(3) LIMIT 7 OFFSET 2`, arg, false, false},
		{`SELECT id, 1 - (emb::halfvec(3) <=> $1) AS s FROM e3 ORDER BY s DESC LIMIT 5`, arg, false, false},
		{`SELECT id, emb::halfvec(3072) <=> $1::halfvec(3072) AS d FROM big ORDER BY 2 LIMIT 10`, big, false, false},
		// pgvector's rerank: candidates by the halves, the answer by the full vectors.
		{`SELECT id, emb <=> $1::vector AS d FROM (SELECT id, emb FROM big ORDER BY emb::halfvec(3072) <=> $1::halfvec(3072) LIMIT 20) c ORDER BY emb <=> $1::vector LIMIT 5`, big, false, false},
	})
	// Binary query vectors: a parameter cast to vector is a vector's floats, rounded to halves by
	// the cast; an untyped one is a halfvec's (halfvec_recv), as on a halfvec column.
	for _, c := range []*pgx.Conn{via, direct} {
		if err := pgxvec.RegisterTypes(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		q    string
		half bool // the parameter is a halfvec
	}{
		{`SELECT id FROM e3 ORDER BY emb::halfvec(3) <-> $1::vector LIMIT 5`, false},
		{`SELECT id FROM e3 ORDER BY emb::halfvec(3) <-> $1 LIMIT 5`, true},
		{`SELECT id, h <=> $1 AS d FROM hh ORDER BY h <=> $1 LIMIT 5`, true},
	} {
		before := g.Stats().Intercepted
		for range 5 {
			var v any = pgvector.NewVector([]float32{float32(rng.Float64()), float32(rng.Float64()), float32(rng.Float64())})
			if c.half {
				v = pgvector.NewHalfVector(v.(pgvector.Vector).Slice())
			}
			if got, want := answer(t, via, pgx.QueryExecModeCacheStatement, c.q, v), answer(t, direct, pgx.QueryExecModeCacheStatement, c.q, v); got != want {
				t.Fatalf("%s %v (binary):\nthrough vecgate:\n%sdirectly:\n%s", c.q, v, got, want)
			}
		}
		if n := g.Stats().Intercepted - before; n != 5 {
			t.Errorf("%s (binary): %d of 5 intercepted", c.q, n)
		}
	}
	// EXPLAIN names the expression twin.
	plan := simpleLines(t, via, "EXPLAIN SELECT id FROM big ORDER BY emb::halfvec(3072) <=> '"+vec(3072)+"' LIMIT 10")
	if !strings.Contains(plan, "on halfvec(3072)") {
		t.Errorf("EXPLAIN does not name the expression twin:\n%s", plan)
	}
	// Rows written after the load are rounded alike.
	if _, err := direct.Exec(ctx, `INSERT INTO e3 SELECT g, 'new', ARRAY[random(), random() + g * 0, random()]::vector(3) FROM generate_series(801, 900) g`); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, g, 3*900+800+bigRows) // another session's writes: wait until every twin has them
	q := `SELECT id FROM e3 ORDER BY emb::halfvec(3) <-> $1 LIMIT 10`
	before := g.Stats().Intercepted
	for range 10 {
		v := vec(3)
		if got, want := answer(t, via, pgx.QueryExecModeSimpleProtocol, q, v), answer(t, direct, pgx.QueryExecModeSimpleProtocol, q, v); got != want {
			t.Fatalf("after inserts: through vecgate:\n%sdirectly:\n%s", got, want)
		}
	}
	if n := g.Stats().Intercepted - before; n != 10 {
		t.Errorf("after inserts: %d of 10 intercepted", n)
	}
	// An expression index created through vecgate is mirrored once replication sees it.
	if _, err := via.Exec(ctx, `CREATE INDEX e3_ip ON e3 USING hnsw ((emb::halfvec(3)) halfvec_ip_ops)`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if ix, ok := g.set.LookupExpr("public", "e3", "emb", "halfvec", 3, ann.InnerProduct); ok && ix.Len() == 900 && g.stream.Ready() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no twin of e3_ip: %+v", g.stream.Status())
		}
	}
	compareTypeCases(t, g, via, direct, nil, []typeCase{
		{`SELECT id FROM e3 ORDER BY emb::halfvec(3) <#> $1 LIMIT 5`, arg, true, true},
	})
}

// typeCase is a statement run ten times per protocol, through vecgate and directly, each time
// with a new argument from arg: whether vecgate intercepts it (every time, or never) and answers
// some from memory.
type typeCase struct {
	q                 string
	arg               func() string
	intercepted, fast bool
}

// compareTypeCases runs the cases and fails at the first answer through vecgate that differs
// from Postgres' (each passed through same first, when not nil).
func compareTypeCases(t *testing.T, g *Gateway, via, direct *pgx.Conn, same func(string) string, cases []typeCase) {
	t.Helper()
	if same == nil {
		same = func(s string) string { return s }
	}
	for _, c := range cases {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			before := g.Stats()
			for range 10 {
				v := c.arg()
				got, want := same(answer(t, via, mode, c.q, v)), same(answer(t, direct, mode, c.q, v))
				if got != want {
					t.Fatalf("%s %.200s (%v):\nthrough vecgate:\n%sdirectly:\n%s", c.q, v, mode, got, want)
				}
			}
			after := g.Stats()
			if n := after.Intercepted - before.Intercepted; (n == 10) != c.intercepted || n != 0 && n != 10 {
				t.Errorf("%s (%v): %d of 10 intercepted, want all: %v (forwarded %v)", c.q, mode, n, c.intercepted, after.Forwarded)
			}
			if n := after.FastPath - before.FastPath; (n > 0) != c.fast {
				t.Errorf("%s (%v): %d of 10 from memory, want some: %v", c.q, mode, n, c.fast)
			}
		}
	}
}

// exactPair connects to the test database through vecgate (reads wait for replication;
// hnsw.ef_search set when efSearch > 0) and directly, where Postgres' answers are exact (no index
// scans).
func exactPair(t *testing.T, dsn string, g *Gateway, efSearch int) (via, direct *pgx.Conn) {
	t.Helper()
	via, direct = pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	if _, err := direct.Exec(context.Background(), "SET enable_indexscan = off; SET enable_bitmapscan = off", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if efSearch > 0 {
		if _, err := via.Exec(context.Background(), fmt.Sprintf("SET hnsw.ef_search = %d", efSearch), pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	return via, direct
}
