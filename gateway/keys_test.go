package gateway

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// keyedQueries are the statements TestCompositeKeys and TestPartitionedParent ask of table tb
// (columns a, b, note, emb vector(4)): the rewrite (a projection Postgres computes, a filter),
// and what vecgate may answer from memory.
func keyedQueries(tb string) []string {
	return []string{
		`SELECT a, b, note, emb <-> $1 AS d FROM ` + tb + ` ORDER BY emb <-> $1 LIMIT 7`,
		`SELECT upper(note), b FROM ` + tb + ` ORDER BY emb <-> $1 LIMIT 5`,
		`SELECT a, b FROM ` + tb + ` WHERE note LIKE 'n1%' ORDER BY emb <-> $1 LIMIT 6`,
		`SELECT * FROM ` + tb + ` t WHERE t.note <> 'n2' ORDER BY t.emb <-> $1 LIMIT 4 OFFSET 2`,
		`SELECT a, b FROM ` + tb + ` ORDER BY emb <=> $1 LIMIT 3`,
		`SELECT * FROM (SELECT a, b, note FROM ` + tb + ` ORDER BY emb <-> $1 LIMIT 5) s ORDER BY note`,
	}
}

// sameThroughVecgate runs each query through vecgate and directly, in both protocols, for a few
// query vectors, and fails on any difference or any statement vecgate forwarded. It returns how
// many of the first query's answers came from memory.
func sameThroughVecgate(t *testing.T, g *Gateway, via, direct *pgx.Conn, queries []string, rng *rand.Rand) (fast int64) {
	t.Helper()
	for i, q := range queries {
		for range 3 {
			vec := fmt.Sprintf("[%.3f,%.3f,%.3f,%.3f]", rng.Float64()*2-1, rng.Float64()*2-1, rng.Float64()*2-1, rng.Float64()*2-1)
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
				before := g.Stats()
				got := answer(t, via, mode, q, vec)
				moved := statsMoved(before, g.Stats())
				if want := answer(t, direct, mode, q, vec); got != want {
					t.Errorf("%s (%s, mode %v): WRONG ANSWER\nthrough vecgate:\n%s\ndirectly:\n%s", q, vec, mode, got, want)
				}
				if len(moved) != 1 || moved[0] != "intercept+1" {
					t.Errorf("%s (mode %v): counters moved %v, want intercept+1", q, mode, moved)
				}
				if i == 0 {
					fast += g.Stats().FastPath - before.FastPath
				}
			}
		}
	}
	return fast
}

// TestCompositeKeys: tables whose primary key has two columns (integer and bigint, varchar and
// uuid, text and smallint) and a single varchar key are intercepted and answer as Postgres does,
// in both protocols, through writes that change the key; EXPLAIN shows the candidate semi-join
// planned onto the primary key's btree.
func TestCompositeKeys(t *testing.T) {
	tables := map[string]string{
		"ck_int":  `a int, b bigint`,
		"ck_uuid": `a varchar(8), b uuid`,
		"ck_text": `a text, b smallint`,
		"ck_one":  `a varchar(12), b int`,
	}
	values := map[string]string{
		"ck_int":  `g % 4, g * 10`,
		"ck_uuid": `'t' || (g % 3), ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid`,
		"ck_text": `'k"\' || (g % 5) || ',x', (g / 5)::smallint`,
		"ck_one":  `'v' || g, g`,
	}
	moveKey := map[string]string{"ck_int": "b = b + 100000", "ck_uuid": "a = 'u' || a", "ck_text": "b = b + 1000", "ck_one": "a = a || 'm'"}
	newKey := map[string]string{"ck_int": "a, b + 2000", "ck_uuid": "'w' || a, b", "ck_text": "a || 'w', b", "ck_one": "a || 'w', b"}
	var setup []string
	for tb, cols := range tables {
		pk := "PRIMARY KEY (a, b)"
		if tb == "ck_one" {
			pk = "PRIMARY KEY (a)"
		}
		setup = append(setup,
			fmt.Sprintf(`CREATE TABLE %s (%s, note text, emb vector(4), %s)`, tb, cols, pk),
			fmt.Sprintf(`INSERT INTO %s SELECT %s, 'n' || g, ARRAY[sin(g), cos(g * 1.3), sin(g * 0.7), cos(g * 2.1)]::vector FROM generate_series(1, 150) g`, tb, values[tb]),
			fmt.Sprintf(`CREATE INDEX ON %s USING hnsw (emb vector_l2_ops)`, tb),
			fmt.Sprintf(`CREATE INDEX ON %s USING hnsw (emb vector_cosine_ops)`, tb))
	}
	dsn, g := tableGateway(t, 600, setup...)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	rng := rand.New(rand.NewPCG(7, 8))
	for tb := range tables {
		t.Run(tb, func(t *testing.T) {
			if fast := sameThroughVecgate(t, g, via, direct, keyedQueries(tb), rng); fast == 0 {
				t.Errorf("%s: none of the answers to %s came from memory", tb, keyedQueries(tb)[0])
			}
			// Writes through vecgate: an update that moves rows to other keys, a delete, an
			// insert; then the same answers.
			mustExec(t, via, `UPDATE `+tb+` SET `+moveKey[tb]+` WHERE note IN ('n3', 'n4', 'n5')`)
			mustExec(t, via, `DELETE FROM `+tb+` WHERE note IN ('n6', 'n7')`)
			mustExec(t, via, `INSERT INTO `+tb+` SELECT `+newKey[tb]+`, note || 'x', ARRAY[cos(ascii(right(note, 1))), sin(ascii(right(note, 1))), 0.5, 0.25]::vector FROM `+tb+` WHERE note IN ('n8', 'n9')`)
			sameThroughVecgate(t, g, via, direct, keyedQueries(tb)[:2], rng)
		})
	}
	// The semi-join runs on the key's btree: EXPLAIN of the rewrite (placeholder keys).
	mustExec(t, via, `SET enable_seqscan = off`) // 150 rows: a scan is cheaper
	plan := simpleLines(t, via, `EXPLAIN SELECT a, b, note FROM ck_int ORDER BY emb <-> '[1,2,3,4]' LIMIT 5`)
	if !strings.Contains(plan, "jsonb_to_recordset") || !strings.Contains(plan, "ck_int_pkey") {
		t.Errorf("EXPLAIN through vecgate does not show the candidates joined through the primary key:\n%s", plan)
	}
}
