package planner_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/planner"
)

// vectorIndex is a 2-d index that records the query vector it is searched with.
type vectorIndex struct{ got []float32 }

func (x *vectorIndex) Dims() int      { return 2 }
func (x *vectorIndex) Len() int       { return 3 }
func (x *vectorIndex) Complete() bool { return true }
func (x *vectorIndex) Search(_ context.Context, q []float32, k int, _ ann.SearchOptions) ([]ann.Result, error) {
	x.got = slices.Clone(q)
	return []ann.Result{{Key: ann.IntKey(1), Distance: 1}}, nil
}

// TestQueryVectorText: a query vector written as text, in the statement or as a text-format
// parameter, is searched with exactly the float32 values pgvector reads from it (spaces, signs,
// hex floats, exponents, underflow, ties); one pgvector rejects forwards the statement.
func TestQueryVectorText(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		text string
		want []uint32 // nil: forwarded
	}{
		{"[1,2]", []uint32{0x3f800000, 0x40000000}},
		{" [ -0 ,\t+.5e1 ] ", []uint32{0x80000000, 0x40a00000}},
		{"[0x1p-2,1e-50]", []uint32{0x3e800000, 0}},
		{"[16777217,0.012345678901234567]", []uint32{0x4b800000, 0x3c4a4588}}, // as vector_send shows them
		{"[1,2", nil}, {"[1,2]x", nil}, {"[]", nil}, {"[1,nan]", nil}, {"[inf,1]", nil}, {"[1e39,1]", nil},
		{"[1,2,3]", nil}, // the index has 2 dimensions
	} {
		for _, how := range []string{"literal", "parameter"} {
			ix := &vectorIndex{}
			p := planner.New(fakeSearcher{ix})
			var q *planner.Query
			var err error
			if how == "literal" {
				q, err = p.PlanSimple(`SELECT id FROM docs ORDER BY emb <-> '`+c.text+`' LIMIT 1`, planner.Settings{})
			} else {
				pr, perr := p.Prepare(`SELECT id FROM docs ORDER BY emb <-> $1 LIMIT 1`)
				if perr != nil {
					t.Fatal(perr)
				}
				q, err = p.Bind(pr, [][]byte{[]byte(c.text)}, nil, planner.Settings{})
			}
			if c.want == nil {
				if !errors.Is(err, planner.ErrForward) {
					t.Errorf("%s %q: %v, want forwarded", how, c.text, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s %q: %v", how, c.text, err)
				continue
			}
			if _, _, _, err := q.Next(ctx, 0); err != nil {
				t.Fatalf("%s %q: %v", how, c.text, err)
			}
			var got []uint32
			for _, f := range ix.got {
				got = append(got, math.Float32bits(f))
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s %q: searched with %#x, want %#x", how, c.text, got, c.want)
			}
		}
	}
}
