package ivf

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/metricfn"
	"github.com/vecgate/vecgate/ann/internal/topk"
	"github.com/vecgate/vecgate/internal/parallel"
	"github.com/vecgate/vecgate/quant/binary"
	"github.com/vecgate/vecgate/quant/kmeans"
	"github.com/vecgate/vecgate/quant/pq"
	"github.com/vecgate/vecgate/quant/sq8"
	"github.com/vecgate/vecgate/vecmath"
)

// Code kinds.
const (
	CodesFlat   = "flat"
	CodesSQ8    = "sq8"
	CodesPQ     = "pq"
	CodesBinary = "binary"
)

// Config configures an IVF index. Zero fields take DefaultConfig's values.
type Config struct {
	Metric ann.Metric
	Dims   int
	// Lists is the number of k-means cells (pgvector's lists). More
	// lists: faster probes, lower recall per probe, longer training.
	Lists int
	// Probes is the default number of cells a search visits
	// (ivfflat.probes, default 1).
	Probes int
	// Codes is flat (default), sq8, pq or binary.
	Codes string
	// PQSegments is the number of PQ sub-vectors (bytes per code); 0 means
	// Dims/4 (at least 1).
	PQSegments int
	// KeepVectors keeps float32 vectors of a quantised index for an exact
	// rerank of k×Oversample candidates.
	KeepVectors bool
	// Oversample is the default rerank factor (SearchOptions.Oversample
	// overrides); default 2 for sq8, 4 for pq and binary.
	Oversample float64
	// TrainRows: vectors added one by one wait (scanned exactly) until
	// this many are pending, then the index trains. Default 50×Lists,
	// at least 1000.
	TrainRows int
	// SampleRows bounds the rows k-means trains on; default 256×Lists.
	SampleRows int
	// Iterations of Lloyd's algorithm; default 10.
	Iterations int
	Seed       uint64
	// Threads for training and batch adds; 0 = GOMAXPROCS.
	Threads int
}

// DefaultConfig returns defaults for dims-dimensional vectors under m.
func DefaultConfig(m ann.Metric, dims int) Config {
	return Config{Metric: m, Dims: dims, Lists: 100, Probes: 1, Codes: CodesFlat}
}

func (c *Config) fill() error {
	if c.Lists == 0 {
		c.Lists = 100
	}
	if c.Probes == 0 {
		c.Probes = 1
	}
	if c.Codes == "" || c.Codes == "none" {
		c.Codes = CodesFlat
	}
	if c.PQSegments == 0 {
		c.PQSegments = max(1, c.Dims/4)
	}
	if c.Oversample == 0 {
		c.Oversample = 2
		if c.Codes == CodesPQ || c.Codes == CodesBinary {
			c.Oversample = 4
		}
	}
	if c.TrainRows == 0 {
		c.TrainRows = max(1000, 50*c.Lists)
	}
	if c.SampleRows == 0 {
		c.SampleRows = 256 * c.Lists
	}
	if c.Iterations == 0 {
		c.Iterations = 10
	}
	switch {
	case c.Dims <= 0 || c.Dims > ann.MaxDims:
		return fmt.Errorf("ivf: dims %d out of range [1, %d]", c.Dims, ann.MaxDims)
	case !c.Metric.Valid() || c.Metric == ann.Hamming:
		return fmt.Errorf("ivf: metric %v: %w", c.Metric, ann.ErrUnsupported)
	case c.Lists < 1 || c.Lists > 1<<16 || c.Probes < 1:
		return fmt.Errorf("ivf: lists %d / probes %d out of range", c.Lists, c.Probes)
	case c.Codes != CodesFlat && c.Codes != CodesSQ8 && c.Codes != CodesPQ && c.Codes != CodesBinary:
		return fmt.Errorf("ivf: codes %q: %w", c.Codes, ann.ErrUnsupported)
	case c.Codes != CodesFlat && c.Metric == ann.L1:
		return fmt.Errorf("ivf: %s codes with L1: %w", c.Codes, ann.ErrUnsupported)
	case c.PQSegments < 1 || c.PQSegments > c.Dims:
		return fmt.Errorf("ivf: pq segments %d out of range [1, %d]", c.PQSegments, c.Dims)
	case !(c.Oversample >= 1 && c.Oversample <= 1000) || c.TrainRows < 1 || c.SampleRows < 1 ||
		c.Iterations < 1 || c.Iterations > 1000 || c.Threads < 0:
		return fmt.Errorf("ivf: bad oversample/train/iterations/threads")
	}
	return nil
}

// cell is one inverted list. Entries are dense: entry i belongs to node
// ids[i].
type cell struct {
	ids   []uint32
	vecs  []float32 // flat: dims floats per entry
	codes []uint8   // sq8: dims bytes; pq: M bytes
	corr  []float32 // sq8: correction per entry
	bits  []uint64  // binary: words per entry
}

// Index is an IVF index. It implements ann.Index.
type Index struct {
	cfg Config

	mu sync.RWMutex // guards everything below

	trained   bool
	centroids []float32 // Lists × dims
	sq        *sq8.Codec
	pq        *pq.Codec
	pqPre     []float32 // L2 PQ: per cell, TableSize floats of |cb|² + 2<centroid, cb> (nil when too large)
	bin       *binary.Codec
	cells     []cell
	trainDist float64 // mean spread (squared L2 to the centroid) of training rows
	addDist   float64 // sum of the spreads of rows added since training
	addN      int     // rows added since training

	// bound: a row filed with codes goes to pending (scanned exactly) instead of its cell when
	// drifted past it (drift.go); 0 for flat cells, and unknown (a file of format 2).
	bound float64

	trainedRows int                 // live rows when the index last trained
	retrains    int                 // Retrain swaps done
	gen         uint64              // bumped by Train: a Retrain built on an older model is dropped
	retraining  bool                // a Retrain is building outside the lock
	dirty       map[uint32]struct{} // while retraining: nodes added or deleted since its snapshot

	ids      map[ann.Key]uint32
	nodeKey  []ann.Key
	nodeCell []int32  // cell, or pendingCell / freeCell
	nodePos  []uint32 // position in its cell or in pending
	raw      []float32
	free     []uint32

	pendIDs  []uint32
	pendVecs []float32 // dims floats per pending node (original vectors)

	// An open View (view.go): frozen, and which cells and whether the pending rows still share
	// their arrays with it. viewMu is held from Freeze to Release.
	frozen        bool
	sharedCells   []bool
	sharedPending bool
	viewMu        sync.Mutex
}

const (
	pendingCell = -1
	freeCell    = -2
)

var _ ann.Index = (*Index)(nil)

// New returns an empty, untrained index.
func New(cfg Config) (*Index, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	return &Index{cfg: cfg, ids: make(map[ann.Key]uint32)}, nil
}

// Config returns the configuration with defaults filled in.
func (x *Index) Config() Config { return x.cfg }

// Metric implements ann.Index.
func (x *Index) Metric() ann.Metric { return x.cfg.Metric }

// Dims implements ann.Index.
func (x *Index) Dims() int { return x.cfg.Dims }

// Len implements ann.Index.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.ids)
}

// Trained reports whether the coarse quantiser is trained.
func (x *Index) Trained() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.trained
}

// MemoryBytes implements ann.Index.
func (x *Index) MemoryBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	b := int64(cap(x.centroids))*4 + int64(cap(x.nodeKey))*40 + int64(cap(x.nodeCell))*4 +
		int64(cap(x.nodePos))*4 + int64(cap(x.raw))*4 + int64(cap(x.pendVecs))*4 + int64(cap(x.pendIDs))*4 +
		int64(len(x.ids))*56
	for i := range x.cells {
		c := &x.cells[i]
		b += int64(cap(c.ids))*4 + int64(cap(c.vecs))*4 + int64(cap(c.codes)) + int64(cap(c.corr))*4 + int64(cap(c.bits))*8
	}
	if x.pq != nil {
		b += int64(len(x.pq.Books))*4 + int64(cap(x.pqPre))*4
	}
	return b
}

func (x *Index) threads() int {
	if x.cfg.Threads > 0 {
		return x.cfg.Threads
	}
	return runtime.GOMAXPROCS(0)
}

// quantised reports whether cells hold codes rather than float vectors.
func (x *Index) quantised() bool { return x.cfg.Codes != CodesFlat }

// prep returns the vector as stored in cells and used for assignment:
// normalised for cosine, otherwise v itself.
func (x *Index) prep(v []float32, buf []float32) []float32 {
	if x.cfg.Metric != ann.Cosine {
		return v
	}
	buf = append(buf[:0], v...)
	vecmath.Normalize(buf)
	return buf
}

// centroidRank ranks centroid c for vector v (prepared): squared L2 for
// L2/L1, negative dot for inner product and cosine.
func (x *Index) centroidRank(v []float32, c int) float32 {
	cv := x.centroids[c*x.cfg.Dims : (c+1)*x.cfg.Dims]
	switch x.cfg.Metric {
	case ann.InnerProduct, ann.Cosine:
		return -vecmath.Dot(v, cv)
	}
	return vecmath.L2Squared(v, cv)
}

// spread is the squared L2 distance of prepared vector v to centroid c, for
// every metric: what Drift compares (a ranking distance would not do: for
// inner product and cosine it is a negative dot product, which grows
// towards zero as rows move away from their centroid).
func (x *Index) spread(v []float32, c int) float32 {
	return vecmath.L2Squared(v, x.centroids[c*x.cfg.Dims:(c+1)*x.cfg.Dims])
}

func (x *Index) assign(v []float32) (int, float32) {
	best, bd := 0, float32(math.MaxFloat32)
	for c := range x.cfg.Lists {
		if d := x.centroidRank(v, c); d < bd {
			best, bd = c, d
		}
	}
	return best, bd
}

// Add implements ann.Index (upsert).
func (x *Index) Add(key ann.Key, vec []float32) error {
	if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, vec); err != nil {
		return fmt.Errorf("ivf: add %v: %w", key, err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.deleteLocked(key)
	id := x.newNode(key, vec)
	if !x.trained {
		x.pend(id, vec)
		if len(x.pendIDs) >= x.cfg.TrainRows {
			if err := x.trainLocked(context.Background(), x.pendVecs); err != nil {
				return fmt.Errorf("ivf: add %v: train: %w", key, err)
			}
		}
		return nil
	}
	x.file(id, vec)
	return nil
}

// AddBatch adds len(keys) rows (contiguous in vecs). An untrained index
// trains on a sample of the batch (plus pending rows) first.
func (x *Index) AddBatch(ctx context.Context, keys []ann.Key, vecs []float32) error {
	d := x.cfg.Dims
	if len(vecs) != len(keys)*d {
		return fmt.Errorf("ivf: add batch: %w", &ann.DimensionError{Want: len(keys) * d, Got: len(vecs)})
	}
	for i, k := range keys {
		if _, err := ann.CheckVector(x.cfg.Metric, d, vecs[i*d:(i+1)*d]); err != nil {
			return fmt.Errorf("ivf: add batch %v: %w", k, err)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.trained {
		if err := x.trainLocked(ctx, append(append([]float32(nil), x.pendVecs...), vecs...)); err != nil {
			return fmt.Errorf("ivf: add batch: train: %w", err)
		}
		// The batch was trained on: it is not added since training.
		defer func() { x.addDist, x.addN, x.trainedRows = 0, 0, len(x.ids) }()
	}
	for i, k := range keys {
		x.deleteLocked(k)
		x.newNode(k, vecs[i*d:(i+1)*d])
	}
	// Assignment and encoding in parallel, filing serially.
	n := len(keys)
	cellOf := make([]int32, n)
	parallel.For(n, x.threads(), parallelBelow, func(lo, hi int) {
		buf := make([]float32, 0, d)
		for i := lo; i < hi; i++ {
			c, _ := x.assign(x.prep(vecs[i*d:(i+1)*d], buf))
			cellOf[i] = int32(c)
		}
	})
	for i, k := range keys {
		if ctx.Err() != nil {
			return fmt.Errorf("ivf: add batch: %w", ctx.Err())
		}
		x.fileIn(x.ids[k], vecs[i*d:(i+1)*d], int(cellOf[i]))
	}
	return nil
}

// parallelBelow is the row count under which assignment runs on one
// goroutine.
const parallelBelow = 256

// newNode allocates a node id for key (reusing freed ids).
func (x *Index) newNode(key ann.Key, vec []float32) uint32 {
	var id uint32
	if len(x.free) > 0 && !x.frozen { // (an open view reads the kept vectors of freed ids)
		id = x.free[len(x.free)-1]
		x.free = x.free[:len(x.free)-1]
	} else {
		id = uint32(len(x.nodeKey))
		x.nodeKey = append(x.nodeKey, ann.Key{})
		x.nodeCell = append(x.nodeCell, freeCell)
		x.nodePos = append(x.nodePos, 0)
		if x.quantised() && x.cfg.KeepVectors {
			x.raw = append(x.raw, make([]float32, x.cfg.Dims)...)
		}
	}
	x.nodeKey[id] = key
	x.ids[key] = id
	if x.dirty != nil {
		x.dirty[id] = struct{}{}
	}
	if x.quantised() && x.cfg.KeepVectors {
		copy(x.raw[int(id)*x.cfg.Dims:], vec)
	}
	return id
}

func (x *Index) pend(id uint32, vec []float32) {
	x.nodeCell[id] = pendingCell
	x.nodePos[id] = uint32(len(x.pendIDs))
	x.pendIDs = append(x.pendIDs, id)
	x.pendVecs = append(x.pendVecs, vec...)
}

// file assigns vec to its cell and appends its code.
func (x *Index) file(id uint32, vec []float32) {
	c, _ := x.assign(x.prep(vec, nil))
	x.fileIn(id, vec, c)
}

func (x *Index) fileIn(id uint32, vec []float32, c int) {
	d := x.cfg.Dims
	v := x.prep(vec, nil)
	spread := x.spread(v, c)
	x.addDist += float64(spread)
	x.addN++
	if x.drifted(v, spread, c) {
		x.pend(id, vec) // its codes would misplace it: scanned exactly
		return
	}
	cl := &x.cells[c]
	x.nodeCell[id] = int32(c)
	x.nodePos[id] = uint32(len(cl.ids))
	cl.ids = append(cl.ids, id)
	switch x.cfg.Codes {
	case CodesFlat:
		cl.vecs = append(cl.vecs, v...)
	case CodesSQ8:
		n := len(cl.codes)
		cl.codes = append(cl.codes, make([]uint8, d)...)
		cl.corr = append(cl.corr, x.sq.Encode(v, cl.codes[n:]))
	case CodesPQ:
		r := x.residual(v, c, nil)
		n := len(cl.codes)
		cl.codes = append(cl.codes, make([]uint8, x.pq.M)...)
		x.pq.Encode(r, cl.codes[n:])
	case CodesBinary:
		w := x.bin.Words()
		n := len(cl.bits)
		cl.bits = append(cl.bits, make([]uint64, w)...)
		x.bin.Encode(v, cl.bits[n:])
	}
}

// maxPrecomputed bounds the floats of precomputed PQ tables (64 MiB).
const maxPrecomputed = 16 << 20

// precomputePQ fills pqPre for L2 PQ: per cell and centroid of each
// sub-space, |cb|² + 2<centroid_s, cb>.
func (x *Index) precomputePQ() {
	x.pqPre = nil
	if x.cfg.Metric != ann.L2 || x.pq == nil || x.cfg.Lists*x.pq.TableSize() > maxPrecomputed {
		return
	}
	ts := x.pq.TableSize()
	d := x.cfg.Dims
	pre := make([]float32, x.cfg.Lists*ts)
	zero := make([]float32, d)
	sq := make([]float32, ts)
	x.pq.L2Table(zero, sq) // |cb|²
	dot := make([]float32, ts)
	for c := range x.cfg.Lists {
		x.pq.DotTable(x.centroids[c*d:(c+1)*d], dot)
		t := pre[c*ts : (c+1)*ts]
		for i := range t {
			t[i] = sq[i] + 2*dot[i]
		}
	}
	x.pqPre = pre
}

// residual returns v - centroid(c) for L2 PQ; v itself for dot-based
// metrics (whose PQ codes the raw prepared vector).
func (x *Index) residual(v []float32, c int, buf []float32) []float32 {
	if x.cfg.Metric != ann.L2 && x.cfg.Metric != ann.L1 {
		return v
	}
	d := x.cfg.Dims
	buf = append(buf[:0], v...)
	cv := x.centroids[c*d : (c+1)*d]
	for i := range buf {
		buf[i] -= cv[i]
	}
	return buf
}

// Delete implements ann.Index; the cell's last entry fills the hole.
func (x *Index) Delete(key ann.Key) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.deleteLocked(key)
}

func (x *Index) deleteLocked(key ann.Key) bool {
	id, ok := x.ids[key]
	if !ok {
		return false
	}
	delete(x.ids, key)
	x.unfile(id)
	if x.dirty != nil {
		x.dirty[id] = struct{}{}
	}
	x.nodeKey[id] = ann.Key{}
	x.nodeCell[id] = freeCell
	x.free = append(x.free, id)
	return true
}

// unfile removes node id from its cell or the pending buffer.
func (x *Index) unfile(id uint32) {
	d := x.cfg.Dims
	pos := int(x.nodePos[id])
	if x.nodeCell[id] == pendingCell {
		x.ownPending()
		last := len(x.pendIDs) - 1
		mv := x.pendIDs[last]
		x.pendIDs[pos] = mv
		copy(x.pendVecs[pos*d:(pos+1)*d], x.pendVecs[last*d:])
		x.nodePos[mv] = uint32(pos)
		x.pendIDs = x.pendIDs[:last]
		x.pendVecs = x.pendVecs[:last*d]
		return
	}
	x.ownCell(int(x.nodeCell[id]))
	cl := &x.cells[x.nodeCell[id]]
	last := len(cl.ids) - 1
	mv := cl.ids[last]
	cl.ids[pos] = mv
	x.nodePos[mv] = uint32(pos)
	cl.ids = cl.ids[:last]
	switch x.cfg.Codes {
	case CodesFlat:
		copy(cl.vecs[pos*d:(pos+1)*d], cl.vecs[last*d:])
		cl.vecs = cl.vecs[:last*d]
	case CodesSQ8:
		copy(cl.codes[pos*d:(pos+1)*d], cl.codes[last*d:])
		cl.codes = cl.codes[:last*d]
		cl.corr[pos] = cl.corr[last]
		cl.corr = cl.corr[:last]
	case CodesPQ:
		m := x.pq.M
		copy(cl.codes[pos*m:(pos+1)*m], cl.codes[last*m:])
		cl.codes = cl.codes[:last*m]
	case CodesBinary:
		w := x.bin.Words()
		copy(cl.bits[pos*w:(pos+1)*w], cl.bits[last*w:])
		cl.bits = cl.bits[:last*w]
	}
}

// trainLocked trains the coarse quantiser and the codec on data (rows),
// then files every pending node. Caller holds mu exclusively.
func (x *Index) trainLocked(ctx context.Context, data []float32) error {
	if err := x.fit(ctx, data); err != nil {
		return err
	}
	d := x.cfg.Dims
	ids, vecs := x.pendIDs, x.pendVecs
	x.pendIDs, x.pendVecs, x.sharedPending = nil, nil, false
	for i, id := range ids {
		x.file(id, vecs[i*d:(i+1)*d])
	}
	x.addDist, x.addN = 0, 0 // drift counts rows added after training
	x.trainedRows = len(x.ids)
	return nil
}

// fit trains the model — centroids, codec, the training rows' spread — on a
// sample of data (rows) and makes the cells empty, setting nothing else. It
// needs no lock when x is private to the caller (Retrain's builder).
func (x *Index) fit(ctx context.Context, data []float32) error {
	d := x.cfg.Dims
	n := len(data) / d
	if n == 0 {
		return fmt.Errorf("no data")
	}
	step := max(1, n/x.cfg.SampleRows)
	sample := make([]float32, 0, min(n, x.cfg.SampleRows+1)*d)
	for i := 0; i < n; i += step {
		start := len(sample)
		sample = append(sample, data[i*d:(i+1)*d]...)
		if x.cfg.Metric == ann.Cosine {
			vecmath.Normalize(sample[start:])
		}
	}
	lists := min(x.cfg.Lists, len(sample)/d)
	cent, err := kmeans.Train(ctx, sample, d, lists, x.cfg.Iterations, x.cfg.Seed, x.cfg.Metric == ann.Cosine, x.threads())
	if err != nil {
		return err
	}
	// Fewer rows than lists: repeat centroids so the cell count is fixed.
	for len(cent) < x.cfg.Lists*d {
		cent = append(cent, cent[:d]...)
	}
	x.centroids = cent
	keptSQ := false
	switch x.cfg.Codes {
	case CodesSQ8:
		conf := 0.0 // codec default; min/max for inner product (see hnsw.Config.SQ8Confidence)
		if x.cfg.Metric == ann.InnerProduct {
			conf = 1
		}
		old := x.sq
		if x.sq, err = sq8.Train(sample, d, conf); err != nil {
			return err
		}
		if old != nil && x.sq.Alpha() > maxWiden*old.Alpha() {
			x.sq, keptSQ = old, true // a few rows far outside the rest: they stay pending (drift.go)
		}
	case CodesBinary:
		if x.bin, err = binary.Train(sample, d); err != nil {
			return err
		}
	case CodesPQ:
		res := make([]float32, 0, len(sample))
		for i := 0; i*d < len(sample); i++ {
			v := sample[i*d : (i+1)*d]
			c, _ := x.assign(v)
			res = append(res, x.residual(v, c, nil)...)
		}
		if x.pq, err = pq.Train(ctx, res, d, x.cfg.PQSegments, x.cfg.Iterations, x.cfg.Seed, x.threads()); err != nil {
			return err
		}
		x.precomputePQ()
	}
	var sum float64
	for i := 0; i*d < len(sample); i++ {
		v := sample[i*d : (i+1)*d]
		c, _ := x.assign(v)
		sum += float64(x.spread(v, c))
	}
	x.trainDist = sum / float64(len(sample)/d)
	if !keptSQ || x.bound <= 0 {
		// A kept codec keeps its bound: calibrated again on rows far outside its range, it would
		// let them all in.
		x.bound = x.driftBound(sample)
	}
	x.addDist, x.addN = 0, 0
	x.cells, x.sharedCells = make([]cell, x.cfg.Lists), nil
	x.trained = true
	return nil
}

// Train trains (or retrains) the index on sample rows and re-files every
// vector. A flat or KeepVectors index re-files exactly; otherwise vectors
// are reconstructed from their codes first (lossy).
func (x *Index) Train(ctx context.Context, sample []float32) error {
	if len(sample) == 0 || len(sample)%x.cfg.Dims != 0 {
		return fmt.Errorf("ivf: train: %w", &ann.DimensionError{Want: x.cfg.Dims, Got: len(sample) % max(1, x.cfg.Dims)})
	}
	x.viewMu.Lock() // after an open view is written: this moves every row in place
	defer x.viewMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	if x.trained {
		// Move everything back to pending as float vectors.
		all := x.vectorsLocked()
		x.pendIDs, x.pendVecs = nil, nil // the drifted rows pending are in all
		x.trained = false
		for _, id := range sortedIDs(all) {
			x.unfileNoCheck(id)
			x.pend(id, all[id])
		}
		x.cells = nil
	}
	if err := x.trainLocked(ctx, sample); err != nil {
		return fmt.Errorf("ivf: train: %w", err)
	}
	return nil
}

func sortedIDs(m map[uint32][]float32) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// unfileNoCheck drops node id from its cell without moving others (the
// cells are discarded by the caller).
func (x *Index) unfileNoCheck(id uint32) { x.nodeCell[id] = freeCell }

// vectorsLocked returns every live node's vector (original, or
// reconstructed from codes).
func (x *Index) vectorsLocked() map[uint32][]float32 {
	out := make(map[uint32][]float32, len(x.ids))
	for _, id := range x.ids {
		out[id] = x.appendVector(nil, id)
	}
	return out
}

// appendVector appends live node id's vector to dst: the original (pending,
// kept), the prepared one (flat cells) or one reconstructed from its code.
// Caller holds mu.
func (x *Index) appendVector(dst []float32, id uint32) []float32 {
	d := x.cfg.Dims
	n := len(dst)
	dst = append(dst, make([]float32, d)...)
	v := dst[n:]
	c := x.nodeCell[id]
	pos := int(x.nodePos[id])
	switch {
	case c == pendingCell:
		copy(v, x.pendVecs[pos*d:])
	case x.quantised() && x.cfg.KeepVectors:
		copy(v, x.raw[int(id)*d:])
	default:
		cl := &x.cells[c]
		switch x.cfg.Codes {
		case CodesFlat:
			copy(v, cl.vecs[pos*d:])
		case CodesSQ8:
			x.sq.Decode(cl.codes[pos*d:(pos+1)*d], v)
		case CodesPQ:
			x.pq.Decode(cl.codes[pos*x.pq.M:(pos+1)*x.pq.M], v)
			if x.cfg.Metric == ann.L2 {
				cv := x.centroids[int(c)*d:]
				for i := range v {
					v[i] += cv[i]
				}
			}
		case CodesBinary:
			w := x.bin.Words()
			bits := cl.bits[pos*w : (pos+1)*w]
			for i := range v {
				if bits[i>>6]&(1<<(uint(i)&63)) != 0 {
					v[i] = 1
				} else {
					v[i] = -1
				}
			}
		}
	}
	return dst
}

// Drift returns the ratio of the mean centroid distance of rows added since
// training to that of the training rows (1 means no drift; 0 if nothing was
// added). Retrain when it grows well past 1 (e.g. 1.5).
func (x *Index) Drift() float64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.addN == 0 || x.trainDist == 0 {
		return 0
	}
	return (x.addDist / float64(x.addN)) / x.trainDist
}

// searchScratch avoids per-candidate allocation.
type qprep struct {
	v     []float32 // prepared query
	codes []uint8
	corr  float32
	bits  []uint64
	table []float32
	qdot  []float32 // L2 PQ with precomputed tables: <q, cb> per centroid
	res   []float32
	cdist []float32 // per cell: ranking distance of its centroid
}

// Search implements ann.Index. opts.Probes overrides Config.Probes. With a
// filter, probes double until k accepted rows are found or every cell was
// visited.
func (x *Index) Search(ctx context.Context, vec []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	if err := ann.CheckK(k); err != nil {
		return nil, fmt.Errorf("ivf: search: %w", err)
	}
	if opts.Farthest {
		return nil, fmt.Errorf("ivf: search farthest: %w", ann.ErrUnsupported)
	}
	if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, vec); err != nil {
		return nil, fmt.Errorf("ivf: search: %w", err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.ids) == 0 {
		return nil, fmt.Errorf("ivf: search: %w", ann.ErrEmpty)
	}
	rerank := x.quantised() && x.cfg.KeepVectors
	kk := k
	if rerank {
		over := opts.Oversample
		if over < 1 {
			over = x.cfg.Oversample
		}
		kk = int(math.Ceil(float64(k) * over))
	}
	probes := opts.Probes
	if probes <= 0 {
		probes = x.cfg.Probes
	}
	q := &qprep{v: x.prep(vec, nil)}
	var accept func(uint32) bool
	if opts.Filter != nil {
		accept = func(id uint32) bool { return opts.Filter(x.nodeKey[id]) }
	}
	var h topk.Max
	var order []int
	if x.trained {
		x.prepQuery(q)
		order = x.rankCells(q)
	}
	// Pending rows are scanned exactly.
	if x.trained && x.cfg.Codes == CodesBinary {
		x.scanPendingBinary(q, &h, kk, accept)
	} else {
		d := x.cfg.Dims
		for i, id := range x.pendIDs {
			if accept != nil && !accept(id) {
				continue
			}
			v := x.prep(x.pendVecs[i*d:(i+1)*d], nil)
			h.PushBounded(topk.Item{Dist: x.flatRank(q.v, v), ID: id}, kk)
		}
	}
	done := 0
	for x.trained {
		p := min(probes, len(order))
		for _, c := range order[done:p] {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("ivf: search: %w", ctx.Err())
			}
			x.scanCell(q, c, &h, kk, accept)
		}
		done = p
		if accept == nil || h.Len() >= kk || p == len(order) {
			break
		}
		probes = 2 * p
	}
	items := h.SortedAscending(nil)
	return x.results(vec, q, items, k, rerank), nil
}

// flatRank is the ranking distance between prepared vectors.
func (x *Index) flatRank(q, v []float32) float32 {
	switch x.cfg.Metric {
	case ann.L2:
		return vecmath.L2Squared(q, v)
	case ann.InnerProduct:
		return -vecmath.Dot(q, v)
	case ann.Cosine:
		return 1 - vecmath.Dot(q, v)
	}
	return vecmath.L1(q, v)
}

func (x *Index) prepQuery(q *qprep) {
	switch x.cfg.Codes {
	case CodesSQ8:
		q.codes = make([]uint8, x.cfg.Dims)
		q.corr = x.sq.Encode(q.v, q.codes)
	case CodesBinary:
		q.bits = make([]uint64, x.bin.Words())
		x.bin.Encode(q.v, q.bits)
	case CodesPQ:
		q.table = make([]float32, x.pq.TableSize())
		if x.cfg.Metric != ann.L2 {
			x.pq.DotTable(q.v, q.table)
		} else if x.pqPre != nil {
			q.qdot = make([]float32, x.pq.TableSize())
			x.pq.DotTable(q.v, q.qdot)
		}
	}
}

// rankCells orders the cells by centroid distance to the prepared query.
func (x *Index) rankCells(q *qprep) []int {
	items := make([]topk.Item, x.cfg.Lists)
	q.cdist = make([]float32, x.cfg.Lists)
	for c := range items {
		d := x.centroidRank(q.v, c)
		q.cdist[c] = d
		items[c] = topk.Item{Dist: d, ID: uint32(c)}
	}
	topk.Sort(items)
	out := make([]int, len(items))
	for i, it := range items {
		out[i] = int(it.ID)
	}
	return out
}

// scanCell pushes cell c's entries into h.
func (x *Index) scanCell(q *qprep, c int, h *topk.Max, kk int, accept func(uint32) bool) {
	cl := &x.cells[c]
	d := x.cfg.Dims
	var base float32
	if x.cfg.Codes == CodesPQ {
		if x.cfg.Metric == ann.L2 && x.pqPre != nil {
			// |q-c-r|² = |q-c|² + (|r|² + 2<c,r>) - 2<q,r>: one add per entry.
			pre := x.pqPre[c*len(q.table) : (c+1)*len(q.table)]
			for i := range q.table {
				q.table[i] = pre[i] - 2*q.qdot[i]
			}
			base = q.cdist[c]
		} else if x.cfg.Metric == ann.L2 {
			q.res = x.residual(q.v, c, q.res)
			x.pq.L2Table(q.res, q.table)
		} else {
			// v ≈ reconstruction: dot(q, v) from the table directly.
			base = 0
		}
	}
	for i, id := range cl.ids {
		if accept != nil && !accept(id) {
			continue
		}
		var r float32
		switch x.cfg.Codes {
		case CodesFlat:
			r = x.flatRank(q.v, cl.vecs[i*d:(i+1)*d])
		case CodesSQ8:
			code := cl.codes[i*d : (i+1)*d]
			if x.cfg.Metric == ann.L2 {
				r = x.sq.L2Squared(q.codes, code)
			} else if x.cfg.Metric == ann.Cosine {
				r = x.sq.L2Squared(q.codes, code) / 2 // unit vectors: 1 - cos
			} else {
				r = -x.sq.Dot(q.codes, q.corr, code, cl.corr[i])
			}
		case CodesPQ:
			m := x.pq.M
			t := x.pq.Lookup(q.table, cl.codes[i*m:(i+1)*m])
			if x.cfg.Metric == ann.L2 {
				r = base + t
			} else {
				r = base - t
				if x.cfg.Metric == ann.Cosine {
					r += 1
				}
			}
		case CodesBinary:
			w := x.bin.Words()
			r = float32(vecmath.Hamming(q.bits, cl.bits[i*w:(i+1)*w]))
		}
		h.PushBounded(topk.Item{Dist: r, ID: id}, kk)
	}
}

// results converts candidates to the top k with pgvector distances.
func (x *Index) results(vec []float32, q *qprep, items []topk.Item, k int, rerank bool) []ann.Result {
	d := x.cfg.Dims
	exact := func(id uint32) (float64, bool) {
		if x.nodeCell[id] == pendingCell {
			p := int(x.nodePos[id])
			return metricfn.Exact(x.cfg.Metric, vec, x.pendVecs[p*d:(p+1)*d]), true
		}
		if rerank {
			return metricfn.Exact(x.cfg.Metric, vec, x.raw[int(id)*d:int(id+1)*d]), true
		}
		if x.cfg.Codes == CodesFlat {
			cl := &x.cells[x.nodeCell[id]]
			p := int(x.nodePos[id])
			v := cl.vecs[p*d : (p+1)*d]
			if x.cfg.Metric == ann.Cosine {
				return math.Max(0, math.Min(2, 1-float64(vecmath.Dot(q.v, v)))), true
			}
			return metricfn.Exact(x.cfg.Metric, vec, v), true
		}
		return 0, false
	}
	out := make([]ann.Result, len(items))
	for i, it := range items {
		dist, ok := exact(it.ID)
		if !ok {
			dist = metricfn.FromRank(x.cfg.Metric, it.Dist)
			if x.cfg.Codes == CodesBinary {
				dist = float64(it.Dist) // Hamming bits: an estimate only
			}
		}
		out[i] = ann.Result{Key: x.nodeKey[it.ID], Distance: dist}
	}
	if rerank {
		sortResults(out)
	}
	return out[:min(k, len(out))]
}

func sortResults(a []ann.Result) {
	for i := 1; i < len(a); i++ {
		v := a[i]
		j := i - 1
		for j >= 0 && a[j].Distance > v.Distance {
			a[j+1] = a[j]
			j--
		}
		a[j+1] = v
	}
}
