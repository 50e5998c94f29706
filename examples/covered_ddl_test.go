package examples_test

import (
	"context"
	"errors"
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
)

// Found by the framework suite's exploration (issue 17): covering twins publish every column of
// a followed table (the publication's column list), and Postgres refuses to retype or drop a
// column in a publication's column list. A framework migration that retypes or drops the
// content or metadata column then fails (SQLSTATE 0A000, or 2BP01 for DROP COLUMN with the
// hint "Use DROP ... CASCADE"); with CASCADE, Postgres takes the table out of vecgate's
// publication, vecgate does not notice (the twin stays "ready", its applied position keeps
// moving), and it answers from the frozen twin: wrong rows and stale content, from memory and
// through the id-list rewrite alike.

// coveredTable creates docs (id, content, metadata, a 16-d vector with a cosine HNSW index) with
// rows random unit vectors, starts vecgate in front of its database and waits for the twin.
func coveredTable(t *testing.T, rows int) (dsn, via string, q string) {
	t.Helper()
	dsn = pgtest.NewDB(t)
	ctx := context.Background()
	c := pgtest.Connect(t, dsn)
	if _, err := c.Exec(ctx, `CREATE TABLE docs (id int PRIMARY KEY, content text, metadata jsonb, emb vector(16));
		CREATE INDEX ON docs USING hnsw (emb vector_cosine_ops)`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 9))
	unit := func() string {
		v := make([]float64, 16)
		var n float64
		for i := range v {
			v[i] = rng.NormFloat64()
			n += v[i] * v[i]
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatFloat(x/math.Sqrt(n), 'g', 7, 64)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	for i := range rows {
		if _, err := c.Exec(ctx, `INSERT INTO docs VALUES ($1, $2, $3, $4::vector)`,
			i, fmt.Sprintf("doc %d", i), fmt.Sprintf(`{"source": "file%d.md"}`, i%5), unit()); err != nil {
			t.Fatal(err)
		}
	}
	g := startGateway(t, dsn)
	waitTwin(t, g, "docs", rows)
	return dsn, viaGateway(t, dsn, g), unit()
}

// TestCoveredColumnsCanBeRetypedAndDropped: the migrations a framework runs on its table work
// with vecgate following it as they do without.
func TestCoveredColumnsCanBeRetypedAndDropped(t *testing.T) {
	dsn, _, _ := coveredTable(t, 20)
	c := pgtest.Connect(t, dsn)
	for _, ddl := range []string{
		`ALTER TABLE docs ALTER content TYPE varchar(200)`,
		`ALTER TABLE docs DROP COLUMN metadata`,
	} {
		if _, err := c.Exec(context.Background(), ddl); err != nil {
			var pe *pgconn.PgError
			errors.As(err, &pe)
			t.Errorf("%s: %v (detail: %s)", ddl, err, pe.Detail)
		}
	}
}

// TestDropColumnCascadeKeepsTwinFresh: after DROP COLUMN ... CASCADE (Postgres' hint when the
// plain DROP COLUMN fails), a row moved away through vecgate must not be answered at its old
// place. The control, without the DDL, passes today.
func TestDropColumnCascadeKeepsTwinFresh(t *testing.T) {
	t.Run("control", func(t *testing.T) { movedRowLeaves(t, "") })
	t.Run("cascade", func(t *testing.T) {
		movedRowLeaves(t, `ALTER TABLE docs DROP COLUMN metadata CASCADE`)
	})
}

// movedRowLeaves runs ddl (if any) directly, moves the best match of a query to the opposite
// direction through vecgate, and requires vecgate's answer to become Postgres' within 10 s.
func movedRowLeaves(t *testing.T, ddl string) {
	dsn, via, q := coveredTable(t, 60)
	ctx := context.Background()
	direct := pgtest.Connect(t, dsn)
	if ddl != "" {
		if _, err := direct.Exec(ctx, ddl); err != nil {
			t.Fatal(err)
		}
	}
	const sql = `SELECT id, content, emb <=> $1 AS distance FROM docs ORDER BY distance LIMIT 3`
	answer := func(c *pgx.Conn) []string {
		rows, err := c.Query(ctx, sql, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			var id int
			var content string
			var d float64
			err := r.Scan(&id, &content, &d)
			return fmt.Sprintf("%d %s %.5f", id, content, d), err
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := answer(direct)
	top, _, _ := strings.Cut(before[0], " ")
	v := pgtest.Connect(t, via)
	if _, err := v.Exec(ctx, `UPDATE docs SET content = 'moved away', emb = (SELECT array_agg(-x)::vector FROM unnest($1::vector::real[]) x) WHERE id = $2`, q, top); err != nil {
		t.Fatal(err)
	}
	want := answer(direct)
	var got []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = answer(v); slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("through vecgate, 10 s after moving row %s away (before: %q):\n%q\nPostgres:\n%q", top, before, got, want)
}
