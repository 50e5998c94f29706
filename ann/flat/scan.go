package flat

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/metricfn"
	"github.com/vecgate/vecgate/ann/internal/topk"
	"github.com/vecgate/vecgate/vecmath"
)

// matrix is a read-only view of contiguous rows.
type matrix struct {
	data []float32
	inv  []float32 // inverse norms, cosine only (may be nil otherwise)
	dims int
	rows int
}

func (m *matrix) row(i int) []float32 { return m.data[i*m.dims : (i+1)*m.dims] }

// scanJob describes one exact scan of queries over a matrix.
type scanJob struct {
	metric   ann.Metric
	mat      *matrix
	queries  [][]float32
	k        int
	farthest bool
	subset   []uint32       // rows to scan; nil means all
	accept   func(int) bool // row filter; nil accepts all
	threads  int
	progress func(done, total int)
}

// blockRows picks rows per block so a block is about 256 KiB (L2-resident).
func blockRows(dims int) int {
	b := (256 << 10) / (4 * max(dims, 1))
	return max(b, 64)
}

// run executes the scan and returns, per query, the best items sorted
// ascending by ranking distance (descending for farthest, with Dist negated
// back).
func (j *scanJob) run(ctx context.Context) ([][]topk.Item, error) {
	total := j.mat.rows
	if j.subset != nil {
		total = len(j.subset)
	}
	nq := len(j.queries)
	qinv := make([]float32, nq)
	if j.metric == ann.Cosine {
		for i, q := range j.queries {
			qinv[i] = vecmath.InvNorm(q)
		}
	}
	threads := j.threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	br := blockRows(j.mat.dims)
	nblocks := (total + br - 1) / br
	// Small scans are not worth the goroutines.
	if total*j.mat.dims*nq < 1<<18 {
		threads = 1
	}
	threads = min(threads, max(nblocks, 1))

	var next atomic.Int64
	var done atomic.Int64
	var progMu sync.Mutex
	heaps := make([][]topk.Max, threads)
	var wg sync.WaitGroup
	var cancelled atomic.Bool
	worker := func(w int) {
		defer wg.Done()
		hs := make([]topk.Max, nq)
		for i := range hs {
			hs[i].Items = make([]topk.Item, 0, j.k)
		}
		heaps[w] = hs
		for {
			b := int(next.Add(1) - 1)
			if b >= nblocks || cancelled.Load() {
				return
			}
			if ctx.Err() != nil {
				cancelled.Store(true)
				return
			}
			lo, hi := b*br, min((b+1)*br, total)
			for qi, q := range j.queries {
				h := &hs[qi]
				for p := lo; p < hi; p++ {
					r := p
					if j.subset != nil {
						r = int(j.subset[p])
					}
					if j.accept != nil && !j.accept(r) {
						continue
					}
					var vinv float32
					if j.mat.inv != nil {
						vinv = j.mat.inv[r]
					}
					d := metricfn.Rank(j.metric, q, j.mat.row(r), qinv[qi], vinv)
					if j.farthest {
						d = -d
					}
					h.PushBounded(topk.Item{Dist: d, ID: uint32(r)}, j.k)
				}
			}
			if j.progress != nil {
				n := done.Add(int64(hi - lo))
				progMu.Lock()
				j.progress(int(n), total)
				progMu.Unlock()
			}
		}
	}
	wg.Add(threads)
	for w := 1; w < threads; w++ {
		go worker(w)
	}
	worker(0)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]topk.Item, nq)
	for qi := range nq {
		merged := &heaps[0][qi]
		for w := 1; w < threads; w++ {
			for _, it := range heaps[w][qi].Items {
				merged.PushBounded(it, j.k)
			}
		}
		res := merged.SortedAscending(nil)
		if j.farthest {
			for i := range res {
				res[i].Dist = -res[i].Dist
			}
		}
		out[qi] = res
	}
	return out, nil
}
