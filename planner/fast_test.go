package planner_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/planner"
)

// TestFormatFloat8MatchesPostgres prints random doubles of every magnitude both ways: vecgate's
// fast path must print a float8 exactly as Postgres does.
func TestFormatFloat8MatchesPostgres(t *testing.T) {
	c := pgtest.Connect(t, pgtest.DSN(t))
	r := rand.New(rand.NewPCG(3, 5))
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-4, 9.999e-5, 1e-5, 123456789012345, 1e15, 1e16,
		99999999999999.9, 0.30000000000000004, 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 1.5e300, -2.5e-300}
	for range 2000 {
		vals = append(vals, math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(r.IntN(2046)+1)<<52))
		vals = append(vals, float64(r.Float32())*math.Pow(10, float64(r.IntN(40)-20)))
	}
	texts := make([]string, len(vals))
	for i, v := range vals {
		texts[i] = planner.FormatFloat8(v)
	}
	rows, err := c.Query(context.Background(), `SELECT x::text FROM unnest($1::float8[]) WITH ORDINALITY u(x, i) ORDER BY i`, vals)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var pg string
		if err := rows.Scan(&pg); err != nil {
			t.Fatal(err)
		}
		if pg != texts[i] && (math.Abs(vals[i]) < planner.MaxFastDistance || math.IsInf(vals[i], 0)) {
			t.Errorf("%v: Postgres prints %q, vecgate %q", vals[i], pg, texts[i])
		}
		i++
	}
	if rows.Err() != nil || i != len(vals) {
		t.Fatalf("%d of %d rows: %v", i, len(vals), rows.Err())
	}
}
