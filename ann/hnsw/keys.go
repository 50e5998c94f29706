package hnsw

import "github.com/vecgate/vecgate/ann"

// Primary keys. Most tables have integer primary keys, so those take a compact path: the node's
// key is an int64 in nodeInt and the key's node an entry of intIDs (a map[int64]uint32: about
// 24 to 38 bytes an entry with Go 1.26's maps), where a general ann.Key costs 40 bytes in a
// per-node array and 63 to 100 bytes in a map[ann.Key]uint32. uuid and text keys take the
// general path: nodeKeys, allocated to the index's capacity the first time such a key arrives
// (under mu held exclusively, like growth), and otherIDs. A node whose nodeKeys entry is the
// zero Key (an integer key) has its key in nodeInt, so an index can hold both kinds.
//
// Memory estimates per map entry, measured with Go 1.26 swiss tables between 1,000 and 500,000
// entries (the per-entry cost swings with how full the last doubling left the table): these are
// the averages MemoryBytes counts.
const (
	intMapEntryBytes   = 30
	otherMapEntryBytes = 80
)

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

// setKey records k as node id's key. Caller holds mu and owns the slot (not yet published, or
// mu exclusive); for a non-integer key nodeKeys must be allocated (needKeyTable).
func (x *Index) setKey(id uint32, k ann.Key) {
	if k.Kind() == ann.KindInt {
		x.nodeInt[id] = k.Int()
		if x.nodeKeys != nil {
			x.nodeKeys[id] = ann.Key{}
		}
		return
	}
	x.nodeInt[id] = 0
	x.nodeKeys[id] = k
}

// clearKey drops a freed slot's key (so a text key's string is not kept alive). Caller holds mu
// exclusively.
func (x *Index) clearKey(id uint32) {
	x.nodeInt[id] = 0
	if x.nodeKeys != nil {
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

// lookup returns the node of key k. Caller holds allocMu.
func (x *Index) lookup(k ann.Key) (uint32, bool) {
	if k.Kind() == ann.KindInt {
		id, ok := x.intIDs[k.Int()]
		return id, ok
	}
	id, ok := x.otherIDs[k]
	return id, ok
}

// bind maps key k to node id (replacing any earlier node). Caller holds allocMu.
func (x *Index) bind(k ann.Key, id uint32) {
	if k.Kind() == ann.KindInt {
		x.intIDs[k.Int()] = id
		return
	}
	if _, ok := x.otherIDs[k]; !ok {
		x.keyBytes += int64(keyPayload(k))
	}
	x.otherIDs[k] = id
}

// unbind removes key k. Caller holds allocMu.
func (x *Index) unbind(k ann.Key) {
	if k.Kind() == ann.KindInt {
		delete(x.intIDs, k.Int())
		return
	}
	if _, ok := x.otherIDs[k]; ok {
		x.keyBytes -= int64(keyPayload(k))
		delete(x.otherIDs, k)
	}
}

// numKeys is the number of live keys. Caller holds allocMu.
func (x *Index) numKeys() int { return len(x.intIDs) + len(x.otherIDs) }

// keyPayload is the heap a uuid or text key's string holds.
func keyPayload(k ann.Key) int {
	switch k.Kind() {
	case ann.KindUUID:
		return 16
	case ann.KindText:
		return len(k.Text())
	}
	return 0
}
