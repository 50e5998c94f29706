package hnsw

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/metricfn"
)

// unreachable returns the live nodes a level-0 walk from the entry point does not reach (the walk
// passes through tombstones, which still route searches). A search can only return what the walk
// reaches, so this must always be empty.
func (x *Index) unreachable() []uint32 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.allocMu.Lock()
	used := x.used
	x.allocMu.Unlock()
	var lost []uint32
	if x.top < 0 {
		for i := range used {
			if x.dead[i] == 0 {
				lost = append(lost, uint32(i))
			}
		}
		return lost
	}
	seen := make([]bool, used)
	seen[x.entry] = true
	queue := []uint32{x.entry}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		lst := x.list(id, 0)
		for j := uint32(1); j <= lst[0]; j++ {
			if nb := lst[j]; !seen[nb] {
				seen[nb] = true
				queue = append(queue, nb)
			}
		}
	}
	for i := range used {
		if x.dead[i] == 0 && !seen[i] {
			lost = append(lost, uint32(i))
		}
	}
	return lost
}

// checkGraph fails t unless every live node is reachable, the entry point is live whenever a live
// node exists, and the upper levels name only live nodes of their level (after a compaction).
func checkGraph(t *testing.T, x *Index, what string) {
	t.Helper()
	if lost := x.unreachable(); len(lost) > 0 {
		t.Fatalf("%s: %d of %d live nodes unreachable from the entry point (first %v)", what, len(lost), x.nLive.Load(), lost[:min(len(lost), 10)])
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.nLive.Load() > 0 && x.nDeleted == 0 && (x.top < 0 || x.dead[x.entry] != 0) {
		t.Fatalf("%s: entry point %d (top %d) is not a live node", what, x.entry, x.top)
	}
}

// checkExact fails t unless a search with ef at least the index's size returns the exact top k
// of the live rows (model: key → vector).
func checkExact(t *testing.T, x *Index, model map[ann.Key][]float32, qs [][]float32, k int, what string) {
	t.Helper()
	checkExactEF(t, x, model, qs, k, len(model)+10, what)
}

// checkExactEF is checkExact with search list size ef. Below the live rows (a scan from there
// on), a walk of the graph is exact when every live node is reachable and the top k are among the
// ef best found.
func checkExactEF(t *testing.T, x *Index, model map[ann.Key][]float32, qs [][]float32, k, ef int, what string) {
	t.Helper()
	for qi, q := range qs {
		want := make([]ann.Result, 0, len(model))
		for key, v := range model {
			want = append(want, ann.Result{Key: key, Distance: metricfn.Exact(x.cfg.Metric, q, v)})
		}
		slices.SortFunc(want, func(a, b ann.Result) int {
			return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(a.Key.Int(), b.Key.Int()))
		})
		want = want[:min(k, len(want))]
		got, err := x.Search(context.Background(), q, k, ann.SearchOptions{EF: ef})
		if len(model) == 0 {
			if len(got) != 0 {
				t.Fatalf("%s: query %d on an empty index: %v", what, qi, got)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: query %d: %v", what, qi, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: query %d: %d results, want %d (%d live rows)", what, qi, len(got), len(want), len(model))
		}
		for i := range want { // equal distances may come in either order; cosine normalises first
			if d := got[i].Distance - want[i].Distance; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%s: query %d: result %d is %v, want %v", what, qi, i, got[i], want[i])
			}
		}
	}
}

func randVec(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

// TestDeletesKeepGraphConnected: after random sequences of inserts (one at a time, concurrent, in
// batches) and deletes (single, bulk, of the entry point, of most of the graph), with and without
// automatic compaction, every live node stays reachable from the entry point and a search wide
// enough returns the exact top k. The bulk case is the report: 32 sessions insert 5,500 rows one
// at a time into a table, one DELETE removes them, and every query then found nothing.
// nSeeds: each seed takes a metric, an m and compaction on or off in turn.
const nSeeds = 4

func TestDeletesKeepGraphConnected(t *testing.T) {
	const dims = 8
	metrics := []ann.Metric{ann.L2, ann.InnerProduct, ann.L1, ann.Cosine}
	for seed := range uint64(nSeeds) {
		m := metrics[seed%uint64(len(metrics))]
		t.Run(fmt.Sprintf("%v/seed%d", m, seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			cfg := DefaultConfig(m, dims)
			cfg.M, cfg.EFConstruction, cfg.Seed, cfg.Threads = 4+int(seed%3)*6, 32, seed, 2
			if seed%2 == 1 {
				cfg.CompactRatio = -1 // tombstones only, compacted explicitly below
			}
			x, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			model := map[ann.Key][]float32{}
			next := int64(0)
			add := func(n int) []ann.Key {
				keys := make([]ann.Key, n)
				vecs := make([][]float32, n)
				for i := range n {
					keys[i], vecs[i] = ann.IntKey(next), randVec(r, dims)
					next++
				}
				// Concurrent single inserts, as replication of many sessions' rows, or a batch.
				if r.IntN(2) == 0 {
					var wg sync.WaitGroup
					var at atomic.Int64
					for range 4 {
						wg.Go(func() {
							for i := int(at.Add(1) - 1); i < n; i = int(at.Add(1) - 1) {
								if err := x.Add(keys[i], vecs[i]); err != nil {
									t.Error(err)
								}
							}
						})
					}
					wg.Wait()
				} else {
					flatv := slices.Concat(vecs...)
					if err := x.AddBatch(context.Background(), keys, flatv); err != nil {
						t.Fatal(err)
					}
				}
				for i, k := range keys {
					v := vecs[i]
					if m == ann.Cosine {
						v = slices.Clone(v)
					}
					model[k] = v
				}
				return keys
			}
			del := func(keys []ann.Key) {
				for _, k := range keys {
					if _, ok := model[k]; ok {
						if !x.Delete(k) {
							t.Fatalf("delete %v: not found", k)
						}
						delete(model, k)
					}
				}
			}
			qs := [][]float32{randVec(r, dims), randVec(r, dims), randVec(r, dims)}
			base := add(300)
			for step := range 4 {
				burst := add(600 + r.IntN(600))
				// Inserts alone can leave a node without in-links (a neighbour's list pruned it, as
				// in pgvector and hnswlib; rare); MaybeRelink, which live calls at every commit,
				// links it again once the inserts reach a tenth of the index (each burst does,
				// unless AddBatch relinked after it).
				x.MaybeRelink()
				checkGraph(t, x, fmt.Sprintf("step %d after inserts", step))
				switch step % 4 {
				case 0: // the report: the burst goes in one DELETE
					del(burst)
				case 1: // most of the graph, the base included
					del(burst)
					del(base[:len(base)*9/10])
					base = base[len(base)*9/10:]
				case 2: // the entry point, again and again
					for range 20 {
						x.mu.RLock()
						k := x.key(x.entry)
						x.mu.RUnlock()
						del([]ann.Key{k})
					}
					del(burst[:len(burst)/2])
				case 3: // random single deletes, interleaved with inserts
					for i, k := range burst {
						del([]ann.Key{k})
						if i%50 == 0 {
							add(5)
						}
					}
				}
				checkExact(t, x, model, qs, 10, fmt.Sprintf("step %d after deletes", step))
				if cfg.CompactRatio < 0 {
					x.Compact()
				}
				checkGraph(t, x, fmt.Sprintf("step %d after deletes", step))
				checkExact(t, x, model, qs, 10, fmt.Sprintf("step %d after compaction", step))
			}
			del(slices.Collect(func(yield func(ann.Key) bool) {
				for k := range model {
					if !yield(k) {
						return
					}
				}
			}))
			x.Compact()
			checkGraph(t, x, "everything deleted")
			add(50)
			checkGraph(t, x, "inserts into an emptied index")
			checkExact(t, x, model, qs, 10, "inserts into an emptied index")
		})
	}
}
