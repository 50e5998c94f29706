package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// Tests of top-k statements other than the one-table shape (issue 14): a top-k over a join, and
// top-k nodes nested in CTEs, subqueries, set operations and LATERAL. Each statement runs
// through vecgate and directly and the client must see the same bytes; the counters say whether
// vecgate answered it.

// shapeCase is one statement, its parameters, and whether vecgate answers it in the simple
// and in the extended protocol (pgx sends the simple protocol's parameters as literals).
type shapeCase struct {
	sql             string
	args            []any
	simple, extends bool
}

// exactSessions makes Postgres rank exactly on both connections (no HNSW scan, whose answer is
// approximate and, under a filter, short): the answers are then comparable byte for byte.
func exactSessions(t *testing.T, conns ...*pgx.Conn) {
	t.Helper()
	for _, c := range conns {
		if _, err := c.Exec(context.Background(), "SET enable_indexscan = off", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
}

// checkShapes runs each case through vecgate and directly in both protocols and fails on a
// different answer or a counter that moved otherwise than the case says. It returns how many
// statements vecgate answered.
func checkShapes(t *testing.T, g *Gateway, via, direct *pgx.Conn, cases []shapeCase) int {
	t.Helper()
	answered := 0
	for _, c := range cases {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
			args := c.args
			sql := c.sql
			want := c.extends
			if mode == pgx.QueryExecModeSimpleProtocol {
				want = c.simple
			}
			before := g.Stats()
			got := answer(t, via, mode, sql, args...)
			after := g.Stats()
			if exp := answer(t, direct, mode, sql, args...); got != exp {
				t.Fatalf("%s (%v):\nthrough vecgate:\n%sdirectly:\n%s", sql, mode, got, exp)
			}
			if got == "" {
				t.Fatalf("%s (%v): no rows: a test that proves nothing", sql, mode)
			}
			n := after.Intercepted - before.Intercepted
			if want && n != 1 || !want && n != 0 {
				t.Errorf("%s (%v): counters moved %v, want intercepted %v", sql, mode, statsMoved(before, after), want)
			}
			answered += int(n)
		}
	}
	return answered
}

// randomVector is a seeded random vector literal of dims dimensions.
func randomVector(rng *rand.Rand, dims int) string {
	parts := make([]string, dims)
	for i := range parts {
		parts[i] = fmt.Sprintf("%.5f", rng.Float64()*2-1)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// TestTopKOverJoin: LangChain's collection join (its Python PGVector store's query) and other
// two-table joins, the filter on the other table: candidates from the vector table's twin,
// restricted by its key, widened while the join returns short. A collection of 7 rows asked for
// 10 ends in a complete scan (every row a candidate), never a short answer taken as complete.
func TestTopKOverJoin(t *testing.T) {
	dsn, g := tableGateway(t, 2000,
		`CREATE TABLE langchain_pg_collection (uuid uuid PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO langchain_pg_collection SELECT ('00000000-0000-0000-0000-00000000000' || g)::uuid, 'c' || g FROM generate_series(0, 9) g`,
		`CREATE TABLE langchain_pg_embedding (id bigint PRIMARY KEY, collection_id uuid REFERENCES langchain_pg_collection,
			document text, embedding vector(8))`,
		`SELECT setseed(0.25)`,
		`INSERT INTO langchain_pg_embedding SELECT g, ('00000000-0000-0000-0000-00000000000' || CASE WHEN g <= 7 THEN 9 ELSE g % 9 END)::uuid,
			'doc ' || g, (SELECT array_agg(random() * 2 - 1 + g * 0 + d * 0) FROM generate_series(1, 8) d)::vector(8) FROM generate_series(1, 2000) g`,
		`CREATE INDEX ON langchain_pg_embedding USING hnsw (embedding vector_cosine_ops)`)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	exactSessions(t, via, direct)
	rng := rand.New(rand.NewPCG(14, 1))
	var cases []shapeCase
	for _, coll := range []string{"c3", "c9"} {
		v := randomVector(rng, 8)
		cases = append(cases,
			shapeCase{sql: `SELECT a.id, a.document, a.embedding <=> $2 AS distance FROM langchain_pg_embedding a
				JOIN langchain_pg_collection b ON a.collection_id = b.uuid WHERE b.name = $1 ORDER BY a.embedding <=> $2 LIMIT 4`,
				args: []any{coll, v}, simple: true, extends: true},
			shapeCase{sql: `SELECT a.id, a.embedding <=> $2 AS distance FROM langchain_pg_embedding a
				JOIN langchain_pg_collection b ON a.collection_id = b.uuid WHERE b.name = $1 ORDER BY distance LIMIT 10`,
				args: []any{coll, v}, simple: true, extends: true},
			shapeCase{sql: fmt.Sprintf(`SELECT langchain_pg_embedding.id, langchain_pg_embedding.embedding <=> '%s' AS distance
				FROM langchain_pg_embedding JOIN langchain_pg_collection ON langchain_pg_embedding.collection_id = langchain_pg_collection.uuid
				WHERE langchain_pg_collection.name = '%s' ORDER BY distance ASC LIMIT 5`, v, coll),
				simple: true, extends: true},
			shapeCase{sql: fmt.Sprintf(`SELECT b.name, a.id FROM langchain_pg_collection b, langchain_pg_embedding a
				WHERE a.collection_id = b.uuid AND b.name <> '%s' ORDER BY a.embedding <=> '%s' LIMIT 6`, coll, v),
				simple: true, extends: true},
			shapeCase{sql: fmt.Sprintf(`SELECT a.id, b.name FROM langchain_pg_embedding a LEFT JOIN langchain_pg_collection b
				ON a.collection_id = b.uuid AND b.name = '%s' ORDER BY a.embedding <=> '%s' LIMIT 6`, coll, v),
				simple: true, extends: true},
			// Unqualified column over a join: the other table might have it. Forwarded.
			shapeCase{sql: fmt.Sprintf(`SELECT a.id FROM langchain_pg_embedding a JOIN langchain_pg_collection b
				ON a.collection_id = b.uuid ORDER BY embedding <=> '%s' LIMIT 3`, v)},
		)
	}
	checkShapes(t, g, via, direct, cases)
}
