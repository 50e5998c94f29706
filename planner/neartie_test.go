package planner_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/planner"
)

// tieIndex is an exact twin of rows rows whose first group distances are near-tied (within
// 2e-6 relative of each other, as float32 sums in another order can make equal ones) and the
// others well apart.
type tieIndex struct {
	rows, group int
	asked       []int
}

func (x *tieIndex) Search(_ context.Context, _ []float32, k int, _ ann.SearchOptions) ([]ann.Result, error) {
	x.asked = append(x.asked, k)
	out := make([]ann.Result, min(k, x.rows))
	for i := range out {
		d := 2 + float64(i)
		if i < x.group {
			d = 1 + float64(i)*1e-10
		}
		out[i] = ann.Result{Key: ann.IntKey(int64(i)), Distance: d}
	}
	return out, nil
}
func (x *tieIndex) Dims() int      { return 2 }
func (x *tieIndex) Len() int       { return x.rows }
func (x *tieIndex) Complete() bool { return true }

// TestCandidateCutPastNearTies: an exact twin's candidate list is not cut inside a group of
// near-tied distances (Postgres may rank a row past the cut before one inside it): the cut moves
// past the group, asking the index for more as needed, and a group past MaxCandidates is
// forwarded. Without near ties the first round keeps its size (k plus a quarter, plus one).
func TestCandidateCutPastNearTies(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		rows, group int
		want        int // candidates handed to Postgres; 0: forwarded
	}{
		{"no ties", 1000, 0, 7},
		{"group ends inside the extra", 1000, 9, 9},
		{"group ends at the k-th", 1000, 5, 7},
		{"group runs past the extra", 1000, 100, 100},
		{"group is every row", 300, 300, 300},
		{"group past the bound", planner.MaxCandidates + 100, planner.MaxCandidates + 100, 0},
	} {
		ix := &tieIndex{rows: tc.rows, group: tc.group}
		p := planner.New(oneIndex{planner.Target{Index: ix, Key: "id", KeyType: "bigint", Name: "hnsw", Kind: "hnsw", Exact: true}})
		q, err := p.PlanSimple(`SELECT id, emb <=> '[1,2]' FROM items ORDER BY emb <=> '[1,2]' LIMIT 5`, planner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		_, done, fwd, err := q.Next(ctx, 0)
		if err != nil || done {
			t.Fatalf("%s: done %v err %v", tc.name, done, err)
		}
		if tc.want == 0 {
			if !fwd {
				t.Errorf("%s: not forwarded (%d candidates, asked %v)", tc.name, len(q.Keys()), ix.asked)
			}
			continue
		}
		if fwd || len(q.Keys()) != tc.want {
			t.Errorf("%s: forward %v, %d candidates (asked %v), want %d", tc.name, fwd, len(q.Keys()), ix.asked, tc.want)
		}
	}
}
