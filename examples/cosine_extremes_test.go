package examples_test

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
)

// TestCosineDistancesOfExtremeQueryVectors: found by the framework suite's exploration (issue
// 17). pgvector computes a cosine distance from float32 sums (the dot product and both squared
// norms) and returns 1 - dot / sqrt(norm_a * norm_b), clamped to [0, 2]. For a query vector whose
// float32 squared norm overflows (components above about 1.8e19), every distance is exactly 1;
// when it underflows to 0 (components below about 1e-23), every distance is 0 (2 for rows pointing
// away); when it is subnormal (components near 1e-20), the distances lose about five digits.
// vecgate, answering from memory, prints cosine distances computed again in float64 (commit
// "fast path: cosine distances printed from memory are computed again in float64"): the true
// distances, which Postgres would not print (0.517 where Postgres prints 1 or 0, 9e-6 relative off
// near 1e-20). Rows are not at stake (every distance ties where the values differ most); the
// printed distances are. The scale-1 control must pass today.
func TestCosineDistancesOfExtremeQueryVectors(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := context.Background()
	const dims, rows = 16, 60
	c := pgtest.Connect(t, dsn)
	if _, err := c.Exec(ctx, fmt.Sprintf(`CREATE TABLE docs (id int PRIMARY KEY, content text, emb vector(%d));
		CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops)`, dims)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(17, 4))
	unit := func() []float64 {
		v := make([]float64, dims)
		var n float64
		for i := range v {
			v[i] = rng.NormFloat64()
			n += v[i] * v[i]
		}
		for i := range v {
			v[i] /= math.Sqrt(n)
		}
		return v
	}
	text := func(v []float64, scale float64) string {
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatFloat(float64(float32(x*scale)), 'g', -1, 32)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	for i := range rows {
		if _, err := c.Exec(ctx, `INSERT INTO docs VALUES ($1, $2, $3::vector)`, i, fmt.Sprintf("doc %d", i), text(unit(), 1)); err != nil {
			t.Fatal(err)
		}
	}
	g := startGateway(t, dsn)
	waitTwin(t, g, "docs", rows)
	via := pgtest.Connect(t, viaGateway(t, dsn, g))
	q := unit()

	check := func(t *testing.T, scale float64) {
		qt := text(q, scale)
		before := g.Stats().FastPath
		for range 3 { // the first run of the shape in a session is rewritten: vecgate learns its description
			rs, err := via.Query(ctx, `SELECT id, emb <=> $1 AS distance FROM docs ORDER BY distance LIMIT 5`, qt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rs, pgx.RowToStructByPos[struct {
				ID       int
				Distance float64
			}])
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range got {
				var want float64
				if err := c.QueryRow(ctx, `SELECT emb <=> $1 FROM docs WHERE id = $2`, qt, r.ID).Scan(&want); err != nil {
					t.Fatal(err)
				}
				if r.Distance != want {
					t.Fatalf("query scaled by %g: row %d: vecgate printed distance %v, Postgres computes %v", scale, r.ID, r.Distance, want)
				}
			}
		}
		if g.Stats().FastPath == before && scale == 1 {
			t.Fatalf("query scaled by %g: never answered from memory: the test tests nothing", scale)
		}
	}
	t.Run("control", func(t *testing.T) { check(t, 1) })
	for _, scale := range []float64{1e20, 1e-20, 1e-23} {
		t.Run(fmt.Sprintf("scale %g", scale), func(t *testing.T) {
			check(t, scale)
		})
	}
}
