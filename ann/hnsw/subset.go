package hnsw

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/metricfn"
	"github.com/vecgate/vecgate/ann/internal/topk"
)

// SearchKeys returns the k nearest to vec among keys, by exact distance over the stored
// full-precision vectors (no graph): the answer for a filter that allows few rows, which the
// caller has listed. Keys not in the index are skipped, so fewer than k results means every
// listed key that is indexed was returned. An index that keeps only quantised codes returns
// ann.ErrUnsupported.
func (x *Index) SearchKeys(ctx context.Context, vec []float32, k int, keys []ann.Key) ([]ann.Result, error) {
	if err := ann.CheckK(k); err != nil {
		return nil, fmt.Errorf("hnsw: search keys: %w", err)
	}
	if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, vec); err != nil {
		return nil, fmt.Errorf("hnsw: search keys: %w", err)
	}
	if !x.raw {
		return nil, fmt.Errorf("hnsw: search keys: index keeps codes only: %w", ann.ErrUnsupported)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return nil, fmt.Errorf("hnsw: search keys: %w", ErrClosed)
	}
	ids := make([]uint32, 0, len(keys))
	x.allocMu.Lock()
	for _, key := range keys {
		if id, ok := x.lookup(key); ok {
			ids = append(ids, id)
		}
	}
	x.allocMu.Unlock()
	q := query{f: vec}
	if x.vecs.file != nil {
		q.vbuf = make([]float32, x.cfg.Dims)
	}
	var h topk.Max
	for i, id := range ids {
		if i&1023 == 1023 && ctx.Err() != nil {
			return nil, fmt.Errorf("hnsw: search keys: %w", ctx.Err())
		}
		if atomic.LoadUint32(&x.dead[id]) != 0 {
			continue
		}
		d := metricfn.Exact(x.cfg.Metric, vec, x.exactVec(&q, id))
		h.PushBounded(topk.Item{Dist: float32(d), ID: id}, k)
	}
	items := h.SortedAscending(nil)
	out := make([]ann.Result, len(items))
	for i, it := range items {
		out[i] = ann.Result{Key: x.key(it.ID), Distance: metricfn.Exact(x.cfg.Metric, vec, x.exactVec(&q, it.ID))}
	}
	return out, nil
}
