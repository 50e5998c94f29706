// Package pgdist computes pgvector's distances bit for bit as the Postgres server at hand does.
//
// pgvector's distance loops sum float32 terms, and its build lets the compiler reorder and
// vectorise those sums (-fassociative-math) and contract multiply-adds into FMAs: the result's
// last bits depend on how the loop was compiled, not only on the formula. vecgate's own kernels
// sum in yet another order, so their distances differ from Postgres' in the last digits. This
// package reproduces one compiled order — the one of pgvector 0.8 as Debian builds it for
// x86-64 (GCC; found by comparing with the server's answers):
//
//   - the terms of elements 0 … n−n%8−1 go into 8 lanes (element i into lane i%8), lane by lane;
//   - the 8 lanes fold into 4 (lane j + lane j+4);
//   - when at least 4 elements remain, the next 4 go into those 4 lanes;
//   - the 4 lanes fold pairwise ((0+2) + (1+3));
//   - the remaining elements are added one by one.
//
// Inner product and L2: plain multiply and add, but for the 4-element step, which is a fused
// multiply-add; cosine: fused multiply-adds throughout; L1: absolute differences.
//
// Whether the server at hand computes so is a fact about its build: Calibrate asks it (a few
// distances over probe vectors of several lengths) and says, per operator, whether this package
// reproduces every one. Where it does not, callers must not claim Postgres' bits.
package pgdist

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
)

// term is one step of a sum: acc plus the i-th term.
type term func(i int, acc float32) float32

// sum adds n terms in the compiled order (package doc): main for the 8-lane part, quad for the
// 4-element step, tail for the rest.
func sum(n int, main, quad, tail term) float32 {
	n8 := n - n%8
	var l [8]float32
	for i := range n8 {
		l[i%8] = main(i, l[i%8])
	}
	var q [4]float32
	if n8 > 0 {
		for j := range 4 {
			q[j] = l[j] + l[j+4]
		}
	}
	i := n8
	if n-n8 >= 4 {
		for j := range 4 {
			q[j] = quad(n8+j, q[j])
		}
		i = n8 + 4
	}
	var s float32
	if i > 0 {
		s = (q[0] + q[2]) + (q[1] + q[3])
	}
	for ; i < n; i++ {
		s = tail(i, s)
	}
	return s
}

// fma32 is a float32 fused multiply-add: x*y + acc rounded once to float32. The float64 FMA is
// rounded once to float64, and rounding that to float32 again could differ from rounding the
// exact value once only when the float64 result lies exactly halfway between two float32s:
// that case is settled with the exact value. (Results in float32's subnormal range are not
// handled so; they need components below 1e-19.)
func fma32(x, y, acc float32) float32 {
	r := math.FMA(float64(x), float64(y), float64(acc))
	if math.Float64bits(r)&(1<<29-1) == 1<<28 {
		e := new(big.Float).SetPrec(256).SetFloat64(float64(x))
		e.Mul(e, new(big.Float).SetPrec(256).SetFloat64(float64(y)))
		e.Add(e, new(big.Float).SetPrec(256).SetFloat64(float64(acc)))
		f, _ := e.Float32()
		return f
	}
	return float32(r)
}

// L2 is pgvector's `<->`.
func L2(a, b []float32) float64 {
	return math.Sqrt(float64(sumProducts(a, b, true)))
}

// NegativeInnerProduct is pgvector's `<#>`.
func NegativeInnerProduct(a, b []float32) float64 {
	return -float64(sumProducts(a, b, false))
}

// sumProducts is Σ (a−b)² (diff) or Σ a·b in the compiled order: plain multiply-adds but for
// the fused 4-element step. Written out (not through sum) for speed: it runs for every row of
// an answer from memory.
func sumProducts(a, b []float32, diff bool) float32 {
	b = b[:len(a)]
	x := func(i int) (float32, float32) {
		if diff {
			d := a[i] - b[i]
			return d, d
		}
		return a[i], b[i]
	}
	n := len(a)
	n8 := n - n%8
	var l [8]float32
	for i := 0; i < n8; i += 8 {
		for j := range 8 {
			u, v := x(i + j)
			l[j] += float32(u * v)
		}
	}
	var q [4]float32
	if n8 > 0 {
		for j := range 4 {
			q[j] = l[j] + l[j+4]
		}
	}
	i := n8
	if n-n8 >= 4 {
		for j := range 4 {
			u, v := x(n8 + j)
			q[j] = fma32(u, v, q[j])
		}
		i = n8 + 4
	}
	var s float32
	if i > 0 {
		s = (q[0] + q[2]) + (q[1] + q[3])
	}
	for ; i < n; i++ {
		u, v := x(i)
		s += float32(u * v)
	}
	return s
}

// Cosine is pgvector's `<=>`: 1 − a·b / sqrt(|a|²·|b|²), the similarity kept in [−1, 1]; NaN
// when a vector is zero.
func Cosine(a, b []float32) float64 {
	b = b[:len(a)]
	n := len(a)
	n8 := n - n%8
	var d, na, nb [8]float32
	for i := 0; i < n8; i += 8 {
		for j := range 8 {
			x, y := a[i+j], b[i+j]
			d[j] = fma32(x, y, d[j])
			na[j] = fma32(x, x, na[j])
			nb[j] = fma32(y, y, nb[j])
		}
	}
	var qd, qa, qb [4]float32
	if n8 > 0 {
		for j := range 4 {
			qd[j], qa[j], qb[j] = d[j]+d[j+4], na[j]+na[j+4], nb[j]+nb[j+4]
		}
	}
	i := n8
	if n-n8 >= 4 {
		for j := range 4 {
			x, y := a[n8+j], b[n8+j]
			qd[j], qa[j], qb[j] = fma32(x, y, qd[j]), fma32(x, x, qa[j]), fma32(y, y, qb[j])
		}
		i = n8 + 4
	}
	var sd, sa, sb float32
	if i > 0 {
		sd, sa, sb = (qd[0]+qd[2])+(qd[1]+qd[3]), (qa[0]+qa[2])+(qa[1]+qa[3]), (qb[0]+qb[2])+(qb[1]+qb[3])
	}
	for ; i < n; i++ {
		x, y := a[i], b[i]
		sd, sa, sb = fma32(x, y, sd), fma32(x, x, sa), fma32(y, y, sb)
	}
	sim := float64(sd) / math.Sqrt(float64(sa)*float64(sb))
	if math.IsNaN(sim) {
		return math.NaN()
	}
	return 1 - max(-1, min(1, sim))
}

// L1 is pgvector's `<+>`.
func L1(a, b []float32) float64 {
	t := func(i int, acc float32) float32 { return acc + float32(math.Abs(float64(a[i]-b[i]))) }
	return float64(sum(len(a), t, t, t))
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
