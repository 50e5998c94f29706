package planner

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/internal/pgtest"
)

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
		tp, err := n.templatesFor([]Target{target})
		if err != nil {
			t.Fatal(err)
		}
		run := func(open bool, keys string) error {
			rows, err := c.Query(ctx, tp.fill([]string{keys}, []bool{open}), pgx.QueryExecModeSimpleProtocol)
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
			if err := run(false, `ARRAY[]::bigint[]`); err != nil {
				t.Errorf("%s: node not run, yet: %v", sql, err)
			}
			continue
		}
		if err := run(false, `ARRAY[2,4,6,8]::bigint[]`); err != nil {
			t.Errorf("%s: enough candidates: %v", sql, err)
		}
		for _, keys := range []string{`ARRAY[2,4,5]::bigint[]`, `ARRAY[100,101]::bigint[]`, `'{}'::bigint[]`} {
			err := run(false, keys)
			if err == nil || !strings.Contains(err.Error(), ShortMarker) {
				t.Errorf("%s with %s: %v, want the guard's error", sql, keys, err)
			}
			if err := run(true, keys); err != nil {
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
		ts := make([]Target, len(n.Nodes))
		keys := make([]string, len(n.Nodes))
		for i, sh := range n.Nodes {
			ts[i] = Target{Schema: "public", Table: sh.Table, RelOID: 16384, Key: "id", KeyType: "bigint"}
			keys[i] = "$99::bigint[]"
		}
		tp, err := n.templatesFor(ts)
		if err != nil {
			return
		}
		stmts := []string{tp.fill(keys, make([]bool, len(keys))), tp.fill(keys, slices.Repeat([]bool{true}, len(keys)))}
		for _, p := range tp.probes {
			stmts = append(stmts, strings.ReplaceAll(p, idsMarker, "$99::bigint[]"))
		}
		for _, s := range stmts {
			if _, err := pg.Parse(s); err != nil {
				t.Fatalf("nested rewrite of %q does not parse: %v\n%s", sql, err, s)
			}
		}
	})
}
