package hnsw

import (
	"hash/maphash"

	"github.com/vecgate/vecgate/ann"
)

// idTable maps primary keys to nodes. It stores node ids only and reads a slot's key from the
// node arrays (keyOf), so a key is not stored twice: 4 bytes a slot at most 3/4 full, 5.3 to 10.7
// bytes a key, where Go 1.26's map[int64]uint32 takes 24 to 38 bytes an entry and
// map[ann.Key]uint32 63 to 100. Open addressing with linear probing; a removal shifts the rest
// of its probe run back instead of leaving a tombstone, so churn does not lengthen lookups.
//
// keyOf(id) must return node id's key from before the id is put until after it is removed. The
// index uses the table under allocMu only.
type idTable struct {
	slots []uint32 // node id + 1; 0 is an empty slot
	n     int
	seed  maphash.Seed // per table: crafted keys cannot be made to collide
	keyOf func(id uint32) ann.Key
}

func newIDTable(keyOf func(uint32) ann.Key) idTable {
	return idTable{seed: maphash.MakeSeed(), keyOf: keyOf}
}

func (t *idTable) home(k ann.Key) int {
	return int(maphash.Comparable(t.seed, k) & uint64(len(t.slots)-1))
}

// find returns k's slot, or the empty slot where it would go.
func (t *idTable) find(k ann.Key) (pos int, ok bool) {
	mask := len(t.slots) - 1
	for i := t.home(k); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return i, false
		}
		if t.keyOf(s-1) == k {
			return i, true
		}
	}
}

// get returns the node of key k.
func (t *idTable) get(k ann.Key) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	i, ok := t.find(k)
	return t.slots[i] - 1, ok
}

// put maps k, which must be keyOf(id), to node id, replacing the node k had.
func (t *idTable) put(k ann.Key, id uint32) {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.resize(max(16, 2*len(t.slots)))
	}
	i, ok := t.find(k)
	if !ok {
		t.n++
	}
	t.slots[i] = id + 1
}

// remove drops key k and reports whether it was there.
func (t *idTable) remove(k ann.Key) bool {
	if t.n == 0 {
		return false
	}
	i, ok := t.find(k)
	if !ok {
		return false
	}
	t.n--
	// Close the gap at i: an entry further along the run moves back into it unless its home
	// lies cyclically in (i, j], where a lookup reaches it without passing i.
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		h := t.home(t.keyOf(t.slots[j] - 1))
		if (i < j && i < h && h <= j) || (i > j && (i < h || h <= j)) {
			continue
		}
		t.slots[i] = t.slots[j]
		i = j
	}
	t.slots[i] = 0
	return true
}

func (t *idTable) resize(n int) {
	old := t.slots
	t.slots = make([]uint32, n)
	for _, s := range old {
		if s != 0 {
			i, _ := t.find(t.keyOf(s - 1))
			t.slots[i] = s
		}
	}
}

// renumber replaces every node id with newID[id] (the keys, so the slots, stay).
func (t *idTable) renumber(newID []uint32) {
	for i, s := range t.slots {
		if s != 0 {
			t.slots[i] = newID[s-1] + 1
		}
	}
}

// bytes is the memory the table takes.
func (t *idTable) bytes() int64 { return int64(cap(t.slots)) * 4 }
