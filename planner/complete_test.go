package planner_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/planner"
)

// shortGraph is a graph index of rows rows whose searches reach only reach of them (a graph in
// pieces), and whose table may have rows it does not hold (complete false).
type shortGraph struct {
	rows, reach int
	complete    bool
}

func (g *shortGraph) Search(_ context.Context, _ []float32, k int, _ ann.SearchOptions) ([]ann.Result, error) {
	out := make([]ann.Result, min(k, g.reach))
	for i := range out {
		out[i] = ann.Result{Key: ann.IntKey(int64(i)), Distance: float64(i)}
	}
	return out, nil
}
func (g *shortGraph) Dims() int      { return 2 }
func (g *shortGraph) Len() int       { return g.rows }
func (g *shortGraph) Complete() bool { return g.complete }

// TestShortGraphAnswerIsNotComplete: a graph search that returns fewer candidates than asked has
// not thereby seen every row. While the index holds rows the search did not return, rounds widen
// and finally forward; an answer with every row the index holds ends the rounds only when the
// index holds every row of its table (else it is forwarded at once: widening cannot help).
func TestShortGraphAnswerIsNotComplete(t *testing.T) {
	ctx := context.Background()
	const sql = `SELECT id FROM items WHERE category = 1 ORDER BY emb <#> '[1,2]' LIMIT 400`
	run := func(g *shortGraph) (rounds int, done, fwd bool) {
		p := planner.New(oneIndex{planner.Target{Index: g, Key: "id", KeyType: "bigint", Name: "hnsw", Kind: "hnsw"}})
		q, err := p.PlanSimple(sql, planner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, done, fwd, err := q.Next(ctx, 226) // Postgres keeps 226 of the candidates
			if err != nil {
				t.Fatal(err)
			}
			if done || fwd {
				return q.Rounds, done, fwd
			}
		}
	}
	// The graph reaches 300 of 1,000 rows: never taken as complete.
	if rounds, done, fwd := run(&shortGraph{rows: 1000, reach: 300, complete: true}); done || !fwd {
		t.Fatalf("graph in pieces: done %v forward %v after %d rounds, want forwarded", done, fwd, rounds)
	}
	// Every row came back and the index holds every row: complete.
	if rounds, done, fwd := run(&shortGraph{rows: 300, reach: 300, complete: true}); !done || fwd || rounds != 1 {
		t.Fatalf("every row: done %v forward %v after %d rounds, want done after 1", done, fwd, rounds)
	}
	// Every row the index holds came back, but the table has rows it does not hold (NULL
	// vectors, refused ones): forwarded after one round.
	if rounds, done, fwd := run(&shortGraph{rows: 300, reach: 300, complete: false}); done || !fwd || rounds != 1 {
		t.Fatalf("rows left out: done %v forward %v after %d rounds, want forwarded after 1", done, fwd, rounds)
	}
}
