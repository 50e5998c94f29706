package half_test

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/half"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestRoundAsPgvector rounds values of every magnitude a half holds (subnormals, ties between
// two halves, the largest, past it) and compares each with what Postgres gives for
// '[x]'::halfvec, widened to vector and read in binary (or its error).
func TestRoundAsPgvector(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.DSN(t))
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var xs []float32
	for _, x := range []float64{0, 1, -1, 65504, 65519.99, 65520, -65520, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08,
		1.0009765625, 1.00048828125, 1.00146484375, 0.1, 1e-10, 3.14159} {
		xs = append(xs, float32(x))
	}
	for range 400 {
		xs = append(xs, float32(r.NormFloat64()*math.Pow(2, float64(r.IntN(44)-27))))
		// Halfway between two halves, where ties go to even.
		h := float32(r.IntN(2048)+1024) * float32(math.Pow(2, float64(r.IntN(30)-24)))
		xs = append(xs, h+float32(math.Pow(2, math.Floor(math.Log2(float64(h)))-11)))
	}
	for start := 0; start < len(xs); start += 100 {
		batch := xs[start:min(start+100, len(xs))]
		for _, x := range batch {
			lit := "[" + strconv.FormatFloat(float64(x), 'g', -1, 32) + "]"
			res := conn.PgConn().ExecParams(ctx, "SELECT ($1::halfvec)::vector", [][]byte{[]byte(lit)}, nil, []int16{0}, []int16{1}).Read()
			got, ok := half.Round(x)
			if res.Err != nil {
				if ok && !strings.Contains(res.Err.Error(), "out of range") {
					t.Fatalf("%s: %v", lit, res.Err)
				}
				if ok {
					t.Errorf("%s: Postgres refuses it (%v), Round gives %g", lit, res.Err, got)
				}
				continue
			}
			want := math.Float32frombits(binary.BigEndian.Uint32(res.Rows[0][0][4:]))
			if !ok || math.Float32bits(got) != math.Float32bits(want) {
				t.Errorf("%s: Round %g (%v), Postgres %g", lit, got, ok, want)
			}
		}
	}
}
