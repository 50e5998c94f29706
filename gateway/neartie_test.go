package gateway

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestNearTieNotOrderedFromMemory: two rows whose distances differ by less than vecgate's own
// float32 sums can tell apart (1.2e-7 relative) get Postgres' order: the differential tester saw
// a cosine near-tie answered from memory in vecgate's order. With L2 distances computed as this
// server computes them (internal/pgdist, calibrated at the first answer) vecgate orders them
// itself, from memory, as Postgres does; without (cosine, or another pgvector build) such
// statements go through Postgres (planner.NearTie), which the differential tester and
// TestRewriteCutPastNearTies cover.
func TestNearTieNotOrderedFromMemory(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	runAll(t, c,
		`CREATE TABLE pts (id int PRIMARY KEY, emb vector(2))`,
		`INSERT INTO pts VALUES (1, '[1,0]'), (2, '[0,1.0000001]')`,
		`INSERT INTO pts SELECT g, ARRAY[10 + g, 10]::vector FROM generate_series(3, 200) g`,
		`CREATE INDEX ON pts USING hnsw (emb vector_l2_ops)`)
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
	waitLen(t, g, "pts", ann.L2, 200)
	via, exact := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	runAll(t, exact, `SET enable_indexscan = off`)
	run := func(q string) (fast bool) {
		t.Helper()
		before, intercepted := g.Stats().FastPath, g.Stats().Intercepted
		got, want := textRows(t, via, q), textRows(t, exact, q)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: through vecgate %v, directly %v", q, got, want)
		}
		if g.Stats().Intercepted == intercepted {
			t.Fatalf("%s: not intercepted", q)
		}
		return g.Stats().FastPath > before
	}
	clear := `SELECT id, emb <-> '[0.5,0]' FROM pts ORDER BY emb <-> '[0.5,0]' LIMIT 1`
	run(clear) // learns the description
	if !run(clear) {
		t.Fatal("a query without a near tie was not answered from memory: the test proves nothing")
	}
	for _, q := range []string{
		`SELECT id, emb <-> '[0,0]' FROM pts ORDER BY emb <-> '[0,0]' LIMIT 1`, // the cut between them
		`SELECT id, emb <-> '[0,0]' FROM pts ORDER BY emb <-> '[0,0]' LIMIT 2`, // their order
	} {
		run(q)
		if !run(q) {
			t.Errorf("%s: near-tied rows not answered from memory, though vecgate computes Postgres' distances", q)
		}
	}
}

// TestRewriteCutPastNearTies: collinear vectors [c,0,0] are all at the same cosine distance from
// a query in exact arithmetic; pgvector's float32 sums and the twin's (in another order) differ
// among them in the last bits, so the twin's nearest few of the group need not be Postgres'. The
// rewrite's candidate list must hold the whole near-tied group (the reviewer saw rows strictly
// farther by Postgres' own distances returned, nearer ones left out): through vecgate, every
// query gives Postgres' exact answer — the same distances, and the same rows but among rows at
// exactly the last distance, where any is Postgres' answer too — and is intercepted. The same
// statement projecting only ids may be answered from memory (not near-tied): its rows are
// compared with Postgres' distances for them.
func TestRewriteCutPastNearTies(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	runAll(t, c,
		`CREATE TABLE pts (id int PRIMARY KEY, emb vector(3))`,
		// 40 collinear rows along +x, 560 others on the -x side (farther from every query).
		`INSERT INTO pts SELECT g, ARRAY[0.05 + g * 0.173, 0, 0]::vector FROM generate_series(1, 40) g`,
		`INSERT INTO pts SELECT g, ARRAY[-2 - random(), random() * 0.4 - 0.2, random() * 0.4 - 0.2]::vector
			FROM (SELECT setseed(0.3)) s, generate_series(41, 600) g`,
		`CREATE INDEX ON pts USING hnsw (emb vector_cosine_ops)`)
	g := startTestGateway(t, dsn, Config{Intercept: true, SlotName: fmt.Sprintf("t%d", rand.Uint32())})
	waitLen(t, g, "pts", ann.Cosine, 600)
	via, exact := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	runAll(t, exact, `SET enable_indexscan = off`)
	rng := rand.New(rand.NewPCG(5, 17))
	coord := func(lo, hi float64) float64 {
		u := lo + (hi-lo)*rng.Float64()
		if rng.IntN(2) == 0 {
			u = -u
		}
		return u
	}
	// Postgres' own distance of each row vecgate returned.
	own := func(v string, ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = id + "|" + textRows(t, exact, fmt.Sprintf(`SELECT emb <=> '%s' FROM pts WHERE id = %s`, v, id))[0]
		}
		return out
	}
	bad := 0
	for i := range 120 {
		// Even: the group at cosine distances from about 0.2 up; odd: near the x axis, from
		// about 1e-5 to 3e-3 (small distances, where the sums' differences weigh most).
		v := fmt.Sprintf("[%.4f,%.4f,%.4f]", 0.3+rng.Float64(), coord(0.5, 2), coord(0.5, 2))
		if i%2 == 1 {
			v = fmt.Sprintf("[1,%.4f,%.4f]", coord(0.002, 0.04), coord(0.002, 0.04))
		}
		const withDist = `SELECT id, emb <=> '%s' AS d FROM pts ORDER BY emb <=> '%s' LIMIT 5`
		const idsOnly = `SELECT id FROM pts ORDER BY emb <=> '%s' LIMIT 5`
		want := textRows(t, exact, fmt.Sprintf(withDist, v, v))
		for _, q := range []string{fmt.Sprintf(withDist, v, v), fmt.Sprintf(idsOnly, v)} {
			before, fast := g.Stats().Intercepted, g.Stats().FastPath
			got := textRows(t, via, q)
			if g.Stats().Intercepted != before+1 {
				t.Fatalf("query %d (%s) was not intercepted", i, q)
			}
			if strings.HasPrefix(q, "SELECT id FROM") {
				got = own(v, got)
			} else if g.Stats().FastPath != fast {
				// The fast path leaves near ties to Postgres; it would print its own distances.
				t.Fatalf("query %d (%s) was answered from memory: the near-tied group is not on top (%v; Postgres %v)", i, q, got, want)
			}
			if !sameUpToLastTies(got, want) {
				bad++
				t.Errorf("query %d (%s): through vecgate %v, Postgres %v", i, q, got, want)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of 240 queries answered otherwise than Postgres", bad)
	}
}

// sameUpToLastTies compares rows "id|distance": the same distances in the same order, and the
// same ids for every distance but the last one's (rows tied exactly at the last distance are
// any of them, in Postgres too).
func sameUpToLastTies(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	split := func(rows []string) (ids, ds []string) {
		for _, r := range rows {
			id, d, _ := strings.Cut(r, "|")
			ids, ds = append(ids, id), append(ds, d)
		}
		return ids, ds
	}
	gi, gd := split(got)
	wi, wd := split(want)
	if !slices.Equal(gd, wd) {
		return false
	}
	if len(wd) == 0 {
		return true
	}
	last := wd[len(wd)-1]
	// Ids grouped by distance, each group sorted (Postgres orders exact ties arbitrarily).
	group := func(ids, ds []string) map[string][]string {
		m := map[string][]string{}
		for i := range ids {
			if ds[i] != last {
				m[ds[i]] = append(m[ds[i]], ids[i])
			}
		}
		for _, v := range m {
			slices.Sort(v)
		}
		return m
	}
	gg, wg := group(gi, gd), group(wi, wd)
	if len(gg) != len(wg) {
		return false
	}
	for d, ids := range wg {
		if !slices.Equal(ids, gg[d]) {
			return false
		}
	}
	return true
}
