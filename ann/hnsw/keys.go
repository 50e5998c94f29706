package hnsw

import "github.com/vecgate/vecgate/ann"

// Primary keys. Most tables have integer primary keys, so those take a compact path: the node's
// key is an int64 in nodeInt, where a general ann.Key costs 40 bytes. uuid and text keys take
// the general path: nodeKeys, allocated to the index's capacity the first time such a key
// arrives (under mu held exclusively, like growth). A node whose nodeKeys entry is the zero Key
// (an integer key) has its key in nodeInt, so an index can hold both kinds. The map from keys to
// nodes (ids, an idTable) reads the keys from these arrays instead of storing them again.

// key returns node id's primary key. Caller holds mu (shared is enough: nodeKeys and nodeInt
// are replaced only under mu held exclusively, and a node's entry is written before the node is
// published).
func (x *Index) key(id uint32) ann.Key {
	if x.nodeKeys != nil {
		if k := x.nodeKeys[id]; k.Kind() != ann.KindInt {
			return k
		}
	}
	return ann.IntKey(x.nodeInt[id])
}

// setKey records k as node id's key. Caller holds mu and allocMu and owns the slot (not yet
// published); for a non-integer key nodeKeys must be allocated (needKeyTable).
func (x *Index) setKey(id uint32, k ann.Key) {
	x.clearKey(id)
	if k.Kind() == ann.KindInt {
		x.nodeInt[id] = k.Int()
		return
	}
	x.nodeKeys[id] = k
	x.keyBytes += int64(keyPayload(k))
}

// clearKey drops a slot's key (so a text key's string is not kept alive by a freed slot).
// Caller holds allocMu and mu, exclusively unless the slot is unpublished.
func (x *Index) clearKey(id uint32) {
	x.nodeInt[id] = 0
	if x.nodeKeys != nil {
		x.keyBytes -= int64(keyPayload(x.nodeKeys[id]))
		x.nodeKeys[id] = ann.Key{}
	}
}

// needKeyTable reports whether k needs the general key table and it is not allocated yet.
func (x *Index) needKeyTable(k ann.Key) bool {
	return k.Kind() != ann.KindInt && x.nodeKeys == nil
}

// allocKeyTableLocked allocates nodeKeys for the index's capacity. Caller holds mu exclusively
// (or owns x alone).
func (x *Index) allocKeyTableLocked() {
	if x.nodeKeys == nil {
		x.nodeKeys = make([]ann.Key, x.capacity())
	}
}

// lookup returns the node of key k. Caller holds mu (shared) and allocMu.
func (x *Index) lookup(k ann.Key) (uint32, bool) { return x.ids.get(k) }

// bind maps key k to node id, whose key it must already be (setKey). Caller holds mu (shared)
// and allocMu.
func (x *Index) bind(k ann.Key, id uint32) { x.ids.put(k, id) }

// unbind removes key k. Caller holds mu (shared) and allocMu.
func (x *Index) unbind(k ann.Key) { x.ids.remove(k) }

// numKeys is the number of live keys. Caller holds allocMu.
func (x *Index) numKeys() int { return x.ids.n }

// keyPayload is the heap a uuid or text key's string holds (0 for an integer key).
func keyPayload(k ann.Key) int {
	switch k.Kind() {
	case ann.KindUUID:
		return 16
	case ann.KindText:
		return len(k.Text())
	}
	return 0
}
