package vecmath

import (
	"math"
	"math/big"
)

// The Pg kernels sum in the order of pgvector 0.8 as Debian builds it for x86-64 (GCC with
// -fassociative-math and FMA contraction), so that their results are the server's bit for bit
// (internal/pgdist checks a server against them):
//
//   - the terms of elements 0 … n−n%8−1 go into 8 lanes (element i into lane i%8), lane by lane;
//   - the 8 lanes fold into 4 (lane j + lane j+4);
//   - when at least 4 elements remain, the next 4 go into those 4 lanes;
//   - the 4 lanes fold pairwise ((0+2) + (1+3));
//   - the remaining elements are added one by one.
//
// Inner product and squared L2 (of d = a−b): a product rounded then added, but for the
// 4-element step, which is a fused multiply-add; cosine's three sums: fused multiply-adds
// throughout; L1: |a−b| added. The portable versions below are the reference; the assembly
// (pgSumsAVX2 etc., kernels_amd64.s) computes the same bits with the same instructions the
// server's build uses (8-lane AVX2 vectors, VFMADD231PS).

// pgOp is the sum a portable Pg kernel computes.
type pgOp int

const (
	pgOpL2  pgOp = iota // Σ (a−b)²
	pgOpDot             // Σ a·b
	pgOpL1              // Σ |a−b|
)

// pgSum is op's sum in pgvector's order: terms rounded then added, but for the 4-element step,
// which is fused for L2 and the inner product.
func pgSum(a, b []float32, op pgOp) float32 {
	b = b[:len(a)]
	term := func(i int) float32 {
		switch op {
		case pgOpL2:
			d := a[i] - b[i]
			return float32(d * d)
		case pgOpDot:
			return float32(a[i] * b[i])
		}
		return abs32(a[i] - b[i])
	}
	fused := func(i int, acc float32) float32 {
		switch op {
		case pgOpL2:
			d := a[i] - b[i]
			return fma32(d, d, acc)
		case pgOpDot:
			return fma32(a[i], b[i], acc)
		}
		return acc + abs32(a[i]-b[i])
	}
	n := len(a)
	n8 := n - n%8
	var l [8]float32
	for i := 0; i < n8; i += 8 {
		for j := range 8 {
			l[j] += term(i + j)
		}
	}
	var q [4]float32
	for j := range 4 {
		q[j] = l[j] + l[j+4]
	}
	i := n8
	if n-n8 >= 4 {
		for j := range 4 {
			q[j] = fused(n8+j, q[j])
		}
		i = n8 + 4
	}
	s := (q[0] + q[2]) + (q[1] + q[3])
	for ; i < n; i++ {
		s += term(i)
	}
	return s
}

func pgL2SquaredGeneric(a, b []float32) float32 { return pgSum(a, b, pgOpL2) }

func pgDotGeneric(a, b []float32) float32 { return pgSum(a, b, pgOpDot) }

func pgL1Generic(a, b []float32) float32 { return pgSum(a, b, pgOpL1) }

// pgCosineSumsGeneric returns Σ a·b, Σ a² and Σ b² in pgvector's order, fused multiply-adds
// throughout.
func pgCosineSumsGeneric(a, b []float32) (dot, na, nb float32) {
	b = b[:len(a)]
	n := len(a)
	n8 := n - n%8
	var d, la, lb [8]float32
	for i := 0; i < n8; i += 8 {
		for j := range 8 {
			x, y := a[i+j], b[i+j]
			d[j] = fma32(x, y, d[j])
			la[j] = fma32(x, x, la[j])
			lb[j] = fma32(y, y, lb[j])
		}
	}
	var qd, qa, qb [4]float32
	for j := range 4 {
		qd[j], qa[j], qb[j] = d[j]+d[j+4], la[j]+la[j+4], lb[j]+lb[j+4]
	}
	i := n8
	if n-n8 >= 4 {
		for j := range 4 {
			x, y := a[n8+j], b[n8+j]
			qd[j], qa[j], qb[j] = fma32(x, y, qd[j]), fma32(x, x, qa[j]), fma32(y, y, qb[j])
		}
		i = n8 + 4
	}
	dot, na, nb = (qd[0]+qd[2])+(qd[1]+qd[3]), (qa[0]+qa[2])+(qa[1]+qa[3]), (qb[0]+qb[2])+(qb[1]+qb[3])
	for ; i < n; i++ {
		x, y := a[i], b[i]
		dot, na, nb = fma32(x, y, dot), fma32(x, x, na), fma32(y, y, nb)
	}
	return dot, na, nb
}

// fma32 is a float32 fused multiply-add: x*y + acc rounded once to float32. x*y is exact in
// float64, so the float64 FMA is the exact value rounded once to float64; rounding that to
// float32 again differs from rounding the exact value once only when the float64 result lies
// exactly halfway between two float32s (for a normal float32: its low 29 bits are 1<<28), or
// when it is below float32's smallest normal number (where float32's spacing is coarser):
// those cases are settled with the exact value (600 bits hold any x*y + acc of float32s exactly:
// from 2^257 down to 2^-298).
func fma32(x, y, acc float32) float32 {
	r := math.FMA(float64(x), float64(y), float64(acc))
	if math.Float64bits(r)&(1<<29-1) == 1<<28 || r != 0 && math.Abs(r) < 0x1p-126 {
		return fma32Exact(x, y, acc)
	}
	return float32(r)
}

// fma32Exact is x*y + acc rounded once to float32 from the exact value.
func fma32Exact(x, y, acc float32) float32 {
	e := new(big.Float).SetPrec(600).SetFloat64(float64(x))
	e.Mul(e, new(big.Float).SetPrec(600).SetFloat64(float64(y)))
	e.Add(e, new(big.Float).SetPrec(600).SetFloat64(float64(acc)))
	f, _ := e.Float32()
	return f
}
