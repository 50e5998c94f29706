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

// nestedTable is a table of 2,000 rows in 8 dimensions (categories 0–8; category 9 has 6 rows),
// with an HNSW index per metric, and a small table of owners for joins and LATERAL.
func nestedTable(t *testing.T) (dsn string, g *Gateway) {
	return tableGateway(t, 4*2000,
		`CREATE TABLE docs (id bigint PRIMARY KEY, cat int, content text, emb vector(8))`,
		`SELECT setseed(0.5)`,
		`INSERT INTO docs SELECT g, CASE WHEN g <= 6 THEN 9 ELSE g % 9 END, 'doc ' || g || CASE WHEN g % 7 = 0 THEN ' apple' ELSE '' END,
			(SELECT array_agg(random() * 2 - 1 + g * 0 + d * 0) FROM generate_series(1, 8) d)::vector(8) FROM generate_series(1, 2000) g`,
		`CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)`,
		`CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops)`,
		`CREATE INDEX ON docs USING hnsw (emb vector_ip_ops)`,
		`CREATE INDEX ON docs USING hnsw (emb vector_l1_ops)`,
		`CREATE TABLE owners (id int PRIMARY KEY, name text, cat int)`,
		`INSERT INTO owners SELECT g, 'owner ' || g, g % 10 FROM generate_series(1, 4) g`)
}

// TestTopKNodes: a top-k node inside a CTE (the hybrid-search pattern with its ranking window),
// a FROM subquery, a set operation's arm, LATERAL and an IN subquery is rewritten in place
// in both protocols, several of them in one statement in the simple protocol; the statements' answers are Postgres' byte for byte. In the extended
// protocol an execution is one guarded round with the first candidates (a filtered node short of
// them is forwarded), for one node that cannot reference the query around it. Statements vecgate
// must not take are forwarded: a correlated node (its probe cannot run alone).
func TestTopKNodes(t *testing.T) {
	dsn, g := nestedTable(t)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	exactSessions(t, via, direct)
	rng := rand.New(rand.NewPCG(14, 2))
	var cases []shapeCase
	for range 2 {
		v := randomVector(rng, 8)
		w := randomVector(rng, 8)
		cases = append(cases,
			// Hybrid search (pgvector's README, Supabase): reciprocal rank fusion of a semantic and
			// a keyword CTE.
			shapeCase{sql: fmt.Sprintf(`WITH semantic AS (
					SELECT id, row_number() OVER (ORDER BY emb <-> '%[1]s') AS rank FROM docs ORDER BY emb <-> '%[1]s' LIMIT 20),
				keyword AS (
					SELECT id, row_number() OVER (ORDER BY id) AS rank FROM docs WHERE content LIKE '%%apple%%' ORDER BY id LIMIT 20)
				SELECT coalesce(semantic.id, keyword.id) AS id,
					coalesce(1.0 / (60 + semantic.rank), 0.0) + coalesce(1.0 / (60 + keyword.rank), 0.0) AS score
				FROM semantic FULL OUTER JOIN keyword ON semantic.id = keyword.id ORDER BY score DESC, id LIMIT 10`, v),
				simple: true, extends: true},
			// pgvector's README hybrid search, as written there (RANK, ts_rank_cd).
			shapeCase{sql: fmt.Sprintf(`WITH semantic_search AS (
					SELECT id, RANK () OVER (ORDER BY emb <=> '%[1]s') AS rank FROM docs ORDER BY emb <=> '%[1]s' LIMIT 20),
				keyword_search AS (
					SELECT id, RANK () OVER (ORDER BY ts_rank_cd(to_tsvector('english', content), query) DESC)
					FROM docs, plainto_tsquery('english', 'apple') query
					WHERE to_tsvector('english', content) @@ query
					ORDER BY ts_rank_cd(to_tsvector('english', content), query) DESC LIMIT 20)
				SELECT COALESCE(semantic_search.id, keyword_search.id) AS id,
					COALESCE(1.0 / (60 + semantic_search.rank), 0.0) + COALESCE(1.0 / (60 + keyword_search.rank), 0.0) AS score
				FROM semantic_search FULL OUTER JOIN keyword_search ON semantic_search.id = keyword_search.id
				ORDER BY score DESC, id LIMIT 5`, v),
				simple: true, extends: true},
			// The ranks themselves, with a filter (probe rounds) and an OFFSET.
			shapeCase{sql: fmt.Sprintf(`WITH s AS (SELECT id, rank() OVER (ORDER BY emb <-> '%[1]s') AS r, dense_rank() OVER (ORDER BY emb <-> '%[1]s'),
					emb <-> '%[1]s' AS d FROM docs WHERE cat = 3 ORDER BY emb <-> '%[1]s' LIMIT 7 OFFSET 2) SELECT * FROM s ORDER BY r`, v),
				simple: true},
			shapeCase{sql: fmt.Sprintf(`SELECT * FROM (SELECT id, cat, emb <-> '%s' AS d FROM docs WHERE cat IN (2, 4) ORDER BY d LIMIT 10) t
				WHERE t.id %% 2 = 0 ORDER BY d`, v), simple: true},
			// Category 9 has 6 rows: the widening ends in a search that saw every row.
			shapeCase{sql: fmt.Sprintf(`SELECT t.id, o.name FROM (SELECT id, cat FROM docs WHERE cat = 9 ORDER BY emb <=> '%s' LIMIT 10) t
				LEFT JOIN owners o ON o.cat = t.cat ORDER BY t.id, o.name`, v), simple: true},
			shapeCase{sql: fmt.Sprintf(`(SELECT id, 'near' AS why FROM docs ORDER BY emb <-> '%s' LIMIT 5)
				UNION ALL (SELECT id, 'owner' FROM owners ORDER BY id LIMIT 2)`, v), simple: true, extends: true},
			// LATERAL and subquery expressions may reference the query around them: only the
			// probe shows they do not, and a prepared statement has none.
			shapeCase{sql: fmt.Sprintf(`SELECT o.name, n.id FROM owners o, LATERAL (SELECT id FROM docs ORDER BY emb <#> '%s' LIMIT 3) n
				ORDER BY o.name, n.id`, v), simple: true},
			shapeCase{sql: fmt.Sprintf(`SELECT count(*), sum(id) FROM docs WHERE id IN (SELECT id FROM docs ORDER BY emb <+> '%s' LIMIT 9)`, v),
				simple: true},
			// Correlated: the node's probe cannot run alone.
			shapeCase{sql: fmt.Sprintf(`SELECT o.name, n.id FROM owners o, LATERAL (SELECT id FROM docs d WHERE d.cat = o.cat
				ORDER BY emb <-> '%s' LIMIT 2) n ORDER BY o.name, n.id`, v)},
			// Several nodes, each probed in turn, all guarded in the one statement (simple
			// protocol: a prepared statement binds one candidate array).
			shapeCase{sql: fmt.Sprintf(`SELECT a.id, b.id FROM (SELECT id FROM docs ORDER BY emb <-> '%s' LIMIT 3) a,
				(SELECT id FROM docs ORDER BY emb <=> '%s' LIMIT 3) b ORDER BY 1, 2`, v, w), simple: true},
			shapeCase{sql: fmt.Sprintf(`(SELECT 2 AS c, id FROM docs WHERE cat = 2 ORDER BY emb <-> '%[1]s' LIMIT 4)
				UNION ALL (SELECT 9, id FROM docs WHERE cat = 9 ORDER BY emb <-> '%[1]s' LIMIT 8)
				UNION ALL (SELECT 5, id FROM docs WHERE cat = 5 ORDER BY emb <-> '%[2]s' LIMIT 4 OFFSET 1)`, v, w), simple: true},
		)
	}
	// Parameters (the extended protocol: one round, guarded), also in LIMIT and OFFSET.
	cases = append(cases,
		shapeCase{sql: `SELECT * FROM (SELECT id FROM docs ORDER BY emb <-> $1 LIMIT 4) t ORDER BY id`,
			args: []any{randomVector(rng, 8)}, simple: true, extends: true},
		shapeCase{sql: `WITH s AS (SELECT id, row_number() OVER (ORDER BY emb <=> $1) AS r FROM docs ORDER BY emb <=> $1 LIMIT $2 OFFSET $3)
			SELECT s.r, s.id, o.name FROM s LEFT JOIN owners o ON o.id = s.id ORDER BY s.r`,
			args: []any{randomVector(rng, 8), 6, 1}, simple: true, extends: true},
		// The node is short of the first candidates (a filter on 1 row in 9): the guard fails
		// and the statement is forwarded, with Postgres' answer.
		shapeCase{sql: `SELECT * FROM (SELECT id FROM docs WHERE cat = $2 ORDER BY emb <-> $1 LIMIT 10) t ORDER BY id`,
			args: []any{randomVector(rng, 8), 4}, simple: true})
	checkShapes(t, g, via, direct, cases)
	// In a READ COMMITTED block: the rounds run under vecgate's savepoint, and a failed guard
	// (the filtered node short of its first candidates, extended protocol) is rolled back to it
	// and forwarded, the block going on.
	ctx := context.Background()
	for _, c := range []*pgx.Conn{via, direct} {
		if _, err := c.Exec(ctx, "BEGIN", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	checkShapes(t, g, via, direct, []shapeCase{cases[0], cases[2], cases[len(cases)-1]})
	for _, c := range []*pgx.Conn{via, direct} {
		if _, err := c.Exec(ctx, "COMMIT", pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatal(err)
		}
	}
	// EXPLAIN: the node's rewrite guarded by a one-time filter, placeholder keys.
	plan := simpleLines(t, via, `EXPLAIN SELECT * FROM (SELECT id FROM docs WHERE cat = 3 ORDER BY emb <-> '`+randomVector(rng, 8)+`' LIMIT 4) t`)
	if !strings.HasPrefix(plan, "vecgate: intercepted: top-k node") || !strings.Contains(plan, "One-Time Filter") ||
		!strings.Contains(plan, "'{1,2,3,4,5,6,7,8}'::bigint[]") {
		t.Fatalf("EXPLAIN through vecgate:\n%s", plan)
	}
	plan = simpleLines(t, via, `EXPLAIN SELECT * FROM (SELECT id FROM docs ORDER BY emb <-> '`+randomVector(rng, 8)+`' LIMIT 4) a,
		(SELECT id FROM docs WHERE cat = 1 ORDER BY emb <=> '`+randomVector(rng, 8)+`' LIMIT 2) b`)
	if strings.Count(plan, "vecgate: intercepted: top-k node") != 2 || strings.Count(plan, "One-Time Filter") != 2 {
		t.Fatalf("EXPLAIN of two nodes through vecgate:\n%s", plan)
	}
}
