package live

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/ann/ivf"
)

// IVF twins retrain when their data has moved away from the centroids they were trained on.
//
// An IVF twin trains once it holds ivf's TrainRows rows (50 per list, at least 1000), on those
// rows alone; everything after is filed under those centroids. When the table then grows far past
// them, or its rows come from elsewhere in the space, lists become unbalanced (a few cells hold
// most rows) and recall at fixed probes falls. After each commit, Set.Commit checks every IVF twin
// (retrainDue) and retrains one that is due in the background: ivf.Index.Retrain copies the
// vectors under the read lock, runs k-means and files the copy into new lists without a lock,
// replays the rows written meanwhile and swaps the new lists in under the write lock, so
// searches and replication apply go on during training. One retrain per twin at a time; a twin
// replaced by a reload or a truncate has its retrain cancelled.
//
// Only twins holding their vectors in full (ivf-flat) or as SQ8 codes retrain: a PQ or binary
// twin would retrain on vectors reconstructed from its codes, too coarse to place rows better
// than the centroids they were encoded against. Those are rebuilt by a reload instead.
const (
	// retrainGrowth: retrain when a twin holds this many times the rows it trained on. Twice
	// means at least half the rows never shaped the centroids; doubling keeps the total work of
	// all retrains linear in the table's size (each costs about one pass over the rows, and the
	// passes grow geometrically), like growing a slice.
	retrainGrowth = 2
	// retrainDrift: retrain when rows filed since training sit this much farther from their
	// centroid (mean squared distance, ivf.Index.Drift) than the training rows did. Half again
	// as far is well past the drift of more rows from the training distribution (0.99 in
	// TestIVFRetrainPolicy) and is reached long before recall collapses (the ivf and live tests
	// change the distribution and see drifts of 5–30).
	retrainDrift = 1.5
	// retrainDriftMinRows: drift counts only once this many rows were filed since training, and
	// at least retrainDriftFraction of the rows trained on. A mean over fewer rows is noise, and
	// after a retrain the next one waits for that much new data (no retrain loop while a shift
	// is under way).
	retrainDriftMinRows  = 1000
	retrainDriftFraction = 0.25
)

// retrainDue reports whether an IVF twin with these statistics and rows should retrain.
func retrainDue(st ivf.TrainStats, rows int) bool {
	if !st.Trained || st.Retraining || st.Rows <= 0 {
		return false
	}
	if rows >= retrainGrowth*st.Rows {
		return true
	}
	minAdded := max(retrainDriftMinRows, int(retrainDriftFraction*float64(st.Rows)))
	return st.Drift >= retrainDrift && st.Added >= minAdded
}

// ivfIndex is the twin's IVF index, or nil.
func (ix *Index) ivfIndex() *ivf.Index {
	x, _ := ix.index.(*ivf.Index)
	return x
}

// Training describes an IVF twin's training (ok false for an HNSW twin): rows at the last
// training, rows since, drift, retrains done and whether one is running.
func (ix *Index) Training() (st ivf.TrainStats, ok bool) {
	x := ix.ivfIndex()
	if x == nil {
		return ivf.TrainStats{}, false
	}
	return x.TrainStats(), true
}

// retrainable: IVF twins whose vectors are exact (flat, or kept beside the codes) or SQ8.
func retrainable(x *ivf.Index) bool {
	c := x.Config()
	return c.Codes == ivf.CodesFlat || c.Codes == ivf.CodesSQ8 || c.KeepVectors
}

// maybeRetrain starts a background retrain of ix when it is due and none is running (for an
// HNSW SQ8 twin, a re-quantisation: maybeRequantize).
func (s *Set) maybeRetrain(ix *Index) {
	if h := ix.hnswIndex(); h != nil {
		s.maybeRequantize(ix, h)
		return
	}
	x := ix.ivfIndex()
	if x == nil || !retrainable(x) || s.noRetrain.Load() {
		return
	}
	st := x.TrainStats()
	rows := x.Len()
	if !retrainDue(st, rows) && !ix.driftDue(st.Drifted, rows) {
		return
	}
	s.background(ix, func(ctx context.Context) {
		s.log.Info("live: retraining IVF twin", "index", ix.Source, "rows", rows, "trained_on", st.Rows, "drift", st.Drift)
		start := time.Now()
		if err := x.Retrain(ctx); err != nil {
			s.log.Warn("live: IVF twin retrain failed", "index", ix.Source, "err", err)
			return
		}
		// Drifted rows the retrain left pending (its codec kept: driftDue) wait for twice as many.
		ix.mu.Lock()
		ix.requantTried = 0
		if left := x.TrainStats().Drifted; left*2 >= st.Drifted && left >= requantMinDrifted {
			ix.requantTried = left
		}
		ix.mu.Unlock()
		s.log.Info("live: IVF twin retrained", "index", ix.Source, "rows", x.Len(), "seconds", time.Since(start).Seconds())
	})
}

// background runs work (a retrain or a re-quantisation of ix) on a goroutine of its own, unless
// ix is being replaced or already runs one. retire cancels work's context; WaitRetrains waits
// for it.
func (s *Set) background(ix *Index, work func(ctx context.Context)) {
	ix.mu.Lock()
	if ix.retiring || ix.retrainCancel != nil {
		ix.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ix.retrainCancel = cancel
	ix.mu.Unlock()
	s.retrainStarted()
	go func() {
		defer s.retrainDone()
		work(ctx)
		ix.mu.Lock()
		ix.retrainCancel = nil
		ix.mu.Unlock()
		cancel()
	}()
}

// retire cancels a running retrain of an index that is being replaced, stops new ones, and
// releases the index's memory when it holds any outside the Go heap (hnsw.Index.Close: it waits
// for the searches in flight; later ones fail with hnsw.ErrClosed, and the planner forwards
// their statements).
func (ix *Index) retire() {
	ix.mu.Lock()
	ix.retiring = true
	if ix.retrainCancel != nil {
		ix.retrainCancel()
	}
	ix.mu.Unlock()
	if c, ok := ix.index.(io.Closer); ok {
		c.Close() //nolint:errcheck // hnsw's Close does not fail
	}
}

// retraining counts the running retrains of a Set (a WaitGroup would not do: Commit may start
// one while WaitRetrains waits).
type retraining struct {
	mu   sync.Mutex
	cond sync.Cond
	n    int
}

func (s *Set) retrainStarted() {
	s.rt.mu.Lock()
	s.rt.n++
	s.rt.mu.Unlock()
}

func (s *Set) retrainDone() {
	s.rt.mu.Lock()
	s.rt.n--
	s.rt.cond.Broadcast()
	s.rt.mu.Unlock()
}

// WaitRetrains waits until no IVF twin retrain is running (tests; shutdown).
func (s *Set) WaitRetrains() {
	s.rt.mu.Lock()
	defer s.rt.mu.Unlock()
	for s.rt.n > 0 {
		s.rt.cond.Wait()
	}
}

// Quantised twins whose rows drift past their codes (an SQ8 range they clip out of, PQ codebooks
// or binary means they are far from) keep those rows on a side list searched exactly (ann/hnsw,
// ann/ivf: drift.go), so no row is lost; the list costs a scan of its rows per search. When it
// grows, live re-quantises the twin in the background: an HNSW SQ8 twin with hnsw.Index.Requantize
// (new codes built outside the write lock, swapped in), an IVF twin that retrains (flat, SQ8) with
// its Retrain. PQ and binary IVF twins keep their drifted rows on the list until a reload.
const (
	// requantMinDrifted, requantDriftedShare: re-quantise once at least this many rows, and this
	// share of the twin's rows, are drifted: at a 64th, the side list's exact scan costs about a
	// 64th of a scan of the table per search, well under an HNSW walk.
	requantMinDrifted   = 64
	requantDriftedShare = 1.0 / 64
)

// driftDue reports whether a twin with drifted of rows on its side list should re-quantise: past
// the thresholds above, and, after a re-quantisation that did not help (a few rows far outside
// the rest, which a new range would not serve: hnsw.Index.Requantize), only once the list has
// doubled since.
func (ix *Index) driftDue(drifted, rows int) bool {
	ix.mu.Lock()
	tried := ix.requantTried
	ix.mu.Unlock()
	return drifted >= requantMinDrifted && float64(drifted) >= requantDriftedShare*float64(rows) &&
		drifted >= 2*tried
}

// hnswIndex is the twin's HNSW index when it is quantised, or nil.
func (ix *Index) hnswIndex() *hnsw.Index {
	x, _ := ix.index.(*hnsw.Index)
	if x == nil || x.Config().Quantizer != "sq8" {
		return nil
	}
	return x
}

// maybeRequantize starts a background re-quantisation of an HNSW SQ8 twin whose side list is due
// (driftDue) when none is running.
func (s *Set) maybeRequantize(ix *Index, x *hnsw.Index) {
	if s.noRetrain.Load() {
		return
	}
	drifted, rows := x.Drifted(), x.Len()
	if !ix.driftDue(drifted, rows) {
		return
	}
	s.background(ix, func(ctx context.Context) {
		s.log.Info("live: re-quantising SQ8 twin", "index", ix.Source, "rows", rows, "drifted", drifted)
		start := time.Now()
		did, err := x.Requantize(ctx)
		if err != nil {
			s.log.Warn("live: SQ8 twin re-quantisation failed", "index", ix.Source, "err", err)
			return
		}
		ix.mu.Lock()
		ix.requantTried = 0
		if !did {
			ix.requantTried = drifted
		}
		ix.mu.Unlock()
		s.log.Info("live: SQ8 twin re-quantised", "index", ix.Source, "swapped", did,
			"drifted", x.Drifted(), "seconds", time.Since(start).Seconds())
	})
}

// Quantization describes a quantised twin's drift: rows on its side list (drifted past its codes,
// searched exactly), re-quantisations swapped in (HNSW SQ8; an IVF twin's count as retrains),
// whether one runs.
type Quantization struct {
	Drifted         int
	Requantizations int
	Requantizing    bool
}

// Quantization returns the drift of a quantised twin (ok false for a twin without codes).
func (ix *Index) Quantization() (q Quantization, ok bool) {
	if h := ix.hnswIndex(); h != nil {
		st := h.DriftStats()
		return Quantization{Drifted: st.Drifted, Requantizations: st.Requantizations, Requantizing: st.Requantizing}, true
	}
	if x := ix.ivfIndex(); x != nil && x.Config().Codes != ivf.CodesFlat {
		st := x.TrainStats()
		return Quantization{Drifted: st.Drifted, Requantizing: st.Retraining}, true
	}
	return Quantization{}, false
}
