package live

import (
	"context"
	"sync"
	"time"

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

// maybeRetrain starts a background retrain of ix when it is due and none is running.
func (s *Set) maybeRetrain(ix *Index) {
	x := ix.ivfIndex()
	if x == nil || !retrainable(x) || s.noRetrain.Load() {
		return
	}
	st := x.TrainStats()
	rows := x.Len()
	if !retrainDue(st, rows) {
		return
	}
	ix.mu.Lock()
	if ix.retiring || ix.retrainCancel != nil {
		ix.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ix.retrainCancel = cancel
	ix.mu.Unlock()
	s.retrainStarted()
	s.log.Info("live: retraining IVF twin", "index", ix.Source, "rows", rows, "trained_on", st.Rows, "drift", st.Drift)
	go func() {
		defer s.retrainDone()
		start := time.Now()
		err := x.Retrain(ctx)
		ix.mu.Lock()
		ix.retrainCancel = nil
		ix.mu.Unlock()
		cancel()
		if err != nil {
			s.log.Warn("live: IVF twin retrain failed", "index", ix.Source, "err", err)
			return
		}
		s.log.Info("live: IVF twin retrained", "index", ix.Source, "rows", x.Len(), "seconds", time.Since(start).Seconds())
	}()
}

// retire cancels a running retrain of an index that is being replaced, and stops new ones.
func (ix *Index) retire() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.retiring = true
	if ix.retrainCancel != nil {
		ix.retrainCancel()
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
