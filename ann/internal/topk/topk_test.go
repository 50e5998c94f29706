package topk

import (
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
