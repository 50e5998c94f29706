package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestHammingBits: bit columns with bit_hamming_ops indexes (HNSW and IVFFlat) and vector
// columns with a (binary_quantize(col)::bit(n)) index get Hamming twins. vecgate answers
// `ORDER BY b <~> q LIMIT k` (bit literals and text parameters, binary_quantize of a vector)
// with Postgres' rows and distances — Hamming distances tie everywhere, and the tied rows at
// the LIMIT are Postgres' pick among the candidates, which hold every row tied with the last —
// always through Postgres, never from memory; pgvector's rerank wrapper over the
// binary_quantize index is rewritten in place. Jaccard (`<%>`) and DESC are forwarded.
func TestHammingBits(t *testing.T) {
	const rows = 1200
	dsn, g := tableGateway(t, 3*rows,
		`CREATE TABLE bt (id int PRIMARY KEY, cat int, b bit(64))`,
		// 30 clusters of codes a few bits apart: nearest rows are clear, ties common.
		`INSERT INTO bt SELECT g, g % 7, (SELECT string_agg(CASE WHEN (hashint4(g % 30 * 1000 + i) # CASE WHEN random() < 0.06 THEN 1 ELSE 0 END) & 1 = 1 THEN '1' ELSE '0' END, '' ORDER BY i)
			FROM generate_series(1, 64) i WHERE g > 0)::bit(64) FROM (SELECT setseed(0.5)) s, generate_series(1, 1200) g`,
		`CREATE INDEX ON bt USING hnsw (b bit_hamming_ops)`,
		`CREATE INDEX ON bt USING hnsw (b bit_jaccard_ops)`,
		`CREATE TABLE bi (id int PRIMARY KEY, cat int, b bit(64))`,
		`INSERT INTO bi SELECT * FROM bt`,
		`CREATE INDEX ON bi USING ivfflat (b bit_hamming_ops) WITH (lists = 10)`,
		`CREATE TABLE bq (id int PRIMARY KEY, emb vector(128))`,
		// 30 clusters of 40 rows: each row a cluster's signs with a tenth of them flipped.
		`INSERT INTO bq SELECT g, (SELECT array_agg(CASE WHEN (hashint4(g % 30 * 1000 + i) & 1 = 1) <> (random() < 0.1) THEN 1 ELSE -1 END * (0.2 + random()))
			FROM generate_series(1, 128) i WHERE g > 0)::vector(128) FROM (SELECT setseed(0.25)) s, generate_series(1, 1200) g`,
		`CREATE INDEX ON bq USING hnsw ((binary_quantize(emb)::bit(128)) bit_hamming_ops)`)
	via, direct := exactPair(t, dsn, g, 400)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	code := func() string { // a row's code with a few bits flipped
		var s string
		if err := direct.QueryRow(ctx, `SELECT b::text FROM bt WHERE id = $1`, 1+rng.IntN(rows)).Scan(&s); err != nil {
			t.Fatal(err)
		}
		b := []byte(s)
		for range rng.IntN(4) {
			i := rng.IntN(len(b))
			b[i] ^= 1 // '0' <-> '1'
		}
		return string(b)
	}
	vector := func() string { // a row's vector, moved a little
		var v []float32
		if err := direct.QueryRow(ctx, `SELECT emb::real[] FROM bq WHERE id = $1`, 1+rng.IntN(rows)).Scan(&v); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprintf("%.5f", float64(x)+rng.Float64()*0.2-0.1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	compareTypeCases(t, g, via, direct, tiesInOrder, []typeCase{
		{`SELECT id, b <~> $1 AS d FROM bt ORDER BY b <~> $1 LIMIT 10`, code, true, false},
		{`SELECT id, b <~> $1::bit(64) AS d FROM bi ORDER BY b <~> $1::bit(64) LIMIT 25`, code, true, false},
		{`SELECT id, b <~> $1 AS d FROM bt WHERE cat = 3 ORDER BY b <~> $1 LIMIT 10`, code, true, false},
		{`SELECT id, d FROM (SELECT id, b <~> $1 AS d FROM bt ORDER BY 2 LIMIT 15) x`, code, true, false},
		{`SELECT id, binary_quantize(emb)::bit(128) <~> binary_quantize($1::vector) AS d FROM bq ORDER BY binary_quantize(emb)::bit(128) <~> binary_quantize($1::vector) LIMIT 10`, vector, true, false},
		{`SELECT id, b <%> $1 AS d FROM bt ORDER BY b <%> $1 LIMIT 10`, code, false, false},
		{`SELECT id, b <~> $1 AS d FROM bt ORDER BY b <~> $1 DESC LIMIT 10`, code, false, false},
		{`SELECT id, b <~> $1 AS d FROM bt WHERE b <~> $1 < 3 ORDER BY b <~> $1 LIMIT 10`, code, false, false},
		{`SELECT id FROM bt ORDER BY b <~> $1 LIMIT 10`, code, true, false},
	})
	// Literals: B'…', X'…' and a bit string, a cast of another length (padded: forwarded).
	q0 := code()
	for _, lit := range []string{"'" + q0 + "'", "B'" + q0 + "'", fmt.Sprintf("X'%016X'", bitsValue(q0)), "'" + q0[:60] + "'::bit(64)"} {
		q := `SELECT id, b <~> ` + lit + ` AS d FROM bt ORDER BY b <~> ` + lit + ` LIMIT 12`
		before := g.Stats().Intercepted
		got, want := tiesInOrder(answer(t, via, pgx.QueryExecModeSimpleProtocol, q)), tiesInOrder(answer(t, direct, pgx.QueryExecModeSimpleProtocol, q))
		if got != want {
			t.Fatalf("%s:\nthrough vecgate:\n%sdirectly:\n%s", q, got, want)
		}
		if n := g.Stats().Intercepted - before; (n == 1) != !strings.HasSuffix(lit, "::bit(64)") {
			t.Errorf("%s: intercepted %d", q, n)
		}
	}
	// pgvector's rerank: the nearest 40 codes (a cluster's rows), then the nearest 5 by the
	// vectors. Where the 40th code ties with the 41st, either pick is Postgres' answer: compared
	// where it does not.
	rerank := `SELECT id, d FROM (SELECT id, emb <=> $1::vector AS d FROM bq ORDER BY binary_quantize(emb)::bit(128) <~> binary_quantize($1::vector) LIMIT 40) c ORDER BY d LIMIT 5`
	compared, before := 0, g.Stats().Intercepted
	for range 20 {
		v := vector()
		var d40, d41 float64
		if err := direct.QueryRow(ctx, `SELECT (array_agg(d ORDER BY d))[40], (array_agg(d ORDER BY d))[41] FROM (SELECT binary_quantize(emb)::bit(128) <~> binary_quantize($1::vector) AS d FROM bq) x`, v).Scan(&d40, &d41); err != nil {
			t.Fatal(err)
		}
		got, want := answer(t, via, pgx.QueryExecModeSimpleProtocol, rerank, v), answer(t, direct, pgx.QueryExecModeSimpleProtocol, rerank, v)
		if d40 == d41 {
			continue
		}
		compared++
		if got != want {
			t.Fatalf("rerank %s:\nthrough vecgate:\n%sdirectly:\n%s", v, got, want)
		}
	}
	if n := g.Stats().Intercepted - before; n != 20 || compared < 5 {
		t.Errorf("rerank: %d of 20 intercepted, %d compared", n, compared)
	}
}

func bitsValue(s string) uint64 {
	var v uint64
	for _, c := range s {
		v = v<<1 | uint64(c-'0')
	}
	return v
}
