package live

// dense numbers values densely (ids 0, 1, …) and reuses the ids of released values, so arrays
// indexed by id stay compact. The INCLUDE store numbers its rows (slots) and each column its
// values with one. Not safe for concurrent use: its owner's lock guards it.
type dense[V comparable] struct {
	ids  map[V]uint32 // value → id
	vals []V          // id → value; the zero value on a released id
	free []uint32     // released ids, the last released reused first
}

func newDense[V comparable]() dense[V] { return dense[V]{ids: map[V]uint32{}} }

// id returns v's id, giving it one when it has none; grew reports that the new id extends vals
// (the owner's arrays indexed by id grow by one too).
func (d *dense[V]) id(v V) (id uint32, grew bool) {
	if id, ok := d.ids[v]; ok {
		return id, false
	}
	if n := len(d.free); n > 0 {
		id, d.free = d.free[n-1], d.free[:n-1]
		d.vals[id] = v
	} else {
		id, grew = uint32(len(d.vals)), true
		d.vals = append(d.vals, v)
	}
	d.ids[v] = id
	return id, grew
}

// release forgets the value of id, which a later value may then take.
func (d *dense[V]) release(id uint32) {
	var zero V
	delete(d.ids, d.vals[id])
	d.vals[id] = zero
	d.free = append(d.free, id)
}
