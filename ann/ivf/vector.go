package ivf

import "github.com/vecgate/vecgate/ann"

// Vector returns a copy of the vector stored under key: as given for L2, inner product and L1,
// normalised for cosine (which ranks the same). It reports false when the key is absent or the
// index keeps only quantised codes (no KeepVectors).
func (x *Index) Vector(key ann.Key) ([]float32, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	id, ok := x.ids[key]
	if !ok {
		return nil, false
	}
	d := x.cfg.Dims
	pos := int(x.nodePos[id])
	switch c := x.nodeCell[id]; {
	case c == pendingCell:
		return append([]float32(nil), x.pendVecs[pos*d:(pos+1)*d]...), true
	case x.quantised() && x.cfg.KeepVectors:
		return append([]float32(nil), x.raw[int(id)*d:int(id+1)*d]...), true
	case !x.quantised():
		return append([]float32(nil), x.cells[c].vecs[pos*d:(pos+1)*d]...), true
	}
	return nil, false
}
