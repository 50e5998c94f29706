package ivf

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/parallel"
)

// ErrRetraining is returned by Retrain while another Retrain of the same
// index is running.
var ErrRetraining = errors.New("ivf: a retrain is already running")

// errObsolete: Train ran while Retrain was building; its model is dropped.
var errObsolete = errors.New("ivf: retrain: the index was trained meanwhile")

// TrainStats describes an index's training, for retrain policies and status.
type TrainStats struct {
	Trained bool
	// Rows is how many rows the index held when it last trained (or
	// retrained); 0 before training.
	Rows int
	// Added is how many rows were filed since (updates count, deletes do
	// not: Drift is the mean over these).
	Added int
	// Drift is Drift().
	Drift float64
	// Retrains counts completed Retrains.
	Retrains int
	// Retraining is set while a Retrain is building its new model.
	Retraining bool
	// Drifted is how many rows of a trained index its codes would misplace, scanned exactly
	// instead (drift.go); a Retrain files them again under its new codec.
	Drifted int
}

// TrainStats returns the index's training statistics.
func (x *Index) TrainStats() TrainStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	st := TrainStats{Trained: x.trained, Added: x.addN, Retrains: x.retrains, Retraining: x.retraining}
	if x.trained {
		st.Rows, st.Drifted = x.trainedRows, len(x.pendIDs)
	}
	if x.addN > 0 && x.trainDist > 0 {
		st.Drift = (x.addDist / float64(x.addN)) / x.trainDist
	}
	return st
}

// retrainHook, when set (tests), runs in Retrain without a lock after the
// new cells are built ("built") and before the swap ("swap").
var retrainHook func(stage string)

// catchUpRows: while more nodes than this changed during a Retrain's build,
// another round files them into the new cells outside the write lock; the
// rest are filed under it at the swap. Filing one costs an assignment
// (lists × dims multiply-adds), so 512 keep the swap short even for
// thousands of lists of long vectors (about 0.4 G multiply-adds at 1000
// lists × 768 dims, split across threads), while a round's own rows
// (written during the previous, much shorter round) shrink quickly.
const catchUpRows = 512

// catchUpRounds bounds those rounds (a writer faster than the catch-up must
// not keep the retrain from finishing).
const catchUpRounds = 8

// Retrain re-runs training on the index's own vectors (its float vectors
// when it has them, otherwise vectors reconstructed from its codes, which is
// lossy) and re-files every row under the new centroids and codec.
//
// Searches and writes go on while it runs. The write lock is held only to
// start (mark the retrain running) and at the swap:
//
//  1. Under the read lock, copy every filed row's vector, in node order.
//  2. Without a lock, train a new model (k-means centroids, codec) on a
//     sample of the copy, exactly as the first training does, and file the
//     copy into new cells of a private builder index that shares node ids
//     with x.
//  3. Meanwhile every writer marks the nodes it adds or deletes dirty.
//     While many are dirty, take them (with their current vectors, under
//     the write lock: a copy of a few thousand rows) and re-file them in the
//     builder without the lock; a few rounds at most.
//  4. Under the write lock, re-file the remaining dirty nodes in the
//     builder, then swap its centroids, codec, cells and node positions in.
//
// Node ids are the link: a dirty id is first removed from the builder (if
// the snapshot or a round filed it), then filed again with its current
// vector if it is live, so deletes, updates and id reuse all come out right.
// Keys, the kept float vectors and the free list are not touched. Memory:
// the copy and the new cells exist beside the old ones until the swap (about
// twice the vectors for a flat index). A concurrent Train wins: the
// retrain's model is dropped. One Retrain at a time (ErrRetraining).
//
// An untrained index is trained on its pending rows under the write lock.
func (x *Index) Retrain(ctx context.Context) error {
	x.mu.Lock()
	if x.retraining {
		x.mu.Unlock()
		return ErrRetraining
	}
	if !x.trained {
		x.mu.Unlock()
		return x.trainPending(ctx)
	}
	x.retraining = true
	x.dirty = map[uint32]struct{}{}
	gen := x.gen
	x.mu.Unlock()
	err := x.retrain(ctx, gen)
	x.mu.Lock()
	x.retraining, x.dirty = false, nil
	x.mu.Unlock()
	if err != nil {
		return fmt.Errorf("ivf: retrain: %w", err)
	}
	return nil
}

// trainPending is Retrain for an untrained index: train on every row.
func (x *Index) trainPending(ctx context.Context) error {
	x.mu.RLock()
	all := x.vectorsLocked()
	x.mu.RUnlock()
	sample := make([]float32, 0, len(all)*x.cfg.Dims)
	for _, id := range sortedIDs(all) {
		sample = append(sample, all[id]...)
	}
	if len(sample) == 0 {
		return fmt.Errorf("ivf: retrain: %w", ann.ErrEmpty)
	}
	return x.Train(ctx, sample)
}

func (x *Index) retrain(ctx context.Context, gen uint64) error {
	d := x.cfg.Dims
	// 1. Snapshot. A trained index's live nodes are in cells, or pending when they drifted past
	// its codes (drift.go): those are filed again too, under the new codec.
	x.mu.RLock()
	sq, bound := x.sq, x.bound
	n := len(x.nodeCell)
	ids := make([]uint32, 0, len(x.ids))
	vecs := make([]float32, 0, len(x.ids)*d)
	for id := range uint32(n) {
		if x.nodeCell[id] != freeCell {
			ids = append(ids, id)
			vecs = x.appendVector(vecs, id)
		}
	}
	x.mu.RUnlock()
	if len(ids) == 0 {
		return ann.ErrEmpty
	}
	ids0 := ids

	// 2. New model and cells, privately.
	// fit keeps the SQ8 codec, and its bound, when the new one would be more than maxWiden wider.
	b := &Index{cfg: x.cfg, sq: sq, bound: bound}
	if err := b.fit(ctx, vecs); err != nil {
		return err
	}
	b.nodeCell = make([]int32, n)
	b.nodePos = make([]uint32, n)
	for i := range b.nodeCell {
		b.nodeCell[i] = freeCell
	}
	cellOf := make([]int32, len(ids))
	parallel.For(len(ids), b.threads(), parallelBelow, func(lo, hi int) {
		buf := make([]float32, 0, d)
		for i := lo; i < hi; i++ {
			c, _ := b.assign(b.prep(vecs[i*d:(i+1)*d], buf))
			cellOf[i] = int32(c)
		}
	})
	for i, id := range ids {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		b.fileIn(id, vecs[i*d:(i+1)*d], int(cellOf[i]))
	}
	vecs = nil
	b.addDist, b.addN = 0, 0 // drift counts the rows filed after the snapshot

	if retrainHook != nil {
		retrainHook("built")
	}

	// 3. Catch up outside the lock while many rows changed.
	for range catchUpRounds {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		x.mu.Lock()
		if len(x.dirty) <= catchUpRows || x.gen != gen {
			x.mu.Unlock()
			break
		}
		ids, cur := x.takeDirty()
		x.mu.Unlock()
		b.refile(ids, cur, d)
	}

	if retrainHook != nil {
		retrainHook("swap")
	}

	// 4. Swap.
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.gen != gen || !x.trained {
		return errObsolete
	}
	ids, cur := x.takeDirty()
	b.refile(ids, cur, d)
	for len(b.nodeCell) < len(x.nodeCell) {
		b.nodeCell = append(b.nodeCell, freeCell)
		b.nodePos = append(b.nodePos, 0)
	}
	x.centroids, x.sq, x.pq, x.pqPre, x.bin = b.centroids, b.sq, b.pq, b.pqPre, b.bin
	x.cells, x.nodeCell, x.nodePos = b.cells, b.nodeCell, b.nodePos
	x.pendIDs, x.pendVecs, x.bound = b.pendIDs, b.pendVecs, b.bound
	x.sharedCells, x.sharedPending = nil, false // an open view keeps the old arrays
	x.trainDist, x.addDist, x.addN = b.trainDist, b.addDist, b.addN
	x.trainedRows = len(ids0)
	x.retrains++
	return nil
}

// takeDirty returns the dirty nodes in order with their current vectors
// (nil: not live) and starts a new dirty set. Caller holds mu
// exclusively.
func (x *Index) takeDirty() ([]uint32, [][]float32) {
	ids := make([]uint32, 0, len(x.dirty))
	for id := range x.dirty {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	cur := make([][]float32, len(ids))
	for i, id := range ids {
		if x.nodeCell[id] != freeCell {
			cur[i] = x.appendVector(nil, id)
		}
	}
	x.dirty = map[uint32]struct{}{}
	return ids, cur
}

// refile brings builder b up to date for nodes ids: each leaves its cell
// if it is in one, and is filed again with cur[i] when that is not nil.
// Assignments run in parallel (parallel.For), filing serially.
func (b *Index) refile(ids []uint32, cur [][]float32, d int) {
	cellOf := make([]int32, len(ids))
	parallel.For(len(ids), b.threads(), parallelBelow, func(lo, hi int) {
		buf := make([]float32, 0, d)
		for i := lo; i < hi; i++ {
			if cur[i] != nil {
				c, _ := b.assign(b.prep(cur[i][:d], buf))
				cellOf[i] = int32(c)
			}
		}
	})
	for i, id := range ids {
		for int(id) >= len(b.nodeCell) {
			b.nodeCell = append(b.nodeCell, freeCell)
			b.nodePos = append(b.nodePos, 0)
		}
		if b.nodeCell[id] != freeCell {
			b.unfile(id)
			b.nodeCell[id] = freeCell
		}
		if cur[i] != nil {
			b.fileIn(id, cur[i][:d], int(cellOf[i]))
		}
	}
}
