package pgdist_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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

// server is a connection to the test server and its calibration.
type server struct {
	t    *testing.T
	conn *pgx.Conn
	cal  *pgdist.Calibration
}

func connect(t *testing.T) server {
	conn := pgtest.Connect(t, pgtest.DSN(t))
	q := func(ctx context.Context, sql string, dest ...any) error { return conn.QueryRow(ctx, sql).Scan(dest...) }
	cal, err := pgdist.Calibrate(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernels %s, exact: %s", vecmath.Impl(), cal)
	return server{t, conn, cal}
}

// check compares the calibration's distances between a and b with the server's, NaN equal to
// NaN, and returns the server's.
func (s server) check(a, b []float32) [4]float64 {
	var got [4]float64
	if err := s.conn.QueryRow(context.Background(), "SELECT $1::vector <-> $2::vector, $1::vector <#> $2::vector, $1::vector <=> $2::vector, $1::vector <+> $2::vector",
		literal(a), literal(b)).Scan(&got[0], &got[1], &got[2], &got[3]); err != nil {
		s.t.Fatal(err)
	}
	for i, op := range pgdist.Operators {
		d, ok := s.cal.Distance(op, a, b)
		if !ok || d != got[i] && !(math.IsNaN(d) && math.IsNaN(got[i])) {
			s.t.Errorf("%s over %d dims: %v (%v), Postgres %v", op, len(a), d, ok, got[i])
		}
	}
	return got
}

// TestAgainstPostgres: the server here is calibrated exact for every operator, and random pairs
// of many lengths (other than the probes) get the server's distances bit for bit — where
// vecgate's own kernels do not.
func TestAgainstPostgres(t *testing.T) {
	s := connect(t)
	for _, op := range pgdist.Operators {
		if !s.cal.Exact(op) {
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
			got := s.check(a, b)
			if math.Sqrt(float64(vecmath.L2Squared(a, b))) != got[0] {
				kernelDiffers++
			}
		}
	}
	t.Logf("vecgate's L2 kernel differs from Postgres' in %d of 128 pairs", kernelDiffers)
}

// TestAgainstPostgresEdges: the server's distances bit for bit where the sums leave the normal
// float32 range — components of 1e-20 (subnormal products and sums), of 1e20 (sums overflowing
// to Infinity, inner products to NaN), of mixed magnitudes — and where a float32 FMA's result is
// a subnormal that a float64 FMA rounded again to float32 would get wrong (cosine's dot product
// (2²²+1)·2⁻⁷⁵·2⁻⁷⁴ + (2²³−1)·2⁻⁹⁸·(2²³+1)·2⁻⁹⁸, exactly 2⁻¹²⁷ + 3·2⁻¹⁵⁰ − 2⁻¹⁹⁶, is 2⁻¹²⁷ + 2⁻¹⁴⁹).
// Run it with VECGATE_KERNELS=portable too: the portable kernels are held to the same bits.
func TestAgainstPostgresEdges(t *testing.T) {
	s := connect(t)
	type pair struct{ a, b []float32 }
	var pairs []pair
	for _, n := range []int{2, 9, 16} {
		a, b := make([]float32, n), make([]float32, n)
		i := min(n-1, 8) // the tail (n = 2), or element 0's lane
		a[0], b[0] = float32(math.Ldexp(1<<22+1, -75)), 0x1p-74
		a[i], b[i] = float32(math.Ldexp(1<<23-1, -98)), float32(math.Ldexp(1<<23+1, -98))
		pairs = append(pairs, pair{a, b})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{3, 4, 7, 12, 13, 21, 64, 100, 1536} {
		for _, scale := range []float64{1e-20, 1e-19, 1e19, 1e20, 0} {
			for range 3 {
				a, b := make([]float32, n), make([]float32, n)
				for i := range a {
					m := scale
					if m == 0 {
						m = math.Pow(10, float64(rng.IntN(41)-20))
					}
					a[i], b[i] = float32(rng.NormFloat64()*m), float32(rng.NormFloat64()*m)
				}
				pairs = append(pairs, pair{a, b})
			}
		}
	}
	var inf, nan int
	for _, p := range pairs {
		for _, d := range s.check(p.a, p.b) {
			switch {
			case math.IsInf(d, 0):
				inf++
			case math.IsNaN(d):
				nan++
			}
		}
	}
	if inf == 0 || nan == 0 {
		t.Errorf("edges not reached: %d infinite, %d NaN distances", inf, nan)
	}
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
