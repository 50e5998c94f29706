package planner_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/planner"
)

// fakeIVF holds perList rows in each of lists lists and returns at most k of the rows of the
// lists a search probes, recording the probes asked for.
type fakeIVF struct {
	lists, perList int
	untrained      bool // every search returns every row (up to k), whatever its probes
	probes         []int
}

func (f *fakeIVF) Search(_ context.Context, _ []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	f.probes = append(f.probes, opts.Probes)
	n := min(k, min(opts.Probes, f.lists)*f.perList)
	if f.untrained {
		n = min(k, f.Len())
	}
	out := make([]ann.Result, n)
	for i := range out {
		out[i] = ann.Result{Key: ann.IntKey(int64(i)), Distance: float64(i)}
	}
	return out, nil
}
func (f *fakeIVF) Dims() int { return 2 }
func (f *fakeIVF) Len() int  { return f.lists * f.perList }

// Complete: the fake holds every row of its table.
func (f *fakeIVF) Complete() bool { return true }

type oneIndex struct{ t planner.Target }

func (o oneIndex) Find(string, string, string, ann.Metric) (planner.Target, bool) { return o.t, true }

// TestIVFWidening: an IVF search that returns short because it probed too few lists is not taken
// for the whole index: probes grow ×4 until enough candidates come back, widening rounds start
// with ×4 more probes, and only a search of every list that still returns short ends widening.
func TestIVFWidening(t *testing.T) {
	ix := &fakeIVF{lists: 64, perList: 5}
	p := planner.New(oneIndex{planner.Target{Index: ix, Key: "id", KeyType: "bigint", Name: "ivf", Kind: "ivf-flat", Lists: 64, Probes: 2}})
	q, err := p.PlanSimple(`SELECT id FROM items WHERE category = 1 ORDER BY emb <-> '[1,2]' LIMIT 10`, planner.Settings{Probes: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Round 1: 20 candidates; probes 1 (the session's) gives 5, then 4 → 20.
	if _, done, fwd, err := q.Next(context.Background(), 0); done || fwd || err != nil || len(q.Keys()) != 20 {
		t.Fatalf("round 1: done %v forward %v err %v, %d keys", done, fwd, err, len(q.Keys()))
	}
	if got := q.SearchKnob(); got != "probes 4 of 64 lists" {
		t.Fatalf("round 1: %s (searches %v)", got, ix.probes)
	}
	// Postgres kept 3 of them: round 2 asks 80 candidates starting at 4 probes → 16 (80 rows).
	ix.probes = nil
	if _, done, _, _ := q.Next(context.Background(), 3); done || len(q.Keys()) != 80 || ix.probes[0] != 4 || q.Probes != 16 {
		t.Fatalf("round 2: done %v, %d keys, searches %v", done, len(q.Keys()), ix.probes)
	}
	// Round 3: 320 candidates; all 64 lists hold 320 rows: enough, not covered.
	if _, done, _, _ := q.Next(context.Background(), 3); done || len(q.Keys()) != 320 || q.Probes != 64 {
		t.Fatalf("round 3: done %v, %d keys, probes %d", done, len(q.Keys()), q.Probes)
	}
	// Round 4: 1280 asked, 320 returned from every list: the whole index was seen.
	if _, done, _, _ := q.Next(context.Background(), 3); done || len(q.Keys()) != 320 {
		t.Fatalf("round 4: done %v, %d keys", done, len(q.Keys()))
	}
	if _, done, fwd, _ := q.Next(context.Background(), 3); !done || fwd {
		t.Fatalf("after a search of every list: done %v forward %v", done, fwd)
	}

	// Unset, the index's probes: 2.
	q, _ = p.PlanSimple(`SELECT id FROM items ORDER BY emb <-> '[1,2]' LIMIT 3`, planner.Settings{})
	if _, _, _, err := q.Next(context.Background(), 0); err != nil || q.SearchKnob() != "probes 2 of 64 lists" {
		t.Fatalf("default probes: %s %v", q.SearchKnob(), err)
	}
	// An index that returned every row it has is covered without probing more lists.
	ix.untrained, ix.probes = true, nil
	q, _ = p.PlanSimple(`SELECT id FROM items WHERE category = 1 ORDER BY emb <-> '[1,2]' LIMIT 1000`, planner.Settings{})
	if _, _, _, err := q.Next(context.Background(), 0); err != nil || len(ix.probes) != 1 || len(q.Keys()) != 320 {
		t.Fatalf("untrained: searches %v, %d keys, %v", ix.probes, len(q.Keys()), err)
	}
	if _, done, _, _ := q.Next(context.Background(), 5); !done {
		t.Fatal("untrained: every row returned, yet widening went on")
	}
	if s := planner.ApplySettings(map[string]string{"ivfflat.probes": "7"}); s.Probes != 7 {
		t.Fatalf("SET ivfflat.probes = 7: %+v", s)
	}
	if s := planner.ApplySettings(map[string]string{"ivfflat.probes": "0"}); s.Probes != 0 {
		t.Fatalf("SET ivfflat.probes = 0 (pgvector refuses it): %+v", s)
	}
}
