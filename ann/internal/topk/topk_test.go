package topk

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestHeapsKeepOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var mx Max
	var mn Min
	var all []float32
	for i := range 500 {
		d := r.Float32()
		all = append(all, d)
		mx.PushBounded(Item{Dist: d, ID: uint32(i)}, 10)
		mn.Push(Item{Dist: d, ID: uint32(i)})
	}
	slices.Sort(all)
	got := mx.SortedAscending(nil)
	for i, it := range got {
		if it.Dist != all[i] {
			t.Fatalf("bounded max heap rank %d: %v want %v", i, it.Dist, all[i])
		}
	}
	for i := range all {
		if it := mn.Pop(); it.Dist != all[i] {
			t.Fatalf("min heap pop %d: %v want %v", i, it.Dist, all[i])
		}
	}
}

func TestSortStable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for n := range 40 {
		a := make([]Item, n)
		for i := range a {
			a[i] = Item{Dist: float32(r.IntN(6)), ID: uint32(i)}
		}
		want := slices.Clone(a)
		slices.SortStableFunc(want, func(x, y Item) int { return cmp.Compare(x.Dist, y.Dist) })
		Sort(a)
		if !slices.Equal(a, want) {
			t.Fatalf("n=%d: %v, want %v", n, a, want)
		}
	}
}
