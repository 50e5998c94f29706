package planner

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestQueryTextsAgainstPostgres: the sparsevec and bit texts vecgate reads itself (parseSparse,
// parseBits) are read as Postgres reads them, or refused (and forwarded): every text vecgate
// takes, Postgres takes too, with the same values bit for bit.
func TestQueryTextsAgainstPostgres(t *testing.T) {
	c := pgtest.Connect(t, pgtest.NewDB(t))
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(11, 12))
	sparse := []string{"{1:1.5,3:2}/5", "{ 1 : 1.5 , 3:2 }/5", "{3:2,1:1.5}/5", "{}/5", " {} / 5 ", "{1:0,2:-0}/2",
		"{1:1,1:2}/5", "{0:1}/5", "{6:1}/5", "{1:1}/0", "{1:nan}/3", "{1:inf}/3", "{1:1e39}/3", "{1:1e-50}/3",
		"{+1:2}/3", "{01:2}/3", "{1:2,}/3", "{1:2}", "1:2}/3", "{1:2}/3x", "{1:0x1p-2}/3", "{1: .5e1}/3", "{1:2}/ 3",
		"{1:16777217}/1", "{1:1e-40}/3", "{1:1.1754944e-38}/3", "{1:1.17549e-38}/3", "{1:0e10}/3", "{1:0.000}/3", "{1:-0.0e-3}/3", "{1:0x0p3}/3", "{1:0x1p-130}/3", "{1:0x1e-0p-200}/3", "{1:0x0ep2}/3", "{a:1}/3", "{1:}/3", "{:1}/3", "{1:1 2}/3", "{2147483648:1}/3", "{1:1}/100001"}
	for range 200 { // random well-formed texts, some with spaces and out of order
		n := 1 + rng.IntN(20)
		var els []string
		for i := 1; i <= n; i++ {
			if rng.IntN(3) == 0 {
				els = append(els, fmt.Sprintf("%d:%g", i, (rng.Float64()*2-1)*math.Pow(10, float64(rng.IntN(9)-4))))
			}
		}
		rng.Shuffle(len(els), func(i, j int) { els[i], els[j] = els[j], els[i] })
		sparse = append(sparse, "{"+strings.Join(els, ", ")+"}/"+fmt.Sprint(n))
	}
	for _, s := range sparse {
		mine, err := parseSparse([]byte(s))
		var theirs []float32
		pgErr := c.QueryRow(ctx, `SELECT $1::text::sparsevec::vector::real[]`, s).Scan(&theirs)
		switch {
		case err != nil:
			continue // forwarded: Postgres judges
		case pgErr != nil:
			t.Errorf("sparsevec %q: vecgate reads %v, Postgres refuses it: %v", s, mine, pgErr)
		case !sameBits(mine, theirs):
			t.Errorf("sparsevec %q: vecgate reads %v, Postgres %v", s, mine, theirs)
		}
	}
	bits := []string{"0101", "B0101", "b0101", "X5", "x0F", "XaF", "", "B", "X", "01 01", "012", "Xg", " 0101", "0101 "}
	for range 100 {
		b := make([]byte, 1+rng.IntN(70))
		for i := range b {
			b[i] = byte('0' + rng.IntN(2))
		}
		bits = append(bits, string(b))
	}
	for _, s := range bits {
		mine, err := parseBits([]byte(s))
		var theirs string
		pgErr := c.QueryRow(ctx, `SELECT $1::text::varbit::text`, s).Scan(&theirs)
		switch {
		case err != nil:
			continue
		case pgErr != nil:
			t.Errorf("bit %q: vecgate reads %v, Postgres refuses it: %v", s, mine, pgErr)
		default:
			var b strings.Builder
			for _, x := range mine {
				b.WriteByte(byte('0' + int(x)))
			}
			if b.String() != theirs {
				t.Errorf("bit %q: vecgate reads %s, Postgres %s", s, b.String(), theirs)
			}
		}
	}
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
