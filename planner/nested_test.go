package planner

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestNestedTemplates: the top-k node is found wherever it stands, rewritten in place with the
// guard, and the probe selects its key only; a node that may reference the query around it
// (LATERAL, a subquery expression) is not isolated; statements vecgate must not take are refused.
func TestNestedTemplates(t *testing.T) {
	target := Target{Schema: "public", Table: "docs", RelOID: 16384, Key: "id", KeyType: "bigint"}
	isolated := []bool{true, true, true, false, false}
	for i, sql := range []string{
		`WITH semantic AS (SELECT id, content, row_number() OVER (ORDER BY embedding <=> '[1,2]') AS rank FROM docs ORDER BY embedding <=> '[1,2]' LIMIT 20),
			keyword AS (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM docs WHERE content LIKE '%a%' LIMIT 20)
			SELECT coalesce(s.id, k.id) FROM semantic s FULL OUTER JOIN keyword k ON s.id = k.id ORDER BY coalesce(1.0 / (60 + s.rank), 0.0) + coalesce(1.0 / (60 + k.rank), 0.0) DESC LIMIT 10`,
		`SELECT * FROM (SELECT id, embedding <-> '[1,2]' AS d FROM docs WHERE cat = 3 ORDER BY d LIMIT 10 OFFSET 2) t WHERE t.id > 5`,
		`(SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) UNION ALL (SELECT id FROM other WHERE x = 1 LIMIT 2)`,
		`SELECT o.name, n.id FROM owners o, LATERAL (SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 2) n`,
		`SELECT count(*) FROM docs WHERE id IN (SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 5)`,
	} {
		n, err := ClassifyNested(sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if n.isolated != isolated[i] {
			t.Errorf("%s: isolated %v", sql, n.isolated)
		}
		tp, err := n.templatesFor(target)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if !strings.HasPrefix(tp.probe, "SELECT docs.id FROM docs") && !strings.HasPrefix(tp.probe, "SELECT docs.id FROM docs") {
			t.Errorf("%s: probe %s", sql, tp.probe)
		}
		if !strings.Contains(tp.whole, ShortMarker) || strings.Count(tp.whole, "OPERATOR(pg_catalog.+) 0") < 1 {
			t.Errorf("%s: whole %s", sql, tp.whole)
		}
		t.Logf("%s\n probe: %s\n whole: %s", sql, tp.probe, tp.whole)
	}
	for sql, why := range map[string]string{
		`WITH x AS (DELETE FROM docs RETURNING id) SELECT * FROM (SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) t`:                       "data-modifying",
		`SELECT * FROM (SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) t, LATERAL (SELECT nextval('s')) s`:                                "nextval",
		`SELECT * FROM (SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) t FOR UPDATE`:                                                      "locking",
		`WITH docs AS (SELECT 1 AS id) SELECT * FROM (SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) t`:                                   "no top-k node",
		`SELECT * FROM (SELECT id FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) a, (SELECT id FROM docs ORDER BY embedding <-> '[2,2]' LIMIT 3) b`: "2 top-k nodes",
		`SELECT * FROM (SELECT id, ntile(2) OVER (ORDER BY embedding <-> '[1,2]') FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) t`:                 "ntile",
		`SELECT * FROM (SELECT id, rank() OVER (ORDER BY embedding <-> '[1,3]') FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) t`:                   "no top-k node",
		`SELECT * FROM (SELECT id, rank() OVER (PARTITION BY cat ORDER BY embedding <-> '[1,2]') FROM docs ORDER BY embedding <-> '[1,2]' LIMIT 3) t`:  "no top-k node",
	} {
		_, err := ClassifyNested(sql)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: %v, want %q", sql, err, why)
		}
	}
}

// TestNestedGuard runs the whole statement against Postgres: with every candidate it needs, the
// node's rows; with too few (some deleted since the probe, or none found), the statement fails
// with ShortMarker — also when no candidate exists at all, so that the node's scan returns no
// row (the guard is a one-time filter, evaluated before the node's first row), and also when
// the node is in a subquery expression. Without the guard (covered candidates) it does not fail.
func TestNestedGuard(t *testing.T) {
	c := pgtest.Connect(t, pgtest.NewDB(t))
	ctx := context.Background()
	for _, q := range []string{
		`CREATE EXTENSION IF NOT EXISTS vector`,
		`CREATE TABLE docs (id bigint PRIMARY KEY, cat int, emb vector(2))`,
		`INSERT INTO docs SELECT g, g % 2, ARRAY[g, 0]::vector(2) FROM generate_series(1, 20) g`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var rel uint32
	if err := c.QueryRow(ctx, `SELECT 'docs'::regclass::oid`).Scan(&rel); err != nil {
		t.Fatal(err)
	}
	target := Target{Schema: "public", Table: "docs", RelOID: rel, Key: "id", KeyType: "bigint"}
	for _, sql := range []string{
		`SELECT * FROM (SELECT id FROM docs WHERE cat = 0 ORDER BY emb <-> '[0,0]' LIMIT 3) t ORDER BY id`,
		`SELECT count(*) FROM owners_none WHERE EXISTS (SELECT 1) OR 2 IN (SELECT id FROM docs WHERE cat = 0 ORDER BY emb <-> '[0,0]' LIMIT 3)`,
	} {
		n, err := ClassifyNested(sql)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := n.templatesFor(target)
		if err != nil {
			t.Fatal(err)
		}
		run := func(tmpl, keys string) error {
			rows, err := c.Query(ctx, strings.ReplaceAll(tmpl, idsMarker, keys), pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}
		if strings.Contains(sql, "owners_none") {
			// The node is never run (the OR is decided before it): nothing to prove.
			if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS owners_none (id int)`); err != nil {
				t.Fatal(err)
			}
			if err := run(tp.whole, `ARRAY[]::bigint[]`); err != nil {
				t.Errorf("%s: node not run, yet: %v", sql, err)
			}
			continue
		}
		if err := run(tp.whole, `ARRAY[2,4,6,8]::bigint[]`); err != nil {
			t.Errorf("%s: enough candidates: %v", sql, err)
		}
		for _, keys := range []string{`ARRAY[2,4,5]::bigint[]`, `ARRAY[100,101]::bigint[]`, `'{}'::bigint[]`} {
			err := run(tp.whole, keys)
			if err == nil || !strings.Contains(err.Error(), ShortMarker) {
				t.Errorf("%s with %s: %v, want the guard's error", sql, keys, err)
			}
			if err := run(tp.open, keys); err != nil {
				t.Errorf("%s unguarded with %s: %v", sql, keys, err)
			}
		}
	}
}

// FuzzClassifyNested: any text is classified or refused without a panic, and for every node
// found the probe and the whole statements (guarded or not) parse, with their candidate
// placeholders in place.
func FuzzClassifyNested(f *testing.F) {
	for _, s := range []string{
		`WITH s AS (SELECT id, row_number() OVER (ORDER BY e <=> $1) FROM t ORDER BY e <=> $1 LIMIT 20) SELECT * FROM s`,
		`SELECT * FROM (SELECT id FROM t WHERE c = 1 ORDER BY e <-> '[1]' LIMIT 3 OFFSET $2) x`,
		`(SELECT id FROM t ORDER BY e <-> '[1]' LIMIT 3) UNION ALL (SELECT 1)`,
		`SELECT * FROM o, LATERAL (SELECT id FROM t a JOIN b ON a.x = b.y ORDER BY a.e <#> '[1]' LIMIT 2) n`,
		"", ";", "SELECT (SELECT 1 ORDER BY 1 <-> 2 LIMIT 1)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		n, err := ClassifyNested(sql)
		if err != nil {
			return
		}
		tp, err := n.templatesFor(Target{Schema: "public", Table: n.Node.Table, RelOID: 16384, Key: "id", KeyType: "bigint"})
		if err != nil {
			return
		}
		for _, s := range []string{tp.probe, tp.whole, tp.open} {
			if _, err := pg.Parse(strings.ReplaceAll(s, idsMarker, "$99::bigint[]")); err != nil {
				t.Fatalf("nested rewrite of %q does not parse: %v\n%s", sql, err, s)
			}
		}
	})
}
