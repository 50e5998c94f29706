package hnsw

import (
	"slices"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
)

// Nodes that may have lost their last in-link at level 0. A full list that takes a new neighbour
// drops another entry (or refuses the newcomer); when that was the node's last in-link, no search
// reaches it. Under one-row-at-a-time churn (the differential tester's writers: 1,000 rows,
// updates and deletes) this left a few nodes unreachable until the next relink of a tenth more
// inserts, and searches with ef above the row count missed them. The dropped nodes are noted as
// they go and checked at the next commit (MaybeRelink): a node none of its own neighbours links
// back to is searched for and linked again then, as a relink does, without a walk of the graph.

// maxDropped bounds the noted nodes; past it the next MaybeRelink walks the whole graph.
const maxDropped = 4096

// noteDropped notes that node left a level-0 list (or was refused by one). Not under inner
// product: its lists point toward the longest vectors and rarely back, so most dropped nodes
// fail the check and relinking them all made a write 27 times slower; its graphs are walked
// after a 64th more inserts instead (MaybeRelink).
func (x *Index) noteDropped(node uint32) {
	if x.cfg.Metric == ann.InnerProduct {
		return
	}
	x.dropMu.Lock()
	if len(x.dropped) < maxDropped {
		x.dropped = append(x.dropped, node)
	} else {
		x.dropAll = true
	}
	x.dropMu.Unlock()
}

// takeDropped returns the noted nodes and whether there were too many to note, and forgets them.
func (x *Index) takeDropped() ([]uint32, bool) {
	x.dropMu.Lock()
	defer x.dropMu.Unlock()
	d, all := x.dropped, x.dropAll
	x.dropped, x.dropAll = nil, false
	return d, all
}

// relinkDropped relinks the live nodes among dropped that none of their level-0 neighbours links
// back to (their likeliest in-links: lists are built in both directions; a check costs about
// (2m)² words, far less than a walk of the graph). Relinking one can drop another: the nodes
// dropped meanwhile are checked again, and when a few rounds do not settle them, the whole graph
// is relinked (relinkOrphans). It reports whether it relinked any.
func (x *Index) relinkDropped(dropped []uint32) bool {
	did := false
	for range relinkPasses {
		if len(dropped) == 0 {
			return did
		}
		if !x.relinkDroppedOnce(dropped) {
			return did
		}
		did = true
		var all bool
		if dropped, all = x.takeDropped(); all {
			break
		}
	}
	x.relinkOrphans()
	return true
}

// relinkDroppedOnce is one round of relinkDropped.
func (x *Index) relinkDroppedOnce(dropped []uint32) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.allocMu.Lock()
	used := x.used
	x.allocMu.Unlock()
	slices.Sort(dropped)
	dropped = slices.Compact(dropped)
	var s *searcher
	for _, y := range dropped {
		if int(y) >= used || atomic.LoadUint32(&x.dead[y]) != 0 || x.linkedBack(y, ^uint32(0)) {
			continue
		}
		if s == nil {
			s = x.getSearcher()
			defer x.putSearcher(s)
		}
		x.relinkNode(s, y, used, nil, nil)
	}
	return s != nil
}

// linkedBack reports whether one of y's level-0 neighbours other than except has y in its list.
// Caller holds mu.
func (x *Index) linkedBack(y, except uint32) bool {
	if x.top >= 0 && x.entry == y {
		return true // searches start there
	}
	lst := x.list(y, 0)
	n := atomic.LoadUint32(&lst[0])
	for i := uint32(1); i <= n; i++ {
		nb := atomic.LoadUint32(&lst[i])
		if nb == except {
			continue
		}
		nl := x.list(nb, 0)
		nn := atomic.LoadUint32(&nl[0])
		for j := uint32(1); j <= nn; j++ {
			if atomic.LoadUint32(&nl[j]) == y {
				return true
			}
		}
	}
	return false
}

// replaceSpare puts newID in place of the last entry of node's full level-0 list when that entry
// is linked back to by one of its own neighbours (so it keeps an in-link); it reports whether it
// did. Caller holds mu.
func (x *Index) replaceSpare(node, newID uint32) bool {
	lk := &x.locks[node%uint32(len(x.locks))]
	lk.Lock()
	defer lk.Unlock()
	lst := x.list(node, 0)
	n := atomic.LoadUint32(&lst[0])
	if n == 0 {
		return false
	}
	e := atomic.LoadUint32(&lst[n])
	if e == newID || !x.linkedBack(e, node) {
		return e == newID
	}
	atomic.StoreUint32(&lst[n], newID)
	return true
}
