package hnsw

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/topk"
)

// Delete implements ann.Index. The node becomes a tombstone; when
// tombstones exceed Config.CompactRatio of the nodes, Delete compacts before
// returning.
func (x *Index) Delete(key ann.Key) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	ok := x.deleteLocked(key)
	if ok && x.cfg.CompactRatio > 0 && x.nDeleted >= 16 &&
		float64(x.nDeleted) > x.cfg.CompactRatio*float64(x.nDeleted+int(x.nLive.Load())) {
		x.compactLocked()
	}
	return ok
}

// deleteLocked tombstones key. Caller holds mu exclusively.
func (x *Index) deleteLocked(key ann.Key) bool {
	x.allocMu.Lock()
	id, ok := x.lookup(key)
	if ok {
		x.unbind(key)
	}
	x.allocMu.Unlock()
	if !ok {
		return false
	}
	atomic.StoreUint32(&x.dead[id], 1)
	x.side.remove(id)
	x.nLive.Add(-1)
	x.nDeleted++
	return true
}

// Tombstones returns the number of deleted nodes not yet compacted.
func (x *Index) Tombstones() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.nDeleted
}

// Compact repairs the neighbour lists that point to deleted nodes and frees
// the deleted slots for reuse. It blocks searches and inserts while it runs.
func (x *Index) Compact() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.compactLocked()
}

func (x *Index) compactLocked() {
	if x.nDeleted == 0 || x.frozen.Load() != nil {
		return // while a View is open, nothing is freed: a later Delete compacts
	}
	x.allocMu.Lock()
	used := x.used
	isFree := make(map[uint32]bool, len(x.free))
	for _, f := range x.free {
		isFree[f] = true
	}
	x.allocMu.Unlock()
	tomb := func(id uint32) bool { return x.dead[id] != 0 && !isFree[id] }

	// Repair live nodes in parallel; each worker writes only its own nodes'
	// lists, reads others' with atomic loads.
	threads := x.cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			s := x.getSearcher()
			defer x.putSearcher(s)
			for {
				u := uint32(next.Add(1) - 1)
				if int(u) >= used {
					return
				}
				if x.dead[u] != 0 {
					continue
				}
				for l := 0; l <= int(x.levels[u]); l++ {
					x.repair(s, u, l, tomb)
				}
			}
		})
	}
	wg.Wait()

	// Unlink and free the tombstones.
	x.allocMu.Lock()
	for i := range used {
		id := uint32(i)
		if !tomb(id) {
			continue
		}
		clear(x.list(id, 0))
		if l := x.levels[id]; l > 0 {
			// Its upper rows go to a node of the same level later (insert clears them).
			x.upperFree[l-1] = append(x.upperFree[l-1], x.upperAt[id])
		}
		x.levels[id] = 0
		x.clearKey(id)
		if x.raw {
			clear(x.vec(id))
		}
		x.free = append(x.free, id)
	}
	x.allocMu.Unlock()
	x.nDeleted = 0

	if x.dead[x.entry] != 0 {
		x.top = -1
		for i := range used {
			if x.dead[i] == 0 && int(x.levels[i]) > x.top {
				x.entry, x.top = uint32(i), int(x.levels[i])
			}
		}
	}
	// Repairs choose among the neighbours they found; a node whose in-links all went can still
	// be left out. Link those again (a walk of level 0, cheap beside the repairs).
	x.inserted.Store(0)
	for range relinkPasses {
		if x.relinkPass() == 0 {
			break
		}
	}
}

// repair rebuilds u's level-l list if it points to a tombstone: candidates are u's live
// neighbours and the live nodes reached from its deleted ones through chains of tombstones (up to
// repairHops deep: after a bulk delete most neighbours of a deleted node are deleted too, and one
// hop finds nothing). When that gives fewer than half a list, u's neighbours are searched for in
// the graph, which tombstones still route (nothing is freed until every list is repaired), as an
// insertion searches for them. Caller holds mu exclusively; workers repair disjoint nodes.
func (x *Index) repair(s *searcher, u uint32, l int, tomb func(uint32) bool) {
	x.beforeWrite(u, l)
	lst := x.list(u, l)
	n := int(atomic.LoadUint32(&lst[0]))
	hit := false
	for i := 1; i <= n; i++ {
		if tomb(atomic.LoadUint32(&lst[i])) {
			hit = true
			break
		}
	}
	if !hit {
		return
	}
	mmax := x.m
	if l == 0 {
		mmax = x.m0
	}
	s.newGen()
	vis, gen := s.visited, s.gen
	vis[u] = gen
	cands := s.ltmp[:0]
	frontier := s.batch[:0]
	add := func(c uint32) {
		if vis[c] == gen {
			return
		}
		vis[c] = gen
		switch {
		case tomb(c) && int(x.levels[c]) >= l:
			frontier = append(frontier, c)
		case x.dead[c] == 0 && int(x.levels[c]) >= l:
			cands = append(cands, topk.Item{Dist: x.nodeDist(u, c), ID: c})
		}
	}
	for i := 1; i <= n; i++ {
		add(atomic.LoadUint32(&lst[i]))
	}
	// Tombstone lists are not rewritten during compaction: walk them breadth first.
	for hop := 0; hop < repairHops && len(frontier) > 0 && len(cands) < 4*mmax; hop++ {
		cur := frontier
		frontier = nil
		for _, c := range cur {
			dl := x.list(c, l)
			dn := int(atomic.LoadUint32(&dl[0]))
			for j := 1; j <= dn; j++ {
				add(atomic.LoadUint32(&dl[j]))
			}
		}
	}
	s.batch = frontier[:0]
	if len(cands) < mmax/2 && x.top >= l {
		cands = x.searchLive(s, u, l, cands, tomb)
	}
	topk.Sort(cands)
	sel := x.selectNeighbors(s.lsel, cands, mmax)
	// The heuristic keeps few neighbours where candidates crowd one direction (inner product:
	// the longest vectors): a list that was full loses out-links with every repair, and the
	// graph thins out under churn. Fill up to the list's former length with the nearest ones
	// the heuristic passed over.
	for _, c := range cands {
		if len(sel) >= min(n, mmax) {
			break
		}
		if !slices.ContainsFunc(sel, func(it topk.Item) bool { return it.ID == c.ID }) {
			sel = append(sel, c)
		}
	}
	for i, c := range sel {
		atomic.StoreUint32(&lst[1+i], c.ID)
	}
	atomic.StoreUint32(&lst[0], uint32(len(sel)))
	s.ltmp, s.lsel = cands, sel
}

// repairHops bounds how many tombstones deep repair looks for a node's new neighbours.
const repairHops = 3

// searchLive appends to cands the live nodes of level l or above nearest to u (not u itself, and
// none already in cands), found by a search of the graph from the entry point with
// ef_construction. Caller holds mu exclusively (compaction).
func (x *Index) searchLive(s *searcher, u uint32, l int, cands []topk.Item, tomb func(uint32) bool) []topk.Item {
	nq := x.nodeQuery(u)
	q := &nq
	ep, epDist := x.greedy(q, x.entry, x.dist(q, x.entry), x.top, l)
	s.newGen()
	x.searchLayer(s, q, ep, epDist, x.cfg.EFConstruction, l, func(c uint32) bool {
		return c != u && !tomb(c) && x.dead[c] == 0 && int(x.levels[c]) >= l
	})
	found := s.res.SortedAscending(s.tmp[:0])
	s.tmp = found
	for _, c := range found {
		if !slices.ContainsFunc(cands, func(it topk.Item) bool { return it.ID == c.ID }) {
			cands = append(cands, c)
		}
	}
	return cands
}
