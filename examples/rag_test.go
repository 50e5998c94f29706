package examples_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/internal/proxytest"
	"github.com/vecgate/vecgate/migrations"
)

const ragDir = "migrations/rag"

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startVecgate runs vecgate in-process in front of the test server and returns a function that
// turns a direct DSN into the same DSN through vecgate.
func startVecgate(t *testing.T) func(string) string {
	t.Helper()
	_, via := proxytest.Start(t, pgtest.DSN(t))
	return via
}

// schemaOf describes the public schema: columns, indexes, constraints and the migration history,
// one sorted line each.
func schemaOf(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	var s *string
	err := c.QueryRow(ctxT(t), `
		SELECT string_agg(line, E'\n' ORDER BY line) FROM (
			SELECT format('col %s.%s %s %s %s %s', table_name, column_name, udt_name, is_nullable, column_default,
			              (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
			                WHERE attrelid = to_regclass(table_name) AND attname = column_name))
			  FROM information_schema.columns WHERE table_schema = 'public'
			UNION ALL
			SELECT format('idx %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
			UNION ALL
			SELECT format('con %s %s', conname, pg_get_constraintdef(oid))
			  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
			UNION ALL
			SELECT format('ext %s', extname) FROM pg_extension
		) s(line)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

// migrateUpDownUp applies the RAG folder to dsn, undoes it, applies it again, and returns the
// schema after the first and the second up.
func migrateUpDownUp(t *testing.T, dsn string) (first, again string) {
	t.Helper()
	c := pgtest.Connect(t, dsn)
	empty := schemaOf(t, c)
	run := func(cmd string, args ...string) migrations.Result {
		t.Helper()
		res, err := migrations.Run(ctxT(t), dsn, ragDir, nil, cmd, args...)
		if err != nil {
			t.Fatalf("%s %v: %v", cmd, args, err)
		}
		return res
	}
	if res := run("up"); res.After.Version != 3 || res.After.Dirty {
		t.Fatalf("up: %s", res)
	}
	first = schemaOf(t, c)
	for _, want := range []string{
		"col documents.embedding vector YES  vector(1536)",
		"col documents.metadata jsonb NO '{}'::jsonb jsonb",
		"col documents.id int8 NO nextval('documents_id_seq'::regclass) bigint",
		"idx CREATE INDEX documents_embedding_hnsw ON public.documents USING hnsw (embedding vector_cosine_ops) WITH (m='16', ef_construction='64')",
		"idx CREATE INDEX documents_metadata_gin ON public.documents USING gin (metadata)",
		"con documents_pkey PRIMARY KEY (id)",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("schema after up lacks %q:\n%s", want, first)
		}
	}
	if res := run("down", "3"); res.After.Version != -1 {
		t.Fatalf("down 3: %s", res)
	}
	// Only the history table is left (and the vector extension, which down keeps).
	got := schemaOf(t, c)
	rest := slices.DeleteFunc(strings.Split(got, "\n"), func(l string) bool { return strings.Contains(l, "schema_migrations") })
	if !strings.Contains(got, "col schema_migrations.version") || strings.Join(rest, "\n") != empty {
		t.Fatalf("after down 3:\n%s\nbefore up:\n%s", got, empty)
	}
	run("up")
	return first, schemaOf(t, c)
}

func TestRAGMigrationsDirectAndThroughVecgate(t *testing.T) {
	via := startVecgate(t)
	direct := pgtest.NewDB(t)
	proxied := pgtest.NewDB(t)

	d1, d2 := migrateUpDownUp(t, direct)
	if d1 != d2 {
		t.Fatalf("direct: up/down/up differs:\n%s\n---\n%s", d1, d2)
	}
	p1, p2 := migrateUpDownUp(t, via(proxied))
	if p1 != p2 {
		t.Fatalf("through vecgate: up/down/up differs:\n%s\n---\n%s", p1, p2)
	}
	if d1 != p1 {
		t.Fatalf("direct and through vecgate differ:\ndirect:\n%s\nthrough vecgate:\n%s", d1, p1)
	}

	// The same rows in both databases, written through the path under test.
	rows := ragRows(12)
	for _, dsn := range []string{direct, via(proxied)} {
		c := pgtest.Connect(t, dsn)
		for _, r := range rows {
			if _, err := c.Exec(ctxT(t), `INSERT INTO documents (content, metadata, embedding) VALUES ($1, $2, $3::vector)`,
				r.content, r.metadata, vecText(r.vec)); err != nil {
				t.Fatal(err)
			}
		}
	}

	q := ragRows(1)[0].vec
	const k = 5
	want := exactTopK(rows, q, k, "")
	wantEN := exactTopK(rows, q, k, "en")
	for _, tc := range []struct{ name, dsn string }{
		{"direct", direct}, {"through vecgate", via(proxied)}, {"direct to the proxied database", proxied},
	} {
		c := pgtest.Connect(t, tc.dsn)
		// Few rows: make Postgres use the HNSW index, so the example's index is what answers.
		if _, err := c.Exec(ctxT(t), `SET enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		lines, err := c.Query(ctxT(t), `EXPLAIN (COSTS OFF) SELECT id FROM documents ORDER BY embedding <=> $1::vector LIMIT 5`, vecText(q))
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(lines, pgx.RowTo[string])
		if err != nil || !strings.Contains(strings.Join(plan, "\n"), "documents_embedding_hnsw") {
			t.Errorf("%s: plan %q does not use the HNSW index (%v)", tc.name, plan, err)
		}
		got := topK(t, c, `SELECT id, embedding <=> $1::vector FROM documents ORDER BY embedding <=> $1::vector LIMIT $2`, vecText(q), k)
		if !slices.Equal(got, want) {
			t.Errorf("%s: top-%d ids %v, want %v", tc.name, k, got, want)
		}
		got = topK(t, c, `SELECT id, embedding <=> $1::vector FROM documents WHERE metadata @> '{"lang": "en"}'
			ORDER BY embedding <=> $1::vector LIMIT $2`, vecText(q), k)
		if !slices.Equal(got, wantEN) {
			t.Errorf("%s: filtered top-%d ids %v, want %v", tc.name, k, got, wantEN)
		}
	}
}

type ragRow struct {
	content, metadata string
	lang              string
	vec               []float32
}

// ragRows makes n documents with seeded 1536-d embeddings; ids are 1..n in insertion order.
func ragRows(n int) []ragRow {
	rng := rand.New(rand.NewPCG(7, 1536))
	out := make([]ragRow, n)
	for i := range out {
		v := make([]float32, 1536)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		lang := []string{"en", "de", "fr"}[i%3]
		out[i] = ragRow{
			content:  fmt.Sprintf("chunk %d of the handbook", i+1),
			metadata: fmt.Sprintf(`{"source": "handbook", "lang": %q, "page": %d}`, lang, i/4+1),
			lang:     lang,
			vec:      v,
		}
	}
	return out
}

func vecText(v []float32) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 32))
	}
	b.WriteByte(']')
	return b.String()
}

// exactTopK ranks rows by cosine distance to q (ties by id), keeping rows in lang when given.
func exactTopK(rows []ragRow, q []float32, k int, lang string) []int64 {
	type cand struct {
		id   int64
		dist float64
	}
	var cs []cand
	for i, r := range rows {
		if lang != "" && r.lang != lang {
			continue
		}
		var dot, nq, nr float64
		for j := range q {
			dot += float64(q[j]) * float64(r.vec[j])
			nq += float64(q[j]) * float64(q[j])
			nr += float64(r.vec[j]) * float64(r.vec[j])
		}
		cs = append(cs, cand{int64(i + 1), 1 - dot/math.Sqrt(nq*nr)})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.dist != b.dist {
			if a.dist < b.dist {
				return -1
			}
			return 1
		}
		return int(a.id - b.id)
	})
	ids := make([]int64, 0, k)
	for _, c := range cs[:min(k, len(cs))] {
		ids = append(ids, c.id)
	}
	return ids
}

func topK(t *testing.T, c *pgx.Conn, sql string, args ...any) []int64 {
	t.Helper()
	rows, err := c.Query(ctxT(t), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var d float64
		if err := rows.Scan(&id, &d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}
