package binary_test

import (
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/vecgate/vecgate/quant/binary"
	"github.com/vecgate/vecgate/vecmath"
)

func TestEncodeBits(t *testing.T) {
	c, err := binary.New(70)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 70)
	v[0], v[63], v[64], v[69] = 1, 2, 3, 0.5
	v[1] = -1
	code := make([]uint64, c.Words())
	c.Encode(v, code)
	if c.Words() != 2 || code[0] != 1|1<<63 || code[1] != 1|1<<5 {
		t.Fatalf("code %x", code)
	}
	if _, err := binary.New(0); err == nil {
		t.Fatal("dims 0 accepted")
	}
	if _, err := binary.Train(make([]float32, 5), 2); err == nil {
		t.Fatal("ragged sample accepted")
	}
}

// Hamming order must track angular order: the true nearest neighbour by
// cosine should usually be within the first few percent by Hamming.
func TestHammingTracksCosine(t *testing.T) {
	const dims, n = 256, 2000
	r := rand.New(rand.NewPCG(1, 1))
	data := make([]float32, n*dims)
	for i := range data {
		data[i] = float32(r.NormFloat64()) + 0.5 // not centred: Train fixes it
	}
	c, err := binary.Train(data, dims)
	if err != nil {
		t.Fatal(err)
	}
	codes := make([]uint64, n*c.Words())
	for i := range n {
		c.Encode(data[i*dims:(i+1)*dims], codes[i*c.Words():])
	}
	hits := 0
	const queries = 50
	for qi := range queries {
		// Query: a noisy copy of row qi.
		q := make([]float32, dims)
		for j := range q {
			q[j] = data[qi*dims+j] + float32(r.NormFloat64()*0.5)
		}
		qc := make([]uint64, c.Words())
		c.Encode(q, qc)
		type cand struct{ id, d int }
		cs := make([]cand, n)
		for i := range n {
			cs[i] = cand{i, c.Distance(qc, codes[i*c.Words():(i+1)*c.Words()])}
		}
		sort.Slice(cs, func(a, b int) bool { return cs[a].d < cs[b].d })
		for _, x := range cs[:20] {
			if x.id == qi {
				hits++
				break
			}
		}
	}
	if hits < queries*9/10 {
		t.Fatalf("true neighbour in Hamming top-20 for %d/%d queries", hits, queries)
	}
	_ = vecmath.Impl()
}
