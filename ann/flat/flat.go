package flat

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/metricfn"
	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/vecmath"
)

// Config configures an exact index.
type Config struct {
	// Metric is the distance; Hamming is not supported on float vectors.
	Metric ann.Metric
	// Dims is the vector dimension (required, > 0).
	Dims int
	// Threads is the number of scan goroutines; 0 means GOMAXPROCS.
	Threads int
	// MemoryBudget bounds the scratch memory of SearchBatch in bytes
	// (per-worker heaps of a group of queries); 0 means 64 MiB.
	MemoryBudget int64
}

// DefaultConfig returns a configuration for dims-dimensional vectors under m.
func DefaultConfig(m ann.Metric, dims int) Config { return Config{Metric: m, Dims: dims} }

func (c Config) validate() error {
	if c.Dims <= 0 || c.Dims > ann.MaxDims {
		return fmt.Errorf("flat: dims %d out of range [1, %d]", c.Dims, ann.MaxDims)
	}
	if !c.Metric.Valid() || c.Metric == ann.Hamming {
		return fmt.Errorf("flat: metric %v: %w", c.Metric, ann.ErrUnsupported)
	}
	if c.Threads < 0 || c.MemoryBudget < 0 {
		return fmt.Errorf("flat: negative threads or memory budget")
	}
	return nil
}

// Index is an exact index. It implements ann.Index.
type Index struct {
	cfg Config

	mu   sync.RWMutex       // guards everything below
	vecs []float32          // row i at vecs[i*dims:(i+1)*dims], no holes
	inv  []float32          // 1/|row i|, cosine only
	keys []ann.Key          // row -> key
	ids  map[ann.Key]uint32 // key -> row
}

var _ ann.Index = (*Index)(nil)

// New returns an empty index.
func New(cfg Config) (*Index, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Index{cfg: cfg, ids: make(map[ann.Key]uint32)}, nil
}

// Metric implements ann.Index.
func (x *Index) Metric() ann.Metric { return x.cfg.Metric }

// Dims implements ann.Index.
func (x *Index) Dims() int { return x.cfg.Dims }

// Len implements ann.Index.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.keys)
}

// MemoryBytes implements ann.Index.
func (x *Index) MemoryBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return int64(cap(x.vecs))*4 + int64(cap(x.inv))*4 + int64(cap(x.keys))*40 + int64(len(x.ids))*56
}

// Add implements ann.Index (upsert).
func (x *Index) Add(key ann.Key, vec []float32) error {
	if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, vec); err != nil {
		return fmt.Errorf("flat: add %v: %w", key, err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addLocked(key, vec)
	return nil
}

func (x *Index) addLocked(key ann.Key, vec []float32) {
	d := x.cfg.Dims
	if r, ok := x.ids[key]; ok {
		copy(x.vecs[int(r)*d:], vec)
		if x.cfg.Metric == ann.Cosine {
			x.inv[r] = vecmath.InvNorm(vec)
		}
		return
	}
	x.ids[key] = uint32(len(x.keys))
	x.keys = append(x.keys, key)
	x.vecs = append(x.vecs, vec...)
	if x.cfg.Metric == ann.Cosine {
		x.inv = append(x.inv, vecmath.InvNorm(vec))
	}
}

// AddBatch adds many vectors under one lock; vecs holds len(keys) rows
// contiguously. It validates every row first and adds none on error.
func (x *Index) AddBatch(keys []ann.Key, vecs []float32) error {
	d := x.cfg.Dims
	if len(vecs) != len(keys)*d {
		return fmt.Errorf("flat: add batch: %w", &ann.DimensionError{Want: len(keys) * d, Got: len(vecs)})
	}
	for i, k := range keys {
		if _, err := ann.CheckVector(x.cfg.Metric, d, vecs[i*d:(i+1)*d]); err != nil {
			return fmt.Errorf("flat: add batch %v: %w", k, err)
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.vecs = append(make([]float32, 0, len(x.vecs)+len(vecs)), x.vecs...)
	for i, k := range keys {
		x.addLocked(k, vecs[i*d:(i+1)*d])
	}
	return nil
}

// Delete implements ann.Index. The last row moves into the freed slot.
func (x *Index) Delete(key ann.Key) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	r, ok := x.ids[key]
	if !ok {
		return false
	}
	delete(x.ids, key)
	d := x.cfg.Dims
	last := uint32(len(x.keys) - 1)
	if r != last {
		copy(x.vecs[int(r)*d:int(r+1)*d], x.vecs[int(last)*d:])
		x.keys[r] = x.keys[last]
		x.ids[x.keys[r]] = r
		if x.inv != nil {
			x.inv[r] = x.inv[last]
		}
	}
	x.keys = x.keys[:last]
	x.vecs = x.vecs[:int(last)*d]
	if x.inv != nil {
		x.inv = x.inv[:last]
	}
	// Give memory back when the store is mostly empty.
	if cap(x.keys) > 1024 && len(x.keys) < cap(x.keys)/4 {
		x.keys = append([]ann.Key(nil), x.keys...)
		x.vecs = append([]float32(nil), x.vecs...)
		if x.inv != nil {
			x.inv = append([]float32(nil), x.inv...)
		}
	}
	return true
}

// Vector returns a copy of key's vector.
func (x *Index) Vector(key ann.Key) ([]float32, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, ok := x.ids[key]
	if !ok {
		return nil, false
	}
	d := x.cfg.Dims
	return append([]float32(nil), x.vecs[int(r)*d:int(r+1)*d]...), true
}

// BatchOptions tune SearchBatch.
type BatchOptions struct {
	// Farthest returns the k most dissimilar rows (chunkdot's negative
	// top_k), ordered by descending distance.
	Farthest bool
	// Filter restricts results to keys for which it returns true.
	Filter func(ann.Key) bool
	// Allowed, when non-nil, restricts the scan to these keys (unknown
	// keys are ignored). Cheaper than Filter when the set is small.
	Allowed []ann.Key
	// Progress, when set, is called (serially, from scan goroutines) with
	// the rows scanned so far and the total, per group of queries.
	Progress func(done, total int)
	// Threads overrides Config.Threads for this call.
	Threads int
}

// Search implements ann.Index. With opts.Farthest the results are the k
// most distant, ordered by descending distance (ORDER BY … DESC).
func (x *Index) Search(ctx context.Context, query []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	res, err := x.SearchBatch(ctx, [][]float32{query}, k, BatchOptions{Farthest: opts.Farthest, Filter: opts.Filter})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// SearchBatch answers many queries with one pass over each block of rows.
func (x *Index) SearchBatch(ctx context.Context, queries [][]float32, k int, opts BatchOptions) ([][]ann.Result, error) {
	if err := ann.CheckK(k); err != nil {
		return nil, fmt.Errorf("flat: search: %w", err)
	}
	for i, q := range queries {
		if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, q); err != nil {
			return nil, fmt.Errorf("flat: search query %d: %w", i, err)
		}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.keys) == 0 {
		return nil, fmt.Errorf("flat: search: %w", ann.ErrEmpty)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = x.cfg.Threads
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	mat := &matrix{data: x.vecs, inv: x.inv, dims: x.cfg.Dims, rows: len(x.keys)}
	var subset []uint32
	if opts.Allowed != nil {
		subset = make([]uint32, 0, len(opts.Allowed))
		seen := make(map[uint32]bool, len(opts.Allowed))
		for _, key := range opts.Allowed {
			if r, ok := x.ids[key]; ok && !seen[r] {
				seen[r] = true
				subset = append(subset, r)
			}
		}
	}
	var accept func(int) bool
	if opts.Filter != nil {
		accept = func(r int) bool { return opts.Filter(x.keys[r]) }
	}
	// Memory budget: per query and worker a heap of k items (8 bytes) plus
	// the result slice.
	budget := x.cfg.MemoryBudget
	if budget <= 0 {
		budget = 64 << 20
	}
	group := int(budget / int64((threads+1)*k*8+64))
	group = max(1, min(group, len(queries)))
	out := make([][]ann.Result, 0, len(queries))
	for start := 0; start < len(queries); start += group {
		qs := queries[start:min(start+group, len(queries))]
		job := scanJob{metric: x.cfg.Metric, mat: mat, queries: qs, k: k, farthest: opts.Farthest,
			subset: subset, accept: accept, threads: threads, progress: opts.Progress}
		items, err := job.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("flat: search: %w", err)
		}
		for qi, its := range items {
			rs := make([]ann.Result, len(its))
			for i, it := range its {
				rs[i] = ann.Result{Key: x.keys[it.ID], Distance: metricfn.Exact(x.cfg.Metric, qs[qi], mat.row(int(it.ID)))}
			}
			out = append(out, rs)
		}
	}
	return out, nil
}

const (
	fileKind    = "FLAT"
	fileVersion = 1
)

// Save implements ann.Index.
func (x *Index) Save(w io.Writer) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	e := fileformat.NewEncoder(w, fileKind, fileVersion)
	e.U32(uint32(x.cfg.Metric))
	e.U32(uint32(x.cfg.Dims))
	e.U64(uint64(len(x.keys)))
	for _, k := range x.keys {
		e.Binary(k)
	}
	e.F32s(x.vecs)
	if err := e.Finish(); err != nil {
		return fmt.Errorf("flat: save: %w", err)
	}
	return nil
}

// Load reads an index written by Save. cfg supplies Threads and
// MemoryBudget; Metric and Dims come from the file.
func Load(r io.Reader, cfg Config) (*Index, error) {
	d, err := fileformat.Open(r, fileKind, fileVersion)
	if err != nil {
		return nil, fmt.Errorf("flat: load: %w", err)
	}
	cfg.Metric = ann.Metric(d.U32())
	cfg.Dims = int(d.U32())
	n := d.U64()
	if d.Err() == nil && n > uint64(d.Remaining()) {
		d.Fail("%d keys overrun the file", n)
	}
	if d.Err() == nil {
		if err := cfg.validate(); err != nil {
			d.Fail("%v", err)
		}
	}
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("flat: load: %w", err)
	}
	x, _ := New(cfg)
	x.keys = make([]ann.Key, 0, n)
	for i := uint64(0); i < n && d.Err() == nil; i++ {
		var k ann.Key
		d.Binary(&k)
		if _, dup := x.ids[k]; dup && d.Err() == nil {
			d.Fail("duplicate key %v", k)
		}
		x.ids[k] = uint32(i)
		x.keys = append(x.keys, k)
	}
	x.vecs = d.F32s()
	if d.Err() == nil && uint64(len(x.vecs)) != n*uint64(cfg.Dims) {
		d.Fail("%d floats for %d rows of %d dims", len(x.vecs), n, cfg.Dims)
	}
	if err := d.End(); err != nil {
		return nil, fmt.Errorf("flat: load: %w", err)
	}
	for i := range x.keys {
		if _, err := ann.CheckVector(cfg.Metric, cfg.Dims, x.vecs[i*cfg.Dims:(i+1)*cfg.Dims]); err != nil {
			return nil, fmt.Errorf("flat: load: %w: row %d: %v", ann.ErrCorrupt, i, err)
		}
	}
	if cfg.Metric == ann.Cosine {
		x.inv = make([]float32, n)
		for i := range x.inv {
			x.inv[i] = vecmath.InvNorm(x.vecs[i*cfg.Dims : (i+1)*cfg.Dims])
		}
	}
	return x, nil
}

// GroundTruth returns, for each query, the row numbers of its k nearest
// rows of data (rows of dims floats, contiguous) under m, exactly, using all
// threads (0 = GOMAXPROCS). progress may be nil. Rows are not validated.
func GroundTruth(ctx context.Context, m ann.Metric, dims int, data []float32, queries [][]float32, k, threads int, progress func(done, total int)) ([][]int32, error) {
	if dims <= 0 || len(data)%dims != 0 {
		return nil, fmt.Errorf("flat: ground truth: %w", &ann.DimensionError{Want: dims, Got: len(data) % max(dims, 1)})
	}
	if err := ann.CheckK(k); err != nil {
		return nil, fmt.Errorf("flat: ground truth: %w", err)
	}
	for i, q := range queries {
		if len(q) != dims {
			return nil, fmt.Errorf("flat: ground truth query %d: %w", i, &ann.DimensionError{Want: dims, Got: len(q)})
		}
	}
	mat := &matrix{data: data, dims: dims, rows: len(data) / dims}
	if mat.rows == 0 {
		return nil, fmt.Errorf("flat: ground truth: %w", ann.ErrEmpty)
	}
	if m == ann.Cosine {
		mat.inv = make([]float32, mat.rows)
		for i := range mat.inv {
			mat.inv[i] = vecmath.InvNorm(mat.row(i))
		}
	}
	// Groups of 64 queries keep per-worker heaps small and blocks hot.
	out := make([][]int32, 0, len(queries))
	for start := 0; start < len(queries); start += 64 {
		qs := queries[start:min(start+64, len(queries))]
		job := scanJob{metric: m, mat: mat, queries: qs, k: k, threads: threads}
		if progress != nil {
			base := start
			job.progress = func(done, total int) {
				if done == total {
					progress(base+len(qs), len(queries))
				}
			}
		}
		items, err := job.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("flat: ground truth: %w", err)
		}
		for _, its := range items {
			ids := make([]int32, len(its))
			for i, it := range its {
				ids[i] = int32(it.ID)
			}
			out = append(out, ids)
		}
	}
	return out, nil
}
