package pq_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/quant/pq"
)

func TestTablesMatchDecode(t *testing.T) {
	const dims, n, m = 20, 2000, 6 // 6 does not divide 20
	r := rand.New(rand.NewPCG(3, 3))
	data := make([]float32, n*dims)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	c, err := pq.Train(context.Background(), data, dims, m, 8, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	code := make([]uint8, m)
	dec := make([]float32, dims)
	l2t := make([]float32, c.TableSize())
	dt := make([]float32, c.TableSize())
	q := data[:dims]
	c.L2Table(q, l2t)
	c.DotTable(q, dt)
	var errSum, norm float64
	for i := 1; i < 50; i++ {
		v := data[i*dims : (i+1)*dims]
		c.Encode(v, code)
		c.Decode(code, dec)
		var l2, dot, e float64
		for j := range dec {
			d := float64(q[j] - dec[j])
			l2 += d * d
			dot += float64(q[j] * dec[j])
			e += float64((v[j] - dec[j]) * (v[j] - dec[j]))
			norm += float64(v[j] * v[j])
		}
		errSum += e
		if math.Abs(float64(c.Lookup(l2t, code))-l2) > 1e-3*math.Max(1, l2) ||
			math.Abs(float64(c.Lookup(dt, code))-dot) > 1e-3*math.Max(1, math.Abs(dot)) {
			t.Fatalf("table lookup disagrees with decoded vector")
		}
	}
	if errSum/norm > 0.5 {
		t.Fatalf("reconstruction error %.3f of the energy", errSum/norm)
	}
	if _, err := pq.Train(context.Background(), data, dims, dims+1, 8, 1, 2); err == nil {
		t.Fatal("more segments than dims accepted")
	}
}
