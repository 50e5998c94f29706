// Package idmap maps primary keys (ann.Key) to dense internal uint32 ids and
// back. It is not safe for concurrent use: the owning index guards it with
// its own lock.
package idmap

import "github.com/vecgate/vecgate/ann"

// Map is a bidirectional Key <-> id map with a free list of released ids.
type Map struct {
	ids  map[ann.Key]uint32
	keys []ann.Key // by id; meaningful only where live[id]
	live []bool
	free []uint32 // released ids, reused LIFO
	n    int      // live count
}

// New returns an empty map.
func New() *Map { return &Map{ids: make(map[ann.Key]uint32)} }

// Lookup returns key's id.
func (m *Map) Lookup(key ann.Key) (uint32, bool) {
	id, ok := m.ids[key]
	return id, ok
}

// Key returns the key of a live id.
func (m *Map) Key(id uint32) ann.Key { return m.keys[id] }

// Live reports whether id is assigned.
func (m *Map) Live(id uint32) bool { return int(id) < len(m.live) && m.live[id] }

// Len returns the number of live keys.
func (m *Map) Len() int { return m.n }

// Cap returns one past the largest id ever assigned.
func (m *Map) Cap() int { return len(m.keys) }

// Insert assigns key a fresh id (reusing a released one when reuse is true)
// and returns it. key must not be present.
func (m *Map) Insert(key ann.Key, reuse bool) uint32 {
	var id uint32
	if reuse && len(m.free) > 0 {
		id = m.free[len(m.free)-1]
		m.free = m.free[:len(m.free)-1]
		m.keys[id] = key
		m.live[id] = true
	} else {
		id = uint32(len(m.keys))
		m.keys = append(m.keys, key)
		m.live = append(m.live, true)
	}
	m.ids[key] = id
	m.n++
	return id
}

// Set records key at a specific id (used by loaders); ids between the old
// capacity and id are created released.
func (m *Map) Set(key ann.Key, id uint32) {
	for uint32(len(m.keys)) <= id {
		m.keys = append(m.keys, ann.Key{})
		m.live = append(m.live, false)
	}
	m.keys[id] = key
	m.live[id] = true
	m.ids[key] = id
	m.n++
}

// Remove unassigns key and returns its id; the id is not reusable until
// Release.
func (m *Map) Remove(key ann.Key) (uint32, bool) {
	id, ok := m.ids[key]
	if !ok {
		return 0, false
	}
	delete(m.ids, key)
	m.live[id] = false
	m.keys[id] = ann.Key{}
	m.n--
	return id, true
}

// Release makes a removed id reusable by Insert.
func (m *Map) Release(id uint32) { m.free = append(m.free, id) }

// Free returns the number of released ids.
func (m *Map) Free() int { return len(m.free) }

// MemoryBytes estimates the map's heap use.
func (m *Map) MemoryBytes() int64 {
	var s int64
	for k := range m.ids {
		s += int64(len(k.Text()))
		if k.Kind() == ann.KindUUID {
			s += 16
		}
	}
	// map entry ≈ key struct (40) + value (4) + overhead; key slice 40/entry.
	return s + int64(len(m.ids))*56 + int64(cap(m.keys))*40 + int64(cap(m.live)) + int64(cap(m.free))*4
}
