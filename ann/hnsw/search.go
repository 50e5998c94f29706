package hnsw

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/metricfn"
	"github.com/vecgate/vecgate/ann/internal/topk"
)

// Search implements ann.Index. opts.EF overrides Config.EFSearch and is
// raised to k; opts.Farthest is not supported (use ann/flat).
func (x *Index) Search(ctx context.Context, query []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	if err := ann.CheckK(k); err != nil {
		return nil, fmt.Errorf("hnsw: search: %w", err)
	}
	if opts.Farthest {
		return nil, fmt.Errorf("hnsw: search farthest: %w", ann.ErrUnsupported)
	}
	if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, query); err != nil {
		return nil, fmt.Errorf("hnsw: search: %w", err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	live := int(x.nLive.Load())
	if x.top < 0 || live <= 0 {
		return nil, fmt.Errorf("hnsw: search: %w", ann.ErrEmpty)
	}
	var qinv float32
	if x.cfg.Metric == ann.Cosine {
		qinv = metricfn.InvNorm(query)
	}
	ef := opts.EF
	if ef <= 0 {
		ef = x.cfg.EFSearch
	}
	ef = max(ef, k)

	var accept func(uint32) bool
	if opts.Filter != nil {
		sel := x.selectivity(opts.Filter)
		if float64(live)*sel <= float64(x.cfg.ExactFilterRows) {
			return x.exact(ctx, query, qinv, k, opts.Filter)
		}
		ef = min(int(float64(ef)/sel)+1, live)
		accept = func(id uint32) bool {
			return atomic.LoadUint32(&x.dead[id]) == 0 && opts.Filter(x.nodeKeys[id])
		}
	} else if x.nDeleted > 0 {
		accept = func(id uint32) bool { return atomic.LoadUint32(&x.dead[id]) == 0 }
	}
	s := x.getSearcher()
	defer x.putSearcher(s)
	ep := x.entry
	ep, epDist := x.greedy(query, qinv, ep, x.dist(query, qinv, ep), x.top, 0)
	x.searchLayer(s, query, qinv, ep, epDist, ef, 0, accept)
	for s.res.Len() > k {
		s.res.Pop()
	}
	items := s.res.SortedAscending(s.tmp[:0])
	s.tmp = items
	out := make([]ann.Result, len(items))
	for i, it := range items {
		out[i] = ann.Result{Key: x.nodeKeys[it.ID], Distance: metricfn.Exact(x.cfg.Metric, query, x.vec(it.ID))}
	}
	return out, nil
}

// selectivity estimates the fraction of live nodes the filter accepts from a
// deterministic sample of up to 256 live nodes; at least 1/(live+1).
func (x *Index) selectivity(filter func(ann.Key) bool) float64 {
	n := len(x.dead)
	const want = 256
	step := max(1, n/(4*want))
	seen, pass := 0, 0
	for i := 0; i < n && seen < want; i += step {
		if atomic.LoadUint32(&x.dead[i]) != 0 {
			continue
		}
		seen++
		if filter(x.nodeKeys[i]) {
			pass++
		}
	}
	if seen == 0 {
		return 1
	}
	return max(float64(pass)/float64(seen), 1/float64(x.nLive.Load()+1))
}

// exact scans every live node the filter accepts. Caller holds mu shared.
func (x *Index) exact(ctx context.Context, q []float32, qinv float32, k int, filter func(ann.Key) bool) ([]ann.Result, error) {
	var h topk.Max
	for i := range x.dead {
		if i&4095 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("hnsw: search: %w", ctx.Err())
		}
		id := uint32(i)
		if atomic.LoadUint32(&x.dead[id]) != 0 || !filter(x.nodeKeys[id]) {
			continue
		}
		h.PushBounded(topk.Item{Dist: x.dist(q, qinv, id), ID: id}, k)
	}
	items := h.SortedAscending(nil)
	out := make([]ann.Result, len(items))
	for i, it := range items {
		out[i] = ann.Result{Key: x.nodeKeys[it.ID], Distance: metricfn.Exact(x.cfg.Metric, q, x.vec(it.ID))}
	}
	return out, nil
}
