package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestHeldConditions: WHERE clauses beyond column equality — comparisons on integers, BETWEEN,
// NOT IN, IS [NOT] NULL, LIKE 'prefix%', boolean columns, OR and NOT, with SQL's NULL logic —
// are evaluated on a covering twin's held values and answered from memory with Postgres' own
// answer; what vecgate cannot evaluate as Postgres would (text ordering, char(n), a value that
// does not fit the column, which Postgres refuses) goes to Postgres.
func TestHeldConditions(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	q := []byte("[0.3,-0.2,-0.55]")
	const order = " ORDER BY emb <-> $1 LIMIT 12"
	for _, st := range []struct {
		where  string
		params [][]byte
		fast   bool
	}{
		{"n < 50000", nil, true},
		{"n BETWEEN 10000 AND 90000 AND flag", nil, true},
		{"small NOT BETWEEN 10 AND 200", nil, true},
		{"content IS NULL", nil, true},
		{"metadata->>'source' IS NOT NULL AND n >= 100000", nil, true},
		{"tag LIKE 'tag1%'", nil, true},
		{"tag NOT LIKE 'tag1%' OR flag = false", nil, true},
		{"NOT (flag AND small > 100)", nil, true},
		{"n NOT IN (1000, 2000, NULL)", nil, false}, // a NULL literal: left to Postgres
		{"n NOT IN (1000, 2000) AND small <> 3", nil, true},
		{"content LIKE 'doc 1%'", nil, true},
		{"metadata->>'source' = 'file1.md' OR metadata IS NULL", nil, true},
		{"emb IS NOT NULL AND NOT flag", nil, true},
		{"small >= $2 AND small < $3", [][]byte{[]byte("20"), []byte("90")}, true},
		{"u = $2 OR n = 7000", [][]byte{[]byte("a87ff679-a2f3-e71d-9181-a67b7542122c")}, true},
		// jsonb containment and key existence, numbers compared as numerics.
		{`metadata @> '{"source": "file1.md"}'`, nil, true},
		{`metadata @> $2 AND n > 20000`, [][]byte{[]byte(`{"source": "file2.md"}`)}, true},
		{`metadata @> '{"x": 2}' OR metadata @> '{"page": 21.0}'`, nil, true},
		{`metadata @> $2::jsonb`, [][]byte{[]byte(`{"page": 35, "source": "file0.md"}`)}, true},
		{`metadata ? 'page' AND NOT metadata ? $2`, [][]byte{[]byte("missing")}, true},
		{`NOT (metadata @> '{}') OR flag`, nil, true}, // NULL metadata: NOT NULL is NULL
		// Left to Postgres.
		{"small = '70000'", nil, false}, // 22003: out of range for smallint
		{"small = $2", [][]byte{[]byte("70000")}, false},
		{"code = 'c1'", nil, false},       // char(n): compared without trailing blanks
		{"tag < 'tag5'", nil, false},      // text order: the collation's
		{"tag LIKE 'tag_1%'", nil, false}, // _ matches any character
		{"n < 5.5", nil, false},           // numeric comparison
		{"content ILIKE 'doc%'", nil, false},
		{`metadata @> '{"a": "\u0000"}'`, nil, false},                  // 22P05 from Postgres
		{`metadata @> $2`, [][]byte{[]byte(`{"page": 1e400}`)}, false}, // past what vecgate reads
		{`metadata @> $2`, [][]byte{[]byte(`{"page": 1`)}, false},      // 22P02 from Postgres
		{`metadata->'source' = '"file1.md"'`, nil, false},
	} {
		sql := "SELECT id, content, n FROM docs WHERE " + st.where + order
		params := append([][]byte{q}, st.params...)
		for i := range 2 { // the first run of a shape learns its description
			before := g.Stats().FastPath
			got, want := wireAnswer(t, via, sql, params, []int16{0}), wireAnswer(t, direct, sql, params, []int16{0})
			if got != want {
				t.Fatalf("%s:\nvecgate:  %s\nPostgres: %s", st.where, got, want)
			}
			if i == 1 && st.fast && strings.Count(want, "\n") < 2 && !strings.Contains(st.where, "NULL)") {
				t.Fatalf("%s: no rows; the test wants some:\n%s", st.where, want)
			}
			if moved := g.Stats().FastPath > before; i == 1 && moved != st.fast {
				t.Errorf("%s: from memory %v, want %v", st.where, moved, st.fast)
			}
		}
	}
	// A jsonb parameter in binary (pgx sends jsonb so when the statement's description says jsonb):
	// version 1, then the text.
	sql := "SELECT id, metadata FROM docs WHERE metadata @> $2" + order
	for i := range 2 {
		before := g.Stats().FastPath
		params, oids, formats := [][]byte{q, []byte("\x01{\"source\": \"file3.md\"}")}, []uint32{0, 3802}, []int16{0, 1}
		read := func(c *pgconn.PgConn) string {
			r := c.ExecParams(context.Background(), sql, params, oids, formats, nil).Read()
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			return fmt.Sprintf("%q", r.Rows)
		}
		if got, want := read(via), read(direct); got != want || !strings.Contains(want, "file3.md") {
			t.Fatalf("binary jsonb:\nvecgate:  %s\nPostgres: %s", got, want)
		}
		if moved := g.Stats().FastPath > before; i == 1 && !moved {
			t.Errorf("binary jsonb parameter: not from memory")
		}
	}
}

// TestSettingDependentOutput: dates, timestamps and bytea are answered from memory, in text and
// binary, while the session prints them as vecgate does (DateStyle ISO, TimeZone at offset
// zero, bytea_output hex), and go to Postgres as soon as it does not.
func TestSettingDependentOutput(t *testing.T) {
	dsn, g := tableGateway(t, 200, "CREATE EXTENSION IF NOT EXISTS vector",
		`CREATE TABLE events (id int PRIMARY KEY, day date, at timestamp, at3 timestamptz(3), blob bytea, emb vector(2))`,
		`INSERT INTO events SELECT i, DATE '2026-01-01' - i * 97, TIMESTAMP '2026-01-01 12:00' - i * interval '13 days 1.5 seconds',
			CASE WHEN i % 7 = 0 THEN NULL ELSE TIMESTAMPTZ '2026-01-01 00:00:00.123456+05:30' + i * interval '1 hour 0.0017 seconds' END,
			CASE WHEN i % 5 = 0 THEN NULL ELSE decode(md5(i::text), 'hex') END, ARRAY[sin(i), cos(i)]::vector
			FROM generate_series(1, 200) i`,
		`UPDATE events SET day = 'infinity', at = '-infinity' WHERE id = 3`,
		`UPDATE events SET day = '0044-03-15 BC' WHERE id = 4`,
		"CREATE INDEX ON events USING hnsw (emb vector_l2_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	const sql = "SELECT id, day, at, at3, blob FROM events ORDER BY emb <-> $1 LIMIT 9"
	q := [][]byte{[]byte("[0.1,0.2]")}
	for _, st := range []struct {
		settings string
		fast     bool
	}{
		{"SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; SET bytea_output = 'hex'", true},
		{"SET DateStyle = 'ISO, DMY'; SET TimeZone = 'Etc/GMT'", true},
		{"SET TimeZone = 'Asia/Kolkata'", false},
		{"SET TimeZone = 'UTC'; SET DateStyle = 'SQL, DMY'", false},
		{"SET DateStyle = 'ISO'; SET bytea_output = 'escape'", false},
		{"SET bytea_output = 'hex'", true},
	} {
		for _, c := range []*pgconn.PgConn{via, direct} {
			if _, err := c.Exec(context.Background(), st.settings).ReadAll(); err != nil {
				t.Fatal(err)
			}
		}
		for _, formats := range [][]int16{{0}, {1}} {
			for i := range 2 {
				before := g.Stats().FastPath
				got, want := wireAnswer(t, via, sql, q, formats), wireAnswer(t, direct, sql, q, formats)
				if got != want {
					t.Fatalf("%s, formats %v:\nvecgate:  %s\nPostgres: %s", st.settings, formats, got, want)
				}
				if moved := g.Stats().FastPath > before; i == 1 && moved != st.fast && formats[0] == 0 {
					t.Errorf("%s: from memory %v, want %v", st.settings, moved, st.fast)
				}
			}
		}
	}
}

// TestArraysFromMemory: array columns (one and several dimensions, NULL elements, lower bounds
// other than 1, elements that need quotes, dates under the session's settings) are answered
// from memory in text and binary, byte for byte as Postgres sends them.
func TestArraysFromMemory(t *testing.T) {
	dsn, g := tableGateway(t, 120, "CREATE EXTENSION IF NOT EXISTS vector",
		`CREATE TABLE tagged (id int PRIMARY KEY, tags text[], nums int[], grid float8[], docs jsonb[], days date[], emb vector(2))`,
		`INSERT INTO tagged SELECT i,
			CASE WHEN i % 9 = 0 THEN NULL ELSE ARRAY['t' || i % 4, 'a b', NULL, '', 'NULL', 'q"' || i] END,
			CASE WHEN i % 5 = 0 THEN '[0:2]={1,2,3}'::int[] ELSE ARRAY[i, NULL, -i] END,
			ARRAY[[i / 3.0, 0.1], [1e-7, -i]],
			ARRAY[jsonb_build_object('i', i, 's', 'x,y'), NULL],
			ARRAY[DATE '2026-01-01' + i, NULL],
			ARRAY[sin(i), cos(i)]::vector
			FROM generate_series(1, 120) i`,
		`UPDATE tagged SET tags = '{}' WHERE id = 4`,
		"CREATE INDEX ON tagged USING hnsw (emb vector_l2_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	for _, c := range []*pgconn.PgConn{via, direct} {
		if _, err := c.Exec(context.Background(), "SET DateStyle = 'ISO, MDY'").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	const sql = "SELECT id, tags, nums, grid, docs, days FROM tagged ORDER BY emb <-> $1 LIMIT 12"
	q := [][]byte{[]byte("[0.3,0.9]")}
	for _, formats := range [][]int16{{0}, {1}} {
		for i := range 2 {
			before := g.Stats().FastPath
			got, want := wireAnswer(t, via, sql, q, formats), wireAnswer(t, direct, sql, q, formats)
			if got != want {
				t.Fatalf("formats %v:\nvecgate:  %s\nPostgres: %s", formats, got, want)
			}
			if moved := g.Stats().FastPath > before; i == 1 && !moved {
				t.Errorf("formats %v: not from memory", formats)
			}
		}
	}
	// Dates print otherwise under DateStyle SQL, inside arrays too: left to Postgres.
	for _, c := range []*pgconn.PgConn{via, direct} {
		if _, err := c.Exec(context.Background(), "SET DateStyle = 'SQL, DMY'").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	before := g.Stats().FastPath
	if got, want := wireAnswer(t, via, sql, q, []int16{0}), wireAnswer(t, direct, sql, q, []int16{0}); got != want {
		t.Fatalf("DateStyle SQL:\nvecgate:  %s\nPostgres: %s", got, want)
	}
	if g.Stats().FastPath > before {
		t.Errorf("DateStyle SQL: date[] printed from memory")
	}
}
