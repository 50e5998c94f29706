package gateway

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestTextQueryVectors: a query vector written as text — a literal in the statement, or a
// text-format parameter — in any spelling pgvector accepts (spaces, signs, exponents, hex
// floats, digits beyond float32's, underflow to zero) is answered by vecgate with Postgres' rows
// in Postgres' order; one pgvector rejects is forwarded and gets Postgres' own error.
func TestTextQueryVectors(t *testing.T) {
	dsn, g := tableGateway(t, 300,
		`CREATE TABLE tv (id int PRIMARY KEY, emb vector(3))`,
		`INSERT INTO tv SELECT g, ARRAY[sin(g), cos(g), sin(g * 0.37)]::vector(3) FROM generate_series(1, 300) g`,
		`CREATE INDEX ON tv USING hnsw (emb vector_l2_ops)`)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	mustExec(t, direct, "SET enable_indexscan = off") // the exact order, as vecgate's
	for _, c := range []struct {
		text        string
		intercepted bool
	}{
		{"[0.5,-0.25,1]", true},
		{" [ 5e-1 ,\t-.25 , 1.0 ]\n", true},
		{"[+0.5,-25E-2,1e0]", true},
		{"[0x1p-1,-0x1p-2,0x1p0]", true},
		{"[0.50000000000000000000000001,-0.2500000000000000000001,1.00000005960464477540]", true},
		{"[0.012345678901234567,-0.98765432109876543,0.5]", true},
		{"[0.5,-0,1e-50]", true},
		{"[0.5,-0.25", false},
		{"[0.5,-0.25,1]x", false},
		{"0.5,-0.25,1", false},
		{"[]", false},
		{"[0.5,,1]", false},
		{"[nan,0,1]", false},
		{"[0,-Infinity,1]", false},
		{"[1e39,0,1]", false},
		{"[0x1p200,0,1]", false},
		{"[0.5,1]", false}, // Postgres: different vector dimensions
	} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
			q := `SELECT id FROM tv ORDER BY emb <-> $1 LIMIT 7`
			var args []any
			if mode == pgx.QueryExecModeSimpleProtocol {
				q = strings.ReplaceAll(q, "$1", "'"+c.text+"'")
			} else {
				args = []any{c.text}
			}
			before := g.Stats()
			got, want := answer(t, via, mode, q, args...), answer(t, direct, mode, q, args...)
			if got != want {
				t.Fatalf("%q (%v):\nthrough vecgate:\n%sdirectly:\n%s", c.text, mode, got, want)
			}
			if after := g.Stats(); (after.Intercepted > before.Intercepted) != c.intercepted {
				t.Errorf("%q (%v): intercepted %v, want %v (%v)", c.text, mode, !c.intercepted, c.intercepted, statsMoved(before, after))
			}
		}
	}
}
