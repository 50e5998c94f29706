package hnsw

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/quant/sq8"
	"github.com/vecgate/vecgate/vecmath"
)

// maxTrainRows bounds the rows sampled to train a codec.
const maxTrainRows = 20000

// ensureCodec trains the SQ8 codec from sample rows if the index is
// quantised and has none yet, and calibrates the drift bound on them.
func (x *Index) ensureCodec(sample []float32) error {
	if !x.quant {
		return nil
	}
	x.mu.RLock()
	ok := x.sq != nil
	x.mu.RUnlock()
	if ok {
		return nil
	}
	prep := x.trainSample(sample)
	c, err := sq8.Train(prep, x.cfg.Dims, sq8Confidence(x.cfg.Metric, x.cfg.SQ8Confidence))
	if err != nil {
		return err
	}
	bound := cmp.Or(x.cfg.DriftBound, c.DriftBound(prep))
	x.mu.Lock()
	if x.sq == nil {
		x.sq, x.bound = c, bound
	}
	x.mu.Unlock()
	return nil
}

// trainSample returns a strided sample of rows of data (normalised for cosine), at most
// maxTrainRows.
func (x *Index) trainSample(data []float32) []float32 {
	d := x.cfg.Dims
	n := len(data) / d
	step := max(1, n/maxTrainRows)
	sample := make([]float32, 0, min(n, maxTrainRows+1)*d)
	for i := 0; i < n; i += step {
		start := len(sample)
		sample = append(sample, data[i*d:(i+1)*d]...)
		if x.cfg.Metric == ann.Cosine {
			vecmath.Normalize(sample[start:])
		}
	}
	return sample
}

// encode writes vec's codes (normalised first for cosine) and returns the
// correction term.
func (x *Index) encode(vec []float32, dst []uint8) float32 {
	return x.sq.Encode(x.prepared(vec), dst)
}

// Codec returns the SQ8 codec of a quantised index (nil otherwise or before
// training).
func (x *Index) Codec() *sq8.Codec {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.sq
}

// DriftStats describes the drift of a quantised index's rows from its SQ8 codec.
type DriftStats struct {
	// Drifted is how many rows sit on the side list (Drifted), Rows how many the index holds.
	Drifted, Rows int
	// Bound is the clipped share past which a row is drifted (DriftBound).
	Bound float64
	// Requantizations counts re-quantisations swapped in; Requantizing is set while one builds.
	Requantizations int
	Requantizing    bool
}

// DriftStats returns the index's drift statistics (zero for an unquantised index).
func (x *Index) DriftStats() DriftStats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return DriftStats{Drifted: x.Drifted(), Rows: int(x.nLive.Load()), Bound: x.bound,
		Requantizations: x.requants, Requantizing: x.requant.Load()}
}

// ErrRequantizing: Requantize was called while another one runs.
var ErrRequantizing = errors.New("hnsw: a re-quantisation is already running")

// errObsolete: a re-quantisation found the nodes renumbered (Reorder) since it started.
var errObsolete = errors.New("hnsw: re-quantisation overtaken by a reorder")

// maxWiden: a re-quantisation whose codec's range is more than this many times the old one's is
// dropped. Rows far outside the rest (×50) would stretch the range until the rows the old codec
// served well round to a few dozen codes (their rounding error grows with the square of the
// widening: 16× at 4, still a thousandth of a Gaussian row's energy at 0.999 confidence); such
// rows stay on the side list, exact. Data that widens as a whole re-quantises in steps of 4×.
const maxWiden = 4

// requantChunk is how many nodes a re-quantisation encodes per hold of the read lock.
const requantChunk = 4096

// Requantize re-quantises a quantised index whose rows drifted: it trains a new SQ8 codec on a
// sample of every live row (the kept vectors; for a codes-only index the side list's vectors and
// the others decoded from their codes), encodes every node with it a chunk at a time under the
// read lock (searches and inserts go on; the nodes inserted meanwhile are noted and encoded again
// at the swap), and swaps the codec, the codes and the side list in under the write lock. It
// swaps only when the new codec leaves fewer rows drifted than the old one does and its range is
// at most maxWiden times the old one's (a few rows far outside the rest would stretch it until
// every other row's codes were coarse: those stay on the side list instead), and reports whether
// it did. Rows that leave the side list were
// linked while their codes misplaced them; they are linked again from their true neighbours.
// One Requantize at a time (ErrRequantizing).
func (x *Index) Requantize(ctx context.Context) (bool, error) {
	if !x.quant {
		return false, nil
	}
	if !x.requant.CompareAndSwap(false, true) {
		return false, ErrRequantizing
	}
	defer func() {
		x.requantMu.Lock()
		x.requant.Store(false)
		x.requantDirty = nil
		x.requantMu.Unlock()
	}()
	d := x.cfg.Dims
	x.mu.RLock()
	old, bound, gen := x.sq, x.bound, x.reordered
	x.allocMu.Lock()
	used := x.used
	x.allocMu.Unlock()
	if old == nil || x.nLive.Load() == 0 {
		x.mu.RUnlock()
		return false, nil
	}
	sample := x.liveSample(used, old)
	before := x.Drifted()
	x.mu.RUnlock()
	c, err := sq8.Train(sample, d, old.Confidence)
	if err != nil {
		return false, fmt.Errorf("hnsw: requantize: %w", err)
	}
	sample = nil
	if c.Alpha() > maxWiden*old.Alpha() {
		return false, nil // a few rows far outside the rest: they stay on the side list
	}

	// New codes, a chunk of nodes at a time.
	codes, corr := rows[uint8]{width: d}, rows[float32]{width: 1}
	swapped := false
	defer func() {
		if !swapped { // only this goroutine saw them
			codes.release()
			corr.release()
		}
	}()
	codes.grow(used)
	corr.grow(used)
	drifted := map[uint32][]float32{} // node -> its vector when the index keeps none, else nil
	buf := make([]float32, d)
	for lo := 0; lo < used; lo += requantChunk {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("hnsw: requantize: %w", err)
		}
		x.mu.RLock()
		if x.closed {
			x.mu.RUnlock()
			return false, fmt.Errorf("hnsw: requantize: %w", ErrClosed)
		}
		if x.reordered != gen {
			x.mu.RUnlock()
			return false, errObsolete
		}
		for id := uint32(lo); int(id) < min(used, lo+requantChunk); id++ {
			if atomic.LoadUint32(&x.dead[id]) == 0 {
				x.encodeWith(c, bound, id, old, buf, &codes, &corr, drifted)
			}
		}
		x.mu.RUnlock()
	}
	if len(drifted) >= before {
		return false, nil // the new codec helps no row
	}

	// Swap (after an open View is written: it reads the codes it froze).
	x.viewMu.Lock()
	defer x.viewMu.Unlock()
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return false, fmt.Errorf("hnsw: requantize: %w", ErrClosed)
	}
	if x.reordered != gen || x.sq != old {
		x.mu.Unlock()
		return false, errObsolete
	}
	codes.grow(x.capacity())
	corr.grow(x.capacity())
	x.requantMu.Lock()
	dirty := x.requantDirty
	x.requantDirty = nil
	x.requantMu.Unlock()
	for _, id := range dirty { // inserted since the chunk that held them: encoded again
		delete(drifted, id)
		if x.dead[id] == 0 {
			x.encodeWith(c, bound, id, old, buf, &codes, &corr, drifted)
		}
	}
	ids := make([]uint32, 0, len(drifted))
	var vecs map[uint32][]float32
	if !x.raw {
		vecs = make(map[uint32][]float32, len(drifted))
	}
	for id, v := range drifted {
		if x.dead[id] != 0 {
			continue
		}
		ids = append(ids, id)
		if vecs != nil {
			vecs[id] = v
		}
	}
	slices.Sort(ids)
	prev, _ := x.side.snapshot()
	var left []uint32 // rows that leave the side list
	for _, id := range prev {
		if _, still := drifted[id]; !still && x.dead[id] == 0 {
			left = append(left, id)
		}
	}
	x.codes.release() // under mu exclusively: no search reads them
	x.corr.release()
	x.sq, x.codes, x.corr = c, codes, corr
	swapped = true
	x.vecs.dropResident() // the new codes read every vector of a file-backed array
	x.side.set(ids, vecs)
	x.requants++
	x.mu.Unlock()
	x.relinkNodes(left)
	return true, nil
}

// encodeWith writes node id's codes under codec c into codes and corr, and notes it in drifted
// when c clips it past bound. old is the codec of the node's present codes. Caller holds mu.
func (x *Index) encodeWith(c *sq8.Codec, bound float64, id uint32, old *sq8.Codec, buf []float32,
	codes *rows[uint8], corr *rows[float32], drifted map[uint32][]float32) {
	pv := x.storedVector(id, old, buf)
	corr.at(id)[0] = c.Encode(pv, codes.at(id))
	if c.Clipped(pv) > bound {
		var keep []float32
		if !x.raw {
			keep = append([]float32(nil), pv...)
		}
		drifted[id] = keep
	}
}

// storedVector returns node id's prepared vector as the index holds it: the kept vector
// (normalised into buf for cosine), the side list's, or its codes decoded with codec c into buf.
// Caller holds mu.
func (x *Index) storedVector(id uint32, c *sq8.Codec, buf []float32) []float32 {
	if x.raw {
		if x.cfg.Metric != ann.Cosine {
			return x.vec(id)
		}
		buf = append(buf[:0], x.vec(id)...) // kept as given: codes are of the unit vector
		vecmath.Normalize(buf)
		return buf
	}
	if v, ok := x.side.has(id); ok && v != nil {
		return v
	}
	c.Decode(x.codes.at(id), buf)
	return buf
}

// liveSample returns the prepared vectors of up to maxTrainRows live nodes below used, strided.
// Caller holds mu.
func (x *Index) liveSample(used int, c *sq8.Codec) []float32 {
	d := x.cfg.Dims
	step := max(1, used/maxTrainRows)
	sample := make([]float32, 0, min(used, maxTrainRows+1)*d)
	buf := make([]float32, d)
	for i := 0; i < used; i += step {
		if atomic.LoadUint32(&x.dead[i]) == 0 {
			sample = append(sample, x.storedVector(uint32(i), c, buf)...)
		}
	}
	return sample
}

// relinkNodes links each of ids (if live) again from its nearest neighbours, as an insertion
// does. Caller holds no lock.
func (x *Index) relinkNodes(ids []uint32) {
	if len(ids) == 0 {
		return
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.allocMu.Lock()
	used := x.used
	x.allocMu.Unlock()
	if x.top < 0 {
		return
	}
	seen, indeg := x.reach(used)
	s := x.getSearcher()
	defer x.putSearcher(s)
	for _, id := range ids {
		if int(id) < used && atomic.LoadUint32(&x.dead[id]) == 0 {
			x.relinkNode(s, id, used, seen, indeg)
		}
	}
}

// sq8Confidence picks the quantile confidence: the configured one, else 1
// for inner product and the codec default otherwise (see Config).
func sq8Confidence(m ann.Metric, conf float64) float64 {
	if conf == 0 && m == ann.InnerProduct {
		return 1
	}
	return conf
}
