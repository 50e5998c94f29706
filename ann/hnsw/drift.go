package hnsw

import (
	"sync"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/topk"
	"github.com/vecgate/vecgate/vecmath"
)

// Drift: an SQ8 codec keeps the quantiles of the rows it was trained on, and a row inserted later
// whose components lie far outside them is clipped to codes that do not place it: many such rows
// share the same codes, the graph walk cannot tell them apart, and a search for one of them can
// miss it altogether (in a 784-d test, 26 rows of 30 were not their own nearest neighbour).
//
// Each inserted row's clipped share (sq8.Codec.Clipped) is measured against the index's drift
// bound (sq8.Codec.DriftBound, calibrated on the training rows). A row past it is linked into the
// graph as any other, and also put on the side list: every search scans the side list exactly
// (float32, whatever the codes say) and merges its best rows with the graph's candidates, so a
// drifted row is found whenever it belongs in an answer. A codes-only index keeps the side rows'
// float32 vectors on the list for this; an index that keeps vectors reads its own.
//
// The side list is cheap while short and costs a scan of its rows per search when long. The owner
// re-quantises (Requantize, in the background) when it grows: a codec trained on all rows, codes
// computed outside the exclusive lock, swapped in; rows the new codec covers leave the side list
// and are linked again from their true neighbours. Per-vector scales would keep one distance
// kernel for every row but change every code's layout and the hot loop; the side list leaves the
// codes and the kernel as they are and is exact for the rows it holds.
type sideList struct {
	mu   sync.RWMutex
	n    atomic.Int64         // len(ids), read without mu: searches skip an empty list unlocked
	ids  []uint32             // nodes on the list; guarded by mu
	pos  map[uint32]int       // node -> position in ids; guarded by mu
	vecs map[uint32][]float32 // codes-only index: the node's prepared vector; guarded by mu
}

// add puts node id on the list (vec: its prepared vector, kept when the index holds no vectors).
func (s *sideList) add(id uint32, vec []float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pos == nil {
		s.pos = map[uint32]int{}
	}
	if _, ok := s.pos[id]; !ok {
		s.pos[id] = len(s.ids)
		s.ids = append(s.ids, id)
	}
	if vec != nil {
		if s.vecs == nil {
			s.vecs = map[uint32][]float32{}
		}
		s.vecs[id] = vec
	}
	s.n.Store(int64(len(s.ids)))
}

// remove takes node id off the list, if it is on it.
func (s *sideList) remove(id uint32) {
	if s.n.Load() == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pos[id]
	if !ok {
		return
	}
	last := s.ids[len(s.ids)-1]
	s.ids[p] = last
	s.pos[last] = p
	s.ids = s.ids[:len(s.ids)-1]
	delete(s.pos, id)
	delete(s.vecs, id)
	s.n.Store(int64(len(s.ids)))
}

// has reports whether node id is on the list, and its kept vector.
func (s *sideList) has(id uint32) ([]float32, bool) {
	if s.n.Load() == 0 {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.pos[id]
	return s.vecs[id], ok
}

// set replaces the list (a re-quantisation's swap, a load, a reorder).
func (s *sideList) set(ids []uint32, vecs map[uint32][]float32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids, s.vecs = ids, vecs
	s.pos = make(map[uint32]int, len(ids))
	for i, id := range ids {
		s.pos[id] = i
	}
	s.n.Store(int64(len(ids)))
}

// bytes is the memory the list takes: its ids and positions, and the vectors it keeps.
func (s *sideList) bytes() int64 {
	if s.n.Load() == 0 {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := int64(cap(s.ids))*4 + int64(len(s.pos))*16
	for _, v := range s.vecs {
		b += int64(cap(v))*4 + 16
	}
	return b
}

// snapshot returns a copy of the list's nodes and their kept vectors.
func (s *sideList) snapshot() ([]uint32, map[uint32][]float32) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := append([]uint32(nil), s.ids...)
	var vecs map[uint32][]float32
	if s.vecs != nil {
		vecs = make(map[uint32][]float32, len(s.vecs))
		for id, v := range s.vecs {
			vecs[id] = v
		}
	}
	return ids, vecs
}

// Drifted returns how many rows sit on the side list: rows whose SQ8 codes clip them past the
// drift bound, searched exactly beside the graph (0 for an unquantised index).
func (x *Index) Drifted() int { return int(x.side.n.Load()) }

// DriftBound returns the clipped share past which a row goes on the side list (0 before the
// codec is trained, and for an unquantised index).
func (x *Index) DriftBound() float64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.bound
}

// prepared returns vec as the index ranks it: normalised for cosine (into a new slice), else vec.
func (x *Index) prepared(vec []float32) []float32 {
	if x.cfg.Metric != ann.Cosine {
		return vec
	}
	n := append([]float32(nil), vec...)
	vecmath.Normalize(n)
	return n
}

// noteDrift puts node id on the side list when its prepared vector pv is clipped past the bound
// (a codes-only index keeps a copy of pv there). Caller holds mu (shared) and owns the
// unpublished slot.
func (x *Index) noteDrift(id uint32, pv []float32) {
	if x.sq == nil || x.sq.Clipped(pv) <= x.bound {
		return
	}
	var keep []float32
	if !x.raw {
		keep = append([]float32(nil), pv...)
	}
	x.side.add(id, keep)
}

// rankFloat is the ranking distance between a prepared query and a vector, in the units of dist
// on codes: squared L2, 1 - cos (as |a-b|²/2 of unit vectors), or -dot. inv is 1/|v| (1 for a
// unit vector).
func (x *Index) rankFloat(q, v []float32, inv float32) float32 {
	switch x.cfg.Metric {
	case ann.L2:
		return vecmath.L2Squared(q, v)
	case ann.Cosine:
		return 1 - vecmath.Dot(q, v)*inv
	}
	return -vecmath.Dot(q, v)
}

// mergeSide adds to items (ascending) the side list's best kk rows the filter accepts, ranked
// exactly, and returns the best kk of both, ascending. Caller holds mu shared.
func (x *Index) mergeSide(q *query, items []topk.Item, kk int, filter func(ann.Key) bool) []topk.Item {
	if x.side.n.Load() == 0 {
		return items
	}
	var h topk.Max
	x.side.mu.RLock()
	for _, id := range x.side.ids {
		if atomic.LoadUint32(&x.dead[id]) != 0 || filter != nil && !filter(x.key(id)) {
			continue
		}
		v, inv := x.side.vecs[id], float32(1) // a codes-only index's, normalised
		if v == nil {
			v = x.exactVec(q, id) // kept as given
			if x.inv.width > 0 {
				inv = x.inv.at(id)[0]
			}
		}
		h.PushBounded(topk.Item{Dist: x.rankFloat(q.f, v, inv), ID: id}, kk)
	}
	defer x.side.mu.RUnlock()
	if h.Len() == 0 {
		return items
	}
	out := make([]topk.Item, 0, len(items)+h.Len())
	for _, it := range items {
		if _, on := x.side.pos[it.ID]; !on { // its code distance is wrong: the exact one replaces it
			out = append(out, it)
		}
	}
	out = append(out, h.SortedAscending(nil)...)
	topk.Sort(out)
	return out[:min(kk, len(out))]
}
