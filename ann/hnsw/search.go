package hnsw

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/metricfn"
	"github.com/vecgate/vecgate/ann/internal/topk"
	"github.com/vecgate/vecgate/vecmath"
)

// Search implements ann.Index. opts.EF overrides Config.EFSearch and is
// raised to k (to k×oversample for a quantised index that reranks);
// opts.Farthest scans every live node's kept vector (farthest); an index that
// keeps only codes does not support it.
func (x *Index) Search(ctx context.Context, vec []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	if err := ann.CheckK(k); err != nil {
		return nil, fmt.Errorf("hnsw: search: %w", err)
	}
	if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, vec); err != nil {
		return nil, fmt.Errorf("hnsw: search: %w", err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, fmt.Errorf("hnsw: search: %w", ErrClosed)
	}
	if opts.Farthest {
		return x.farthest(ctx, vec, k, opts.Filter)
	}
	live := int(x.nLive.Load())
	if x.top < 0 || live <= 0 {
		return nil, fmt.Errorf("hnsw: search: %w", ann.ErrEmpty)
	}
	s := x.getSearcher()
	defer x.putSearcher(s)
	q := query{f: vec, inv: 1}
	if x.vecs.file != nil {
		s.vbuf = slices.Grow(s.vbuf[:0], x.cfg.Dims)[:x.cfg.Dims]
		q.vbuf = s.vbuf
	}
	if x.cfg.Metric == ann.Cosine {
		s.qf = append(s.qf[:0], vec...)
		vecmath.Normalize(s.qf)
		q.f = s.qf
	}
	if x.quant {
		s.qc = append(s.qc[:0], make([]uint8, x.cfg.Dims)...)
		q.c = s.qc
		q.corr = x.encode(vec, q.c)
	}
	// Candidates to collect: k, or k×oversample when reranking.
	kk := k
	rerank := x.quant && x.raw
	if rerank {
		over := opts.Oversample
		if over < 1 {
			over = x.cfg.Oversample
		}
		kk = int(math.Ceil(float64(k) * over))
	}
	ef := opts.EF
	if ef <= 0 {
		ef = x.cfg.EFSearch
	}
	ef = max(ef, kk)

	if ef >= live {
		// The walk would visit every node: a scan does it for less, and in an order that cannot
		// miss one the graph no longer reaches.
		items, err := x.exact(ctx, &q, kk, opts.Filter)
		if err != nil {
			return nil, err
		}
		return x.results(&q, x.mergeSide(&q, items, kk, opts.Filter), k, rerank), nil
	}
	var accept func(uint32) bool
	if opts.Filter != nil {
		sel := x.selectivity(opts.Filter)
		if float64(live)*sel <= float64(x.cfg.ExactFilterRows) {
			items, err := x.exact(ctx, &q, kk, opts.Filter)
			if err != nil {
				return nil, err
			}
			return x.results(&q, x.mergeSide(&q, items, kk, opts.Filter), k, rerank), nil
		}
		ef = min(int(float64(ef)/sel)+1, live)
		accept = func(id uint32) bool {
			return atomic.LoadUint32(&x.dead[id]) == 0 && opts.Filter(x.key(id))
		}
	} else if x.nDeleted > 0 {
		accept = func(id uint32) bool { return atomic.LoadUint32(&x.dead[id]) == 0 }
	}
	entryDist := x.dist(&q, x.entry)
	ep, epDist := x.greedy(&q, x.entry, entryDist, x.top, 0)
	// Level 0 starts from the entry point too: the greedy descent can end in a part of the graph
	// whose lists lead nowhere else (a group of identical vectors), while every live node is
	// reachable from the entry point (relinkOrphans keeps it so).
	s.cand.Reset()
	s.res.Reset()
	s.seed(ep, epDist, accept)
	s.seed(x.entry, entryDist, accept)
	x.walkLayer(s, &q, ef, 0, accept)
	for s.res.Len() > kk {
		s.res.Pop()
	}
	s.tmp = s.res.SortedAscending(s.tmp[:0])
	return x.results(&q, x.mergeSide(&q, s.tmp, kk, opts.Filter), k, rerank), nil
}

// results turns candidates (ascending by ranking distance) into the top k
// with pgvector distances, reranking exactly when asked.
func (x *Index) results(q *query, items []topk.Item, k int, rerank bool) []ann.Result {
	if rerank {
		// Every candidate's exact distance, computed once; the best k are returned with it.
		exact := make([]ann.Result, len(items))
		for i, it := range items {
			exact[i] = ann.Result{Key: x.key(it.ID), Distance: metricfn.Exact(x.cfg.Metric, q.f, x.exactVec(q, it.ID))}
		}
		slices.SortStableFunc(exact, func(a, b ann.Result) int { return cmp.Compare(a.Distance, b.Distance) })
		return exact[:min(k, len(exact))]
	}
	items = items[:min(k, len(items))]
	out := make([]ann.Result, len(items))
	for i, it := range items {
		var d float64
		if x.raw {
			d = metricfn.Exact(x.cfg.Metric, q.f, x.exactVec(q, it.ID))
		} else {
			d = metricfn.FromRank(x.cfg.Metric, it.Dist)
		}
		out[i] = ann.Result{Key: x.key(it.ID), Distance: d}
	}
	return out
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
		if filter(x.key(uint32(i))) {
			pass++
		}
	}
	if seen == 0 {
		return 1
	}
	return max(float64(pass)/float64(seen), 1/float64(x.nLive.Load()+1))
}

// exact returns the k best live nodes the filter (nil: every node) accepts, by a
// full scan, ascending. Caller holds mu shared.
func (x *Index) exact(ctx context.Context, q *query, k int, filter func(ann.Key) bool) ([]topk.Item, error) {
	return x.scan(ctx, k, filter, func(id uint32) float32 { return x.dist(q, id) })
}

// scan returns the k live nodes the filter (nil: every node) accepts with the smallest rank,
// ascending, by a full scan. Caller holds mu shared.
func (x *Index) scan(ctx context.Context, k int, filter func(ann.Key) bool, rank func(uint32) float32) ([]topk.Item, error) {
	var h topk.Max
	for i := range x.dead {
		if i&4095 == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("hnsw: search: %w", ctx.Err())
		}
		id := uint32(i)
		if atomic.LoadUint32(&x.dead[id]) != 0 || filter != nil && !filter(x.key(id)) {
			continue
		}
		h.PushBounded(topk.Item{Dist: rank(id), ID: id}, k)
	}
	return h.SortedAscending(nil), nil
}

// farthest returns the k live nodes (that the filter accepts) farthest from vec by pgvector's
// distance on the kept vectors, farthest first, by a full scan. Caller holds mu shared.
func (x *Index) farthest(ctx context.Context, vec []float32, k int, filter func(ann.Key) bool) ([]ann.Result, error) {
	if !x.raw {
		return nil, fmt.Errorf("hnsw: search farthest: %w", ann.ErrUnsupported)
	}
	if x.top < 0 || x.nLive.Load() <= 0 {
		return nil, fmt.Errorf("hnsw: search: %w", ann.ErrEmpty)
	}
	q := vec
	if x.cfg.Metric == ann.Cosine {
		q = append([]float32(nil), vec...)
		vecmath.Normalize(q)
	}
	// The k smallest negated distances: the k largest.
	items, err := x.scan(ctx, k, filter, func(id uint32) float32 { return -float32(metricfn.Exact(x.cfg.Metric, q, x.vec(id))) })
	if err != nil {
		return nil, err
	}
	out := make([]ann.Result, len(items))
	for i, it := range items {
		out[i] = ann.Result{Key: x.key(it.ID), Distance: metricfn.Exact(x.cfg.Metric, q, x.vec(it.ID))}
	}
	slices.SortStableFunc(out, func(a, b ann.Result) int { return cmp.Compare(b.Distance, a.Distance) })
	return out, nil
}
