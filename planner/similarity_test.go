package planner_test

import (
	"cmp"
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgdist"
	"github.com/vecgate/vecgate/internal/pgout"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/planner"
)

// vecIndex is an exact twin of 2-d rows whose searches return at most reach rows (a graph in
// pieces when reach is below the rows), holding the rows' vectors as given.
type vecIndex struct {
	rows     [][]float32
	reach    int
	complete bool
}

func (x *vecIndex) Search(_ context.Context, q []float32, k int, _ ann.SearchOptions) ([]ann.Result, error) {
	all := make([]ann.Result, len(x.rows))
	for i, r := range x.rows {
		all[i] = ann.Result{Key: ann.IntKey(int64(i)), Distance: pgdist.Cosine(q, r)}
	}
	slices.SortFunc(all, func(a, b ann.Result) int { return cmp.Compare(a.Distance, b.Distance) })
	return all[:min(k, x.reach, len(all))], nil
}
func (x *vecIndex) Dims() int      { return 2 }
func (x *vecIndex) Len() int       { return len(x.rows) }
func (x *vecIndex) Complete() bool { return x.complete }
func (x *vecIndex) Originals() bool {
	return true
}
func (x *vecIndex) Vector(k ann.Key) ([]float32, bool) {
	i, err := strconv.Atoi(k.String())
	return x.rows[i], err == nil
}

// TestThresholdAnswers: a similarity threshold that keeps fewer rows than the LIMIT is answered
// from memory only when that is provably every passing row: a candidate that fails lies inside
// the candidates, and the index holds every row of the table. A search that returned only
// passing rows (a graph in pieces) proves nothing.
func TestThresholdAnswers(t *testing.T) {
	ctx := context.Background()
	c := pgtest.Connect(t, pgtest.NewDB(t))
	cal, err := pgdist.Calibrate(ctx, func(ctx context.Context, sql string, dest ...any) error {
		return c.QueryRow(ctx, sql).Scan(dest...)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cal.Exact("<=>") {
		t.Skipf("this server's cosine distances are not reproduced (%s)", cal)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float32, 1000)
	for i := range rows {
		rows[i] = []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64())}
	}
	q := []float32{1, 2}
	const threshold = 0.9995
	passing := 0
	for _, r := range rows {
		if 1-pgdist.Cosine(q, r) > threshold {
			passing++
		}
	}
	if passing < 3 || passing > 40 {
		t.Fatalf("%d rows pass: the test wants a few", passing)
	}
	answer := func(ix *vecIndex) ([][][]byte, error) {
		p := planner.New(oneIndex{planner.Target{Index: ix, Key: "id", KeyType: "bigint", Name: "hnsw", Kind: "hnsw", Exact: true}})
		p.SetDistances(func() *pgdist.Calibration { return cal })
		qy, err := p.PlanSimple(`SELECT id, 1 - (emb <=> '[1,2]') FROM items WHERE 1 - (emb <=> '[1,2]') > `+
			strconv.FormatFloat(threshold, 'g', -1, 64)+` ORDER BY emb <=> '[1,2]' LIMIT 50`, planner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		outs, ok := qy.Fast()
		if !ok {
			t.Fatal("not answerable from memory")
		}
		return qy.Answer(ctx, outs, nil)
	}
	got, err := answer(&vecIndex{rows: rows, reach: len(rows), complete: true})
	if err != nil || len(got) != passing {
		t.Fatalf("whole graph: %d rows (%v), want the %d passing", len(got), err, passing)
	}
	for _, r := range got {
		if s, _ := strconv.ParseFloat(string(r[1]), 64); !(s > threshold) {
			t.Errorf("row %s: similarity %s does not pass", r[0], r[1])
		}
	}
	if got, err := answer(&vecIndex{rows: rows, reach: passing, complete: true}); err == nil {
		t.Errorf("graph in pieces, every candidate passing: answered %d rows from memory", len(got))
	}
	if got, err := answer(&vecIndex{rows: rows, reach: len(rows), complete: false}); err == nil {
		t.Errorf("rows the index lacks: answered %d rows from memory", len(got))
	}
}

// heldIndex is vecIndex with held values: column cat (int4) = row number % 7; it records the
// ef of each search.
type heldIndex struct {
	vecIndex
	efs []int
}

func (x *heldIndex) Search(ctx context.Context, q []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	x.efs = append(x.efs, opts.EF)
	res, err := x.vecIndex.Search(ctx, q, len(x.rows), opts)
	var out []ann.Result
	for _, r := range res {
		if opts.Filter == nil || opts.Filter(r.Key) {
			out = append(out, r)
		}
	}
	return out[:min(k, len(out))], err
}
func (x *heldIndex) HeldColumn(name string) (pgout.Column, bool) {
	return pgout.Column{Pos: 0, Type: "integer", Family: pgout.Int4, Compared: true}, name == "cat"
}
func (x *heldIndex) HeldValues(k ann.Key, pos []int) ([]pgout.Value, bool) {
	i, _ := strconv.Atoi(k.String())
	out := make([]pgout.Value, len(pos))
	for j := range pos {
		out[j] = pgout.Value{V: []byte(strconv.Itoa(i % 7)), Text: true}
	}
	return out, true
}
func (x *heldIndex) TableColumns() []string { return []string{"id", "emb", "cat"} }

// TestHeldFilterScansWhenCheap: a held filter over a twin whose scan is cheap (few values per
// row) or whose LIMIT is deep scans every row, exact, instead of walking the graph, even past
// HeldScanRows rows.
func TestHeldFilterScansWhenCheap(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rows := make([][]float32, planner.HeldScanRows+5000)
	for i := range rows {
		rows[i] = []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64())}
	}
	ix := &heldIndex{vecIndex: vecIndex{rows: rows, reach: len(rows), complete: true}}
	p := planner.New(oneIndex{planner.Target{Index: ix, Key: "id", KeyType: "bigint", Name: "hnsw", Kind: "hnsw", Exact: true}})
	q, err := p.PlanSimple(`SELECT id FROM items WHERE cat IN (1, 2, 5) ORDER BY emb <-> '[1,2]' LIMIT 20`, planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	outs, ok := q.Fast()
	if !ok {
		t.Fatal("not answerable from memory")
	}
	if _, err := q.Answer(context.Background(), outs, nil); err != nil {
		t.Fatal(err)
	}
	if len(ix.efs) == 0 || ix.efs[0] <= len(rows) {
		t.Errorf("searched with ef %v over %d rows of 2 dimensions: want a scan (ef past the rows)", ix.efs, len(rows))
	}
}
