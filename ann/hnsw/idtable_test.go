package hnsw

import (
	"math/rand/v2"
	"testing"

	"github.com/vecgate/vecgate/ann"
)

// TestIDTable checks the key table against a map through random puts, replacements and removals,
// small enough that probe runs wrap around the end of the table and removals shift entries back
// across it, with integer, uuid and text keys.
func TestIDTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var keys []ann.Key // node id -> key, as the index's node arrays
	tab := newIDTable(func(id uint32) ann.Key { return keys[id] })
	model := map[ann.Key]uint32{}
	keyN := func(n int) ann.Key {
		switch n % 3 {
		case 1:
			var u [16]byte
			u[3] = byte(n)
			return ann.UUIDKey(u)
		case 2:
			return ann.TextKey("k" + string(rune('a'+n%26)) + string(rune('a'+n/26)))
		}
		return ann.IntKey(int64(n) << 20)
	}
	for step := range 200000 {
		k := keyN(r.IntN(300))
		switch r.IntN(3) {
		case 0, 1: // put (a new node for the key, as an upsert gives it)
			id := uint32(len(keys))
			keys = append(keys, k)
			tab.put(k, id)
			model[k] = id
		case 2:
			_, want := model[k]
			if got := tab.remove(k); got != want {
				t.Fatalf("step %d: remove(%v) = %v, want %v", step, k, got, want)
			}
			delete(model, k)
		}
		if tab.n != len(model) {
			t.Fatalf("step %d: %d keys, want %d", step, tab.n, len(model))
		}
		if step%1000 == 0 || step > 199000 {
			for n := range 300 {
				k := keyN(n)
				id, ok := tab.get(k)
				want, wok := model[k]
				if ok != wok || (ok && id != want) {
					t.Fatalf("step %d: get(%v) = %d %v, want %d %v", step, k, id, ok, want, wok)
				}
			}
		}
	}
	if len(tab.slots) > 4*256 {
		t.Errorf("%d slots for at most 300 keys", len(tab.slots))
	}
	// Renumbering keeps every key.
	newID := make([]uint32, len(keys))
	for i := range newID {
		newID[i] = uint32(len(keys) - 1 - i)
	}
	rev := make([]ann.Key, len(keys))
	for i, k := range keys {
		rev[newID[i]] = k
	}
	keys = rev
	tab.renumber(newID)
	for k, id := range model {
		if got, ok := tab.get(k); !ok || got != newID[id] {
			t.Fatalf("after renumber: get(%v) = %d %v, want %d", k, got, ok, newID[id])
		}
	}
}

// TestIDTableNoAlloc: lookups allocate nothing (they run on every insert).
func TestIDTableNoAlloc(t *testing.T) {
	keys := []ann.Key{ann.IntKey(7), ann.TextKey("seven"), ann.UUIDKey([16]byte{7})}
	tab := newIDTable(func(id uint32) ann.Key { return keys[id] })
	for i, k := range keys {
		tab.put(k, uint32(i))
	}
	probe := []ann.Key{ann.IntKey(7), ann.IntKey(8), ann.TextKey("seven"), ann.UUIDKey([16]byte{7})}
	if n := testing.AllocsPerRun(100, func() {
		for _, k := range probe {
			tab.get(k)
		}
	}); n != 0 {
		t.Errorf("%v allocations per lookup round", n)
	}
}
