// Package pgdist computes pgvector's distances bit for bit as the Postgres server at hand does.
//
// pgvector's distance loops sum float32 terms, and its build lets the compiler reorder and
// vectorise those sums (-fassociative-math) and contract multiply-adds into FMAs: the result's
// last bits depend on how the loop was compiled, not only on the formula. vecgate's own kernels
// sum in yet another order, so their distances differ from Postgres' in the last digits. This
// package reproduces one compiled order — the one of pgvector 0.8 as Debian builds it for
// x86-64 (GCC; found by comparing with the server's answers) — with vecmath's Pg kernels
// (vecmath/pgorder.go spells the order out: 8 lanes, a fold to 4, a 4-element step, a fold to
// one, a scalar tail; plain multiply-adds for L2 and inner product but for the fused 4-element
// step, fused multiply-adds throughout for cosine). On amd64 with AVX2 and FMA they run in
// assembly on the instructions the server's build uses; elsewhere in Go, to the same bits.
//
// Whether the server at hand computes so is a fact about its build: Calibrate asks it (a few
// distances over probe vectors of several lengths) and says, per operator, whether this package
// reproduces every one. Where it does not, callers must not claim Postgres' bits.
package pgdist

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/vecgate/vecgate/vecmath"
)

// L2 is pgvector's `<->`.
func L2(a, b []float32) float64 {
	return math.Sqrt(float64(vecmath.PgL2Squared(a, b)))
}

// NegativeInnerProduct is pgvector's `<#>`.
func NegativeInnerProduct(a, b []float32) float64 {
	return -float64(vecmath.PgDot(a, b))
}

// Cosine is pgvector's `<=>`: 1 − a·b / sqrt(|a|²·|b|²), the similarity kept in [−1, 1]; NaN
// when a vector is zero.
func Cosine(a, b []float32) float64 {
	sd, sa, sb := vecmath.PgCosineSums(a, b)
	sim := float64(sd) / math.Sqrt(float64(sa)*float64(sb))
	if math.IsNaN(sim) {
		return math.NaN()
	}
	return 1 - max(-1, min(1, sim))
}

// L1 is pgvector's `<+>`.
func L1(a, b []float32) float64 {
	return float64(vecmath.PgL1(a, b))
}

// Operators, in the order Calibration holds them.
var Operators = [4]string{"<->", "<#>", "<=>", "<+>"}

var funcs = [4]func(a, b []float32) float64{L2, NegativeInnerProduct, Cosine, L1}

// Calibration says, per operator, whether this package computes the server's distances.
type Calibration struct {
	exact [4]bool
}

// Exact reports whether op's distances are the server's, bit for bit.
func (c *Calibration) Exact(op string) bool {
	if c == nil {
		return false
	}
	for i, o := range Operators {
		if o == op {
			return c.exact[i]
		}
	}
	return false
}

// Distance computes op's distance, and false when op is not calibrated exact.
func (c *Calibration) Distance(op string, a, b []float32) (float64, bool) {
	if c == nil {
		return 0, false
	}
	for i, o := range Operators {
		if o == op && c.exact[i] {
			return funcs[i](a, b), true
		}
	}
	return 0, false
}

func (c *Calibration) String() string {
	var exact []string
	for i, o := range Operators {
		if c.exact[i] {
			exact = append(exact, o)
		}
	}
	if len(exact) == 0 {
		return "none"
	}
	return strings.Join(exact, " ")
}

// Querier runs a statement returning one row of float8 columns into dest.
type Querier func(ctx context.Context, sql string, dest ...any) error

// probeDims are the probe vectors' lengths: every step of the order (8 lanes, the 4-element
// step, the tail) alone and together, and embedding sizes.
var probeDims = []int{1, 3, 4, 7, 8, 12, 13, 16, 17, 20, 31, 100, 384, 768, 1536}

// Calibrate compares, for every operator, the server's distances between probe vectors with
// this package's (a few per length; components of several magnitudes) and returns which agree
// on every probe. An error running the probe statement is returned as is.
func Calibrate(ctx context.Context, q Querier) (*Calibration, error) {
	rng := rand.New(rand.NewPCG(20261207, 6))
	c := &Calibration{exact: [4]bool{true, true, true, true}}
	for _, n := range probeDims {
		for range 4 {
			a, b := make([]float32, n), make([]float32, n)
			scale := math.Pow(10, float64(rng.IntN(7)-3))
			for i := range a {
				a[i], b[i] = float32(rng.NormFloat64()*scale), float32(rng.NormFloat64()*scale)
			}
			var got [4]float64
			va, vb := text(a), text(b)
			sql := fmt.Sprintf("SELECT %s::vector <-> %s::vector, %[1]s::vector <#> %[2]s::vector, "+
				"%[1]s::vector <=> %[2]s::vector, %[1]s::vector <+> %[2]s::vector", va, vb)
			if err := q(ctx, sql, &got[0], &got[1], &got[2], &got[3]); err != nil {
				return nil, err
			}
			for i, f := range funcs {
				if w := f(a, b); w != got[i] && !(math.IsNaN(w) && math.IsNaN(got[i])) {
					c.exact[i] = false
				}
			}
		}
	}
	return c, nil
}

// text is a vector literal whose components read back exactly.
func text(v []float32) string {
	var b strings.Builder
	b.WriteString("'[")
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(x), 'g', -1, 32))
	}
	b.WriteString("]'")
	return b.String()
}
