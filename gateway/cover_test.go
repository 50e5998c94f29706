package gateway

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/live"
)

// Covering twins (issue 17): statements that return the table's other columns are answered from
// memory, byte for byte as Postgres sends them, in the text and binary result formats.

const coverSetup = `CREATE TABLE docs (id bigint PRIMARY KEY, content text, metadata jsonb, score numeric(8,3),
	w real, d double precision, flag boolean, u uuid, tag varchar(12), code char(4), n int, small smallint,
	created timestamptz DEFAULT '2026-01-02 03:04:05+00', emb vector(3));
	ALTER TABLE docs ALTER content SET STORAGE EXTERNAL`

const coverRows = `INSERT INTO docs (id, content, metadata, score, w, d, flag, u, tag, code, n, small, emb)
	SELECT i,
		CASE WHEN i % 17 = 0 THEN NULL WHEN i = 7 THEN (SELECT string_agg(md5(j::text), '') FROM generate_series(1, 200) j)
			ELSE 'doc ' || i || ' — naïve ☃' END,
		CASE WHEN i % 13 = 0 THEN NULL ELSE jsonb_build_object('source', 'file' || (i % 5) || '.md', 'page', i, 'x', i / 7.0) END,
		i * 1.125, i / 3.0, i / 7.0, i % 2 = 0, md5(i::text)::uuid, 'tag' || i, 'c' || (i % 9), i * 1000, i % 300,
		('[' || sin(i) || ',' || cos(i) || ',' || (i % 10) / 10.0 + 0.05 || ']')::vector
	FROM generate_series(1, 300) i`

// wireAnswer runs sql through the extended protocol (or the simple one when formats is nil) and
// renders everything the client receives: field descriptions and every value's bytes, or the
// error's code and message. The distances of columns named in approx (float8) are rendered
// rounded to 6 significant digits: vecgate's float32 sums run in another order than pgvector's
// (README: Limitations), everything else must be the same bytes.
func wireAnswer(t *testing.T, c *pgconn.PgConn, sql string, params [][]byte, formats []int16, approx ...string) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	var results []*pgconn.Result
	var err error
	if formats == nil {
		results, err = c.Exec(ctx, sql).ReadAll()
	} else {
		r := c.ExecParams(ctx, sql, params, nil, nil, formats).Read()
		results, err = []*pgconn.Result{r}, r.Err
	}
	if err != nil {
		var pe *pgconn.PgError
		if ok := asPgError(err, &pe); ok {
			return fmt.Sprintf("ERROR %s: %s", pe.Code, pe.Message)
		}
		t.Fatalf("%s: %v", sql, err)
	}
	for _, r := range results {
		for _, f := range r.FieldDescriptions {
			fmt.Fprintf(&b, "%s:%d:%d:%d:%d ", f.Name, f.DataTypeOID, f.TypeModifier, f.DataTypeSize, f.Format)
		}
		b.WriteString("\n")
		for _, row := range r.Rows {
			for i, v := range row {
				f := r.FieldDescriptions[i]
				switch {
				case v == nil:
					b.WriteString("NULL|")
				case slices.Contains(approx, f.Name) && f.DataTypeOID == 701:
					x := math.Float64frombits(binary.BigEndian.Uint64(append(make([]byte, 8-min(8, len(v))), v...)))
					if f.Format == 0 {
						x, _ = strconv.ParseFloat(string(v), 64)
					}
					fmt.Fprintf(&b, "~%.6g|", x)
				default:
					fmt.Fprintf(&b, "%q|", v)
				}
			}
			b.WriteString("\n")
		}
		b.WriteString(r.CommandTag.String())
	}
	return b.String()
}

func asPgError(err error, pe **pgconn.PgError) bool {
	p, ok := err.(*pgconn.PgError)
	if ok {
		*pe = p
	}
	return ok
}

// TestCoveringAnswers: the RAG shape and every supported type, NULLs, a TOASTed value and an
// update that leaves it unchanged, through vecgate and directly, compared byte for byte; the
// repeated runs are answered from memory.
func TestCoveringAnswers(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops)", "CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	var v7 string
	var toasted bool
	if err := pgtest.Connect(t, dsn).QueryRow(context.Background(),
		"SELECT emb::text, (SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE oid = 'docs'::regclass) FROM docs WHERE id = 7").Scan(&v7, &toasted); err != nil || !toasted {
		t.Fatalf("row 7: %v (content out of line: %v)", err, toasted)
	}
	q := "[0.3,-0.2,-0.55]" // cosine distances from 0.1 up: printed from memory (planner.MinFastCosine)
	statements := []struct {
		sql    string
		params [][]byte
		fast   bool
	}{
		{"SELECT id, content, metadata, emb <=> '" + q + "' AS distance FROM docs ORDER BY distance LIMIT 5", nil, true},
		{"SELECT id, content, metadata, emb <=> $1 AS distance FROM docs ORDER BY distance LIMIT 5", [][]byte{[]byte(q)}, true},
		{"SELECT content, score, w, d, flag, u, tag, code, n, small, id FROM docs ORDER BY emb <-> $1 LIMIT 40", [][]byte{[]byte(q)}, true},
		{"SELECT metadata, docs.content AS body, emb <-> $1 FROM docs ORDER BY emb <-> $1 LIMIT 3 OFFSET 2", [][]byte{[]byte(q)}, true},
		// Types whose output depends on settings (TimeZone, DateStyle): TestSettingDependentOutput.
		// The TOASTed row first.
		{"SELECT id, content, n FROM docs ORDER BY emb <-> (SELECT emb FROM docs WHERE id = 7) LIMIT 2", nil, false},
		{"SELECT id, content, n FROM docs ORDER BY emb <-> $1 LIMIT 2", [][]byte{[]byte(v7)}, true},
		// WHERE: equality on held columns is evaluated from memory; the rest takes the rewrite.
		{"SELECT id, content FROM docs WHERE flag = true ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, true},
		{"SELECT id, content FROM docs WHERE tag IN ('tag3', 'tag10', 'nope') AND flag = false ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, true},
		{"SELECT id, tag FROM docs WHERE n = $2 AND small = $3 ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q), []byte("12000"), []byte("12")}, true},
		{"SELECT id, u FROM docs WHERE u = 'c20ad4d7-6fe9-7759-aa27-a0c99bff6710' ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, true},
		{"SELECT id FROM docs WHERE tag = NULL ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, false}, // NULL is no filter value
		{"SELECT id, code FROM docs WHERE code = 'c1' ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, false},
		{"SELECT id FROM docs WHERE tag = 'tag3' OR flag ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, true}, // OR: conditions (cond.go)
		{"SELECT id FROM docs WHERE score = 3.375 ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, false},
		// jsonb members as text (LangChain's and LlamaIndex's metadata filters).
		{"SELECT id, content, metadata FROM docs WHERE metadata->>'source' = 'file2.md' ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, true},
		{"SELECT id FROM docs WHERE metadata->>'page' IN ('3', '30', '31') AND docs.metadata->>'source' = $2 ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q), []byte("file0.md")}, true},
		{"SELECT id FROM docs WHERE metadata->>'x' = '1.0000000000000000' ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, true},
		{"SELECT id FROM docs WHERE metadata->>'missing' = 'x' ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, true},
		{"SELECT id FROM docs WHERE metadata->'source' = '\"file2.md\"' ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, false},
		{"SELECT id FROM docs WHERE content->>'source' = 'x' ORDER BY emb <-> $1 LIMIT 5", [][]byte{[]byte(q)}, false}, // text has no ->>: Postgres' error
	}
	run := func(step string) {
		t.Helper()
		for _, st := range statements {
			for _, formats := range [][]int16{nil, {0}, {1}} {
				if formats == nil && st.params != nil {
					continue
				}
				before := g.Stats().FastPath
				for i := range 2 { // the first run may take the rewrite (vecgate learns the description)
					got, want := wireAnswer(t, via, st.sql, st.params, formats), wireAnswer(t, direct, st.sql, st.params, formats)
					if got != want {
						t.Fatalf("%s: %s formats %v run %d:\nvecgate:  %s\nPostgres: %s", step, st.sql, formats, i, got, want)
					}
				}
				if fast := g.Stats().FastPath > before; fast != st.fast {
					t.Errorf("%s: %s formats %v: answered from memory %v, want %v", step, st.sql, formats, fast, st.fast)
				}
			}
		}
	}
	run("loaded")
	// An update that leaves the TOASTed content unchanged (pgoutput sends it as unchanged), one
	// that changes content and metadata, one that nulls them, through vecgate (read-your-writes).
	for _, u := range []string{
		"UPDATE docs SET n = n + 1 WHERE id = 7",
		"UPDATE docs SET content = 'changed ' || id, metadata = '{\"b\": [1, 2]}' WHERE id % 3 = 0",
		"UPDATE docs SET content = NULL, score = NULL, u = NULL WHERE id % 5 = 0",
		"INSERT INTO docs (id, content, metadata, emb) VALUES (1000, 'new', '{}', '[0.6,0.25,-0.55]')",
	} {
		if _, err := via.Exec(context.Background(), u).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	run("updated")
	if !bytes.Contains([]byte(wireAnswer(t, via, statements[0].sql, nil, nil)), []byte("1000")) {
		t.Fatalf("the new row is not in the answer")
	}
}

// TestCoveringColumnPrivileges: a role may read only some columns; statements returning others
// get Postgres' error, the rest are answered from memory.
func TestCoveringColumnPrivileges(t *testing.T) {
	role := fmt.Sprintf("cover_%d", rand.Uint32())
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)",
		"CREATE ROLE "+role, "GRANT SELECT (id, emb, content) ON docs TO "+role)
	t.Cleanup(func() {
		c := pgtest.Connect(t, dsn)
		c.Exec(context.Background(), "DROP OWNED BY "+role)
		c.Exec(context.Background(), "DROP ROLE "+role)
	})
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	q := [][]byte{[]byte("[0.1,0.2,0.3]")}
	statements := []struct {
		sql  string
		fast bool
	}{
		{"SELECT id, content FROM docs ORDER BY emb <-> $1 LIMIT 5", true},
		{"SELECT id, metadata FROM docs ORDER BY emb <-> $1 LIMIT 5", false},
		{"SELECT content, tag FROM docs ORDER BY emb <-> $1 LIMIT 5", false},
		{"SELECT id, content FROM docs WHERE tag = 'tag1' ORDER BY emb <-> $1 LIMIT 5", false},
	}
	// The session learns each statement's description (and is answered from memory) as the
	// table's owner first.
	for _, st := range statements {
		for range 2 {
			wireAnswer(t, via, st.sql, q, []int16{0})
		}
	}
	for _, c := range []*pgconn.PgConn{via, direct} {
		if _, err := c.Exec(context.Background(), "SET ROLE "+role).ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range statements {
		before := g.Stats().FastPath
		for range 2 {
			got, want := wireAnswer(t, via, st.sql, q, []int16{0}), wireAnswer(t, direct, st.sql, q, []int16{0})
			if got != want {
				t.Fatalf("%s:\nvecgate:  %s\nPostgres: %s", st.sql, got, want)
			}
		}
		if fast := g.Stats().FastPath > before; fast != st.fast {
			t.Errorf("%s: answered from memory %v, want %v", st.sql, fast, st.fast)
		}
	}
}

// TestCoveringRestart: held values are saved with the twins in --data-dir; a restarted vecgate
// resumes without a full load, rows changed while it was down included (one with its TOASTed
// content unchanged), and answers the content query from memory as Postgres does.
func TestCoveringRestart(t *testing.T) {
	dsn, admin := coverDB(t)
	ctx := context.Background()
	opt := Config{Intercept: true, SlotName: fmt.Sprintf("cr%d", rand.Uint32()), DataDir: t.TempDir()}
	g := startTestGateway(t, dsn, opt)
	waitIndexed(t, g, 300)
	if err := g.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"UPDATE docs SET n = -1 WHERE id = 7", "UPDATE docs SET content = 'while down' WHERE id = 8"} {
		if _, err := admin.Exec(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	g = startTestGateway(t, dsn, opt)
	waitIndexed(t, g, 300)
	if st := g.stream.Status(); st.Resnapshots != 0 {
		t.Fatalf("restart reloaded from Postgres (%d full loads) instead of resuming", st.Resnapshots)
	}
	var v7, v8 string
	if err := admin.QueryRow(ctx, "SELECT (SELECT emb::text FROM docs WHERE id = 7), (SELECT emb::text FROM docs WHERE id = 8)").Scan(&v7, &v8); err != nil {
		t.Fatal(err)
	}
	via := coverVia(t, dsn, g)
	for _, v := range []string{v7, v8} {
		sql := "SELECT id, content, n, metadata FROM docs ORDER BY emb <-> $1 LIMIT 3"
		before := g.Stats().FastPath
		for range 2 {
			got, want := wireAnswer(t, via, sql, [][]byte{[]byte(v)}, []int16{1}), wireAnswer(t, admin.PgConn(), sql, [][]byte{[]byte(v)}, []int16{1})
			if got != want {
				t.Fatalf("after restart:\nvecgate:  %s\nPostgres: %s", got, want)
			}
		}
		if g.Stats().FastPath == before {
			t.Errorf("after restart, not answered from memory")
		}
	}
}

// TestCoveringRowCap: a row whose values pass --twin-cover-max-row is not held; statements that
// would return it, or whose WHERE would have to test it, take the rewrite, with Postgres' answer.
func TestCoveringRowCap(t *testing.T) {
	dsn, admin := coverDB(t)
	ctx := context.Background()
	twins := live.DefaultOptions()
	twins.Cover.MaxRowBytes = 1024 // row 7's content is 6,400 bytes
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("cc%d", rand.Uint32()), Twins: &twins})
	waitIndexed(t, g, 300)
	var v7 string
	if err := admin.QueryRow(ctx, "SELECT emb::text FROM docs WHERE id = 7").Scan(&v7); err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); len(st.Indexes) != 1 || st.Indexes[0].CoveredRows != 299 || st.Indexes[0].UncoveredRows != 1 {
		t.Fatalf("status: %+v", st.Indexes)
	}
	via := coverVia(t, dsn, g)
	for _, st := range []struct {
		sql    string
		params [][]byte
		fast   bool
	}{
		{"SELECT id, content FROM docs ORDER BY emb <-> $1 LIMIT 3", [][]byte{[]byte(v7)}, false},
		{"SELECT id, content FROM docs WHERE tag = 'tag8' ORDER BY emb <-> $1 LIMIT 3", [][]byte{[]byte(v7)}, false},
		{"SELECT id, content FROM docs ORDER BY emb <-> $1 LIMIT 3", [][]byte{[]byte("[-1,-1,-1]")}, true},
	} {
		before := g.Stats().FastPath
		for range 2 {
			got, want := wireAnswer(t, via, st.sql, st.params, []int16{0}), wireAnswer(t, admin.PgConn(), st.sql, st.params, []int16{0})
			if got != want {
				t.Fatalf("%s:\nvecgate:  %s\nPostgres: %s", st.sql, got, want)
			}
		}
		if fast := g.Stats().FastPath > before; fast != st.fast {
			t.Errorf("%s: answered from memory %v, want %v", st.sql, fast, st.fast)
		}
	}
}

// TestCoveringMemoryBudget: with twins over --max-memory, the held values go (logged, in
// status), the vectors stay, and statements returning other columns are answered correctly
// through the rewrite.
func TestCoveringMemoryBudget(t *testing.T) {
	dsn, admin := coverDB(t)
	twins := live.DefaultOptions()
	twins.MaxMemory = 1 // any held value is over
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("cm%d", rand.Uint32()), Twins: &twins})
	waitIndexed(t, g, 300)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := g.Status()
		if len(st.Indexes) == 1 && st.Indexes[0].CoverDropped && st.Indexes[0].CoveredRows == 0 && st.Indexes[0].Rows == 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held values not dropped: %+v", st.Indexes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	via := coverVia(t, dsn, g)
	q := [][]byte{[]byte("[0.1,0.2,0.3]")}
	for _, st := range []struct {
		sql  string
		fast bool
	}{
		{"SELECT id, content FROM docs ORDER BY emb <-> $1 LIMIT 5", false},
		{"SELECT id, emb <-> $1 FROM docs ORDER BY emb <-> $1 LIMIT 5", true},
	} {
		before, intercepted := g.Stats().FastPath, g.Stats().Intercepted
		for range 2 {
			got, want := wireAnswer(t, via, st.sql, q, []int16{0}), wireAnswer(t, admin.PgConn(), st.sql, q, []int16{0})
			if got != want {
				t.Fatalf("%s:\nvecgate:  %s\nPostgres: %s", st.sql, got, want)
			}
		}
		if fast := g.Stats().FastPath > before; fast != st.fast || g.Stats().Intercepted-intercepted != 2 {
			t.Errorf("%s: answered from memory %v, want %v (intercepted %d)", st.sql, fast, st.fast, g.Stats().Intercepted-intercepted)
		}
	}
}

// TestCoveringShadowedEquality: a session whose search_path puts its own = for text before
// pg_catalog's is not answered from memory when vecgate would have to evaluate = itself.
func TestCoveringShadowedEquality(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)", "CREATE SCHEMA evil",
		"CREATE FUNCTION evil.always(text, text) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT true'",
		"CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	q := [][]byte{[]byte("[0.1,0.2,0.3]")}
	sql := "SELECT id, tag FROM docs WHERE metadata->>'source' = 'file2.md' AND tag = 'tag3' ORDER BY emb <-> $1 LIMIT 5"
	for range 2 {
		wireAnswer(t, via, sql, q, []int16{0}) // learns the description; answered from memory
	}
	for _, c := range []*pgconn.PgConn{via, direct} {
		if _, err := c.Exec(context.Background(), "SET search_path = evil, pg_catalog, public").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	before := g.Stats().FastPath
	for range 2 {
		got, want := wireAnswer(t, via, sql, q, []int16{0}), wireAnswer(t, direct, sql, q, []int16{0})
		if got != want {
			t.Fatalf("evil = on the search_path:\nvecgate:  %s\nPostgres: %s", got, want)
		}
	}
	if g.Stats().FastPath != before {
		t.Errorf("answered from memory with another = on the search_path")
	}
}

// coverDB creates a database holding the docs table (coverSetup, coverRows) with an L2 index,
// and returns its DSN and a connection to it.
func coverDB(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	dsn := pgtest.NewDB(t)
	admin := pgtest.Connect(t, dsn)
	for _, q := range []string{"CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)"} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return dsn, admin
}

// TestSimilarityOrdering: Drizzle's documented pattern, `1 - (emb <=> q) AS similarity … ORDER BY
// similarity DESC`, is intercepted (the rewrite: Postgres computes the similarity) with
// Postgres' answer; while the table has a row with a NULL vector, which DESC puts first, it is
// forwarded.
func TestSimilarityOrdering(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	q := [][]byte{[]byte("[0.3,-0.2,-0.55]")}
	statements := []string{
		"SELECT id, content, 1 - (emb <=> $1) AS similarity FROM docs ORDER BY similarity DESC LIMIT 5",
		"SELECT id, 1 - (emb <=> $1) FROM docs WHERE tag <> 'tag1' ORDER BY 1 - (emb <=> $1) DESC LIMIT 7",
		"SELECT id FROM docs ORDER BY 2 DESC LIMIT 3",
	}
	check := func(step string, intercepted bool) {
		t.Helper()
		for _, sql := range statements {
			before := g.Stats().Intercepted
			got, want := wireAnswer(t, via, sql, q, []int16{0}), wireAnswer(t, direct, sql, q, []int16{0})
			if got != want {
				t.Fatalf("%s: %s:\nvecgate:  %s\nPostgres: %s", step, sql, got, want)
			}
			if strings.Contains(sql, "ORDER BY 2") {
				continue // an ordinal past the select list: Postgres' error, forwarded
			}
			if moved := g.Stats().Intercepted > before; moved != intercepted {
				t.Errorf("%s: %s: intercepted %v, want %v", step, sql, moved, intercepted)
			}
		}
	}
	check("no NULL vectors", true)
	if _, err := via.Exec(context.Background(), "INSERT INTO docs (id, content) VALUES (5000, 'no vector')").ReadAll(); err != nil {
		t.Fatal(err)
	}
	check("a NULL vector", false)
}

// TestCoveringSelectStar: LangChain's and LlamaIndex's query, `SELECT *, embedding <=> $1 AS
// "_distance" … WHERE collection_id = $3 ORDER BY "_distance" LIMIT $2`, is answered from memory
// with every column, the vector included, as Postgres sends it; after a column is added, the
// `*` is the table's new column list (the twin's old one is not used).
func TestCoveringSelectStar(t *testing.T) {
	dsn, g := tableGateway(t, 200, "CREATE EXTENSION IF NOT EXISTS vector",
		`CREATE TABLE lc (id uuid PRIMARY KEY, content text, metadata jsonb, collection_id uuid, embedding vector(4))`,
		`INSERT INTO lc SELECT md5(i::text)::uuid, 'chunk ' || i, jsonb_build_object('source', 's' || (i % 3)),
			CASE WHEN i % 2 = 0 THEN 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid ELSE '00000000-0000-0000-0000-000000000001'::uuid END,
			ARRAY[sin(i), cos(i), sin(2 * i) / 3, -1.5 + (i % 7) / 3.0]::vector FROM generate_series(1, 200) i`,
		"CREATE INDEX ON lc USING hnsw (embedding vector_cosine_ops)")
	via := coverVia(t, dsn, g)
	direct := pgtest.Connect(t, dsn).PgConn()
	params := [][]byte{[]byte("[0.3,-0.2,0.55,-1]"), []byte("4"), []byte("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")}
	statements := []string{
		`SELECT *, embedding <=> $1 AS "_distance" FROM lc WHERE collection_id = $3 ORDER BY "_distance" ASC LIMIT $2`,
		`SELECT lc.*, embedding <=> $1 AS d FROM lc WHERE metadata->>'source' = 's1' AND collection_id = $3 ORDER BY d LIMIT $2`,
	}
	run := func(step string, fast bool) {
		t.Helper()
		for _, sql := range statements {
			for _, formats := range [][]int16{{0}, {1}} {
				before := g.Stats().FastPath
				for range 2 {
					got, want := wireAnswer(t, via, sql, params, formats), wireAnswer(t, direct, sql, params, formats)
					if got != want {
						t.Fatalf("%s: %s formats %v:\nvecgate:  %s\nPostgres: %s", step, sql, formats, got, want)
					}
				}
				if moved := g.Stats().FastPath > before; fast && !moved {
					t.Errorf("%s: %s formats %v: not answered from memory", step, sql, formats)
				}
			}
		}
	}
	run("loaded", true)
	if _, err := via.Exec(context.Background(), "ALTER TABLE lc ADD COLUMN extra int DEFAULT 7").ReadAll(); err != nil {
		t.Fatal(err)
	}
	// Through Postgres until the twin holds the new column (a reload), from memory after: the
	// same answer either way.
	run("column added", false)
}

// TestDescriptionShared: a description Postgres gave one session's statement serves another
// session's first statement of the same shape (connection pools open sessions all the time):
// it is answered from memory, the same bytes as Postgres sends, once its own table check passed.
func TestDescriptionShared(t *testing.T) {
	dsn, g := tableGateway(t, 300, "CREATE EXTENSION IF NOT EXISTS vector", coverSetup, coverRows,
		"CREATE INDEX ON docs USING hnsw (emb vector_l2_ops)")
	direct := pgtest.Connect(t, dsn).PgConn()
	q := [][]byte{[]byte("[0.1,0.2,0.3]")}
	sql := "SELECT id, content, metadata, emb <-> $1 AS distance FROM docs WHERE flag = true ORDER BY distance LIMIT 5"
	first := coverVia(t, dsn, g)
	wireAnswer(t, first, sql, q, []int16{0}) // rewritten: Postgres' description is kept
	for range 3 {
		next := coverVia(t, dsn, g)
		before := g.Stats().FastPath
		got, want := wireAnswer(t, next, sql, q, []int16{0}), wireAnswer(t, direct, sql, q, []int16{0})
		if got != want {
			t.Fatalf("vecgate:  %s\nPostgres: %s", got, want)
		}
		if g.Stats().FastPath == before {
			t.Fatalf("a new session's first statement of a known shape was not answered from memory")
		}
	}
}

// coverVia connects to vecgate for a covering test: reads wait up to 10 s for replication after
// the session ran a statement in Postgres (rather than 100 ms, past which a loaded machine
// forwards them as lagging and the test could not see the path it checks).
func coverVia(t *testing.T, dsn string, g *Gateway) *pgconn.PgConn {
	t.Helper()
	c := pgtest.Connect(t, viaDSN(dsn, g)).PgConn()
	if _, err := c.Exec(context.Background(), "SET vecgate.max_wait = '10s'").ReadAll(); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDescribedAfterAddColumn: a client that prepares `SELECT *` (Parse, Describe through
// Postgres) after another session added a column holds Postgres' description with the new
// column; the execution must not then be answered from memory with the twin's older columns
// (pgx failed reading 4 values under a 5-column description: found by the soak). A Describe
// that ran in Postgres makes the session's table check run again. The stream is kept from
// seeing the DDL (event triggers disabled, no periodic check), so only that check can tell.
func TestDescribedAfterAddColumn(t *testing.T) {
	dsn := pgtest.NewDB(t)
	admin := pgtest.Connect(t, dsn)
	ctx := context.Background()
	for _, q := range []string{"CREATE EXTENSION IF NOT EXISTS vector",
		"CREATE TABLE items (id int PRIMARY KEY, title text, emb vector(2))",
		"INSERT INTO items SELECT i, 't' || i, ARRAY[sin(i), cos(i)]::vector FROM generate_series(1, 200) i",
		"CREATE INDEX ON items USING hnsw (emb vector_l2_ops)"} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("dc%d", rand.Uint32()), CatalogInterval: time.Hour})
	waitIndexed(t, g, 200)
	for _, q := range []string{"ALTER EVENT TRIGGER vecgate_catalog_end DISABLE", "ALTER EVENT TRIGGER vecgate_catalog_drop DISABLE"} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	via := pgtest.Connect(t, viaDSN(dsn, g))
	waitLonger(t, via)
	run := func(sql string) []string {
		t.Helper()
		rows, err := via.Query(ctx, sql, pgx.QueryExecModeCacheStatement, "[0.5,0.5]")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var cols []string
		for _, f := range rows.FieldDescriptions() {
			cols = append(cols, f.Name)
		}
		for rows.Next() {
			if vals, err := rows.Values(); err != nil || len(vals) != len(cols) {
				t.Fatalf("%s: %d values under %d columns (%v)", sql, len(vals), len(cols), err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return cols
	}
	before := g.Stats().FastPath
	for range 3 {
		run("SELECT * FROM items ORDER BY emb <-> $1 LIMIT 3")
	}
	if g.Stats().FastPath == before {
		t.Fatal("SELECT * was not answered from memory: the test proves nothing")
	}
	if _, err := admin.Exec(ctx, "ALTER TABLE items ADD COLUMN extra int DEFAULT 7"); err != nil {
		t.Fatal(err)
	}
	if cols := run("SELECT * FROM items ORDER BY emb <-> $1 LIMIT 4"); len(cols) != 4 {
		t.Fatalf("columns %v, want the new one too", cols)
	}
}
