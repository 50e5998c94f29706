package hnsw

import (
	"runtime"
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
	if x.nDeleted == 0 {
		return
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
}

// repair rebuilds u's level-l list if it points to a tombstone: candidates
// are u's live neighbours and the live neighbours of its deleted ones.
func (x *Index) repair(s *searcher, u uint32, l int, tomb func(uint32) bool) {
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
	s.newGen()
	vis, gen := s.visited, s.gen
	vis[u] = gen
	cands := s.ltmp[:0]
	add := func(c uint32) {
		if vis[c] == gen || x.dead[c] != 0 || int(x.levels[c]) < l {
			return
		}
		vis[c] = gen
		cands = append(cands, topk.Item{Dist: x.nodeDist(u, c), ID: c})
	}
	for i := 1; i <= n; i++ {
		c := atomic.LoadUint32(&lst[i])
		if !tomb(c) {
			add(c)
			continue
		}
		// Deleted: its neighbours (one hop; tombstone lists are not
		// rewritten during compaction).
		dl := x.list(c, l)
		dn := int(atomic.LoadUint32(&dl[0]))
		for j := 1; j <= dn; j++ {
			add(atomic.LoadUint32(&dl[j]))
		}
	}
	sortItems(cands)
	mmax := x.m
	if l == 0 {
		mmax = x.m0
	}
	sel := x.selectNeighbors(s.lsel, cands, mmax)
	for i, c := range sel {
		atomic.StoreUint32(&lst[1+i], c.ID)
	}
	atomic.StoreUint32(&lst[0], uint32(len(sel)))
	s.ltmp, s.lsel = cands, sel
}
