package pgdist_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/pgdist"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/vecmath"
)

func literal(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// TestAgainstPostgres: the server here is calibrated exact for every operator, and random pairs
// of many lengths (other than the probes) get the server's distances bit for bit — where
// vecgate's own kernels do not.
func TestAgainstPostgres(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.DSN(t))
	ctx := context.Background()
	q := func(ctx context.Context, sql string, dest ...any) error { return conn.QueryRow(ctx, sql).Scan(dest...) }
	cal, err := pgdist.Calibrate(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("exact: %s", cal)
	for _, op := range pgdist.Operators {
		if !cal.Exact(op) {
			t.Errorf("%s: not calibrated exact (pgvector built otherwise than Debian's x86-64 package?)", op)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	kernelDiffers := 0
	for _, n := range []int{2, 5, 6, 9, 11, 15, 24, 28, 33, 64, 127, 256, 512, 1000, 1024, 2000} {
		for range 8 {
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			}
			var got [4]float64
			if err := conn.QueryRow(ctx, "SELECT $1::vector <-> $2::vector, $1::vector <#> $2::vector, $1::vector <=> $2::vector, $1::vector <+> $2::vector",
				literal(a), literal(b)).Scan(&got[0], &got[1], &got[2], &got[3]); err != nil {
				t.Fatal(err)
			}
			for i, op := range pgdist.Operators {
				d, ok := cal.Distance(op, a, b)
				if !ok || d != got[i] {
					t.Errorf("%s over %d dims: %v (%v), Postgres %v", op, n, d, ok, got[i])
				}
			}
			if math.Sqrt(float64(vecmath.L2Squared(a, b))) != got[0] {
				kernelDiffers++
			}
		}
	}
	t.Logf("vecgate's L2 kernel differs from Postgres' in %d of 128 pairs", kernelDiffers)
}

// TestUncalibrated: a nil or failed calibration claims nothing.
func TestUncalibrated(t *testing.T) {
	var c *pgdist.Calibration
	if c.Exact("<->") {
		t.Fatal("nil calibration claims exactness")
	}
	if _, ok := c.Distance("<->", []float32{1}, []float32{2}); ok {
		t.Fatal("nil calibration computes")
	}
	wrong := func(ctx context.Context, sql string, dest ...any) error {
		for _, d := range dest {
			*d.(*float64) = 0.5
		}
		return nil
	}
	cal, err := pgdist.Calibrate(context.Background(), wrong)
	if err != nil || cal.String() != "none" {
		t.Fatalf("a server answering otherwise: %v %v", cal, err)
	}
}
