package hnsw

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/topk"
	"github.com/vecgate/vecgate/quant/sq8"
	"github.com/vecgate/vecgate/vecmath"
)

// Config configures an HNSW index. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Metric is the distance (L2, InnerProduct, Cosine or L1).
	Metric ann.Metric
	// Dims is the vector dimension (required).
	Dims int
	// M is the number of neighbours per node on upper levels (2M on level
	// 0). Higher: better recall, more memory (8M bytes/vector on level 0),
	// slower build. pgvector default 16.
	M int
	// EFConstruction is the candidate list size while inserting. Higher:
	// better graph and recall, slower build. pgvector default 64.
	EFConstruction int
	// EFSearch is the default candidate list size of a search
	// (hnsw.ef_search). Higher: better recall, slower queries. Default 40.
	EFSearch int
	// Seed seeds the level generator.
	Seed uint64
	// Threads is the parallelism of AddBatch and Compact; 0 = GOMAXPROCS.
	Threads int
	// CompactRatio: when tombstones exceed this fraction of the nodes,
	// Delete compacts (repairs neighbours, frees slots). Default 0.1;
	// negative disables automatic compaction.
	CompactRatio float64
	// ExactFilterRows: a filtered search whose filter is estimated to
	// allow at most this many rows scans them exactly. Default 2048.
	ExactFilterRows int
	// InitialCapacity preallocates room for this many vectors.
	InitialCapacity int
	// Quantizer is "" or "none" (float32 vectors) or "sq8" (int8 codes,
	// 4× less vector memory; L2, InnerProduct and Cosine only).
	Quantizer string
	// SQ8 is a pre-trained codec for Quantizer "sq8"; nil trains one on
	// the first AddBatch (or the first vector added).
	SQ8 *sq8.Codec
	// SQ8Confidence is the confidence interval of the quantiles trained
	// for Quantizer "sq8"; 0 means sq8.DefaultConfidence(Dims) for L2 and
	// cosine and 1 (min/max, no clamping) for inner product, whose dot
	// products on codes suffer from clamped components (measured: recall
	// of top-20 candidates 0.87 at 0.99, 0.98 at 0.999, 1.0 at 1).
	SQ8Confidence float64
	// KeepVectors keeps the float32 vectors of a quantised index in memory
	// so searches rerank k×Oversample candidates exactly. Without it,
	// distances are estimates and the caller reranks (in Postgres).
	KeepVectors bool
	// Oversample is the default rerank factor of a quantised index with
	// KeepVectors (SearchOptions.Oversample overrides). Default 2.
	Oversample float64
	// DriftBound is the clipped share (sq8.Codec.Clipped) past which an inserted row goes on
	// the side list searched exactly (drift.go); 0 means sq8.Codec.DriftBound of the rows the
	// codec trains on (sq8.MinDriftBound for a pre-trained SQ8).
	DriftBound float64
	// VectorDir, when set, keeps the float32 vectors of a quantised index with KeepVectors in
	// an unlinked file in this directory, mapped (the page cache holds them; the kernel drops
	// the pages searches do not touch): the graph walk reads only codes and links, and a search
	// reads the vectors of the k×Oversample candidates it reranks. Empty: they live in
	// anonymous memory outside the Go heap, as every other node array.
	VectorDir string
}

// DefaultConfig returns pgvector's defaults for dims-dimensional vectors.
func DefaultConfig(m ann.Metric, dims int) Config {
	return Config{Metric: m, Dims: dims, M: 16, EFConstruction: 64, EFSearch: 40,
		CompactRatio: 0.1, ExactFilterRows: 2048}
}

func (c *Config) fill() error {
	d := DefaultConfig(c.Metric, c.Dims)
	if c.M == 0 {
		c.M = d.M
	}
	if c.EFConstruction == 0 {
		c.EFConstruction = d.EFConstruction
	}
	if c.EFSearch == 0 {
		c.EFSearch = d.EFSearch
	}
	if c.CompactRatio == 0 {
		c.CompactRatio = d.CompactRatio
	}
	if c.ExactFilterRows == 0 {
		c.ExactFilterRows = d.ExactFilterRows
	}
	if c.Oversample == 0 {
		c.Oversample = 2
	}
	if c.Quantizer == "none" {
		c.Quantizer = ""
	}
	switch {
	case c.Dims <= 0 || c.Dims > ann.MaxDims:
		return fmt.Errorf("hnsw: dims %d out of range [1, %d]", c.Dims, ann.MaxDims)
	case !c.Metric.Valid() || c.Metric == ann.Hamming:
		return fmt.Errorf("hnsw: metric %v: %w", c.Metric, ann.ErrUnsupported)
	case c.M < 2 || c.M > 100:
		return fmt.Errorf("hnsw: m %d out of range [2, 100]", c.M)
	case c.EFConstruction < 1 || c.EFConstruction > 10000 || c.EFSearch < 1 || c.EFSearch > 10000:
		return fmt.Errorf("hnsw: ef out of range [1, 10000]")
	case c.Threads < 0 || c.InitialCapacity < 0:
		return fmt.Errorf("hnsw: negative threads or capacity")
	case c.Quantizer != "" && c.Quantizer != "sq8":
		return fmt.Errorf("hnsw: quantizer %q: %w", c.Quantizer, ann.ErrUnsupported)
	case c.Quantizer == "sq8" && c.Metric == ann.L1:
		return fmt.Errorf("hnsw: sq8 with metric %v: %w", c.Metric, ann.ErrUnsupported)
	case c.SQ8 != nil && c.SQ8.Dims != c.Dims:
		return fmt.Errorf("hnsw: sq8 codec: %w", &ann.DimensionError{Want: c.Dims, Got: c.SQ8.Dims})
	case !(c.Oversample >= 1 && c.Oversample <= 1000):
		return fmt.Errorf("hnsw: oversample %v out of range [1, 1000]", c.Oversample)
	}
	return nil
}

const maxLevel = 16

// Index is an HNSW index. It implements ann.Index.
type Index struct {
	cfg       Config
	m, m0     int // max neighbours on upper levels / level 0
	stride0   int // m0 + 1 words per node on level 0
	strideU   int // m + 1 words per node and upper level
	levelMult float64

	// mu: shared by searches and graph inserts; exclusive to grow the
	// arrays below, delete, compact and move the entry point.
	mu     sync.RWMutex
	closed bool          // Close ran: the node arrays are released; mu
	quant  bool          // codes instead of / besides vectors; fixed at New
	raw    bool          // vecs holds float32 vectors; fixed at New
	sq     *sq8.Codec    // set once before the first code is written; replaced by Requantize
	codes  rows[uint8]   // sq8: dims codes per node
	corr   rows[float32] // sq8: correction term per node
	vecs   rows[float32] // raw: dims floats per node (for cosine as given, not normalised)
	inv    rows[float32] // raw cosine: 1/|v| per node (cosine ranks by v·q/|v| with q unit length)
	// normalised: the cosine vectors were read from a file that held them normalised (older
	// format): they are not the rows' own (Originals).
	normalised bool
	links0     rows[uint32] // level-0 lists, stride0 words per node; words read/written atomically
	upper      rows[uint32] // upper-level lists, strideU words per row; see upperAt
	upperAt    []uint32     // node's level-l list (1 <= l <= level) is upper row upperAt+l-1
	levels     []uint8      // node's top level
	nodeInt    []int64      // node -> integer key (see keys.go); written before the node is linked
	nodeKeys   []ann.Key    // node -> uuid/text key, nil until the first one; as nodeInt
	dead       []uint32     // 1 = not a live node (unallocated, tombstone or free); atomic
	entry      uint32       // entry point; written under exclusive mu
	top        int          // level of the entry point, -1 when empty; exclusive mu
	nDeleted   int          // tombstones not yet compacted; exclusive mu
	nLive      atomic.Int64
	// inserted counts inserts since the last relink (MaybeRelink).
	inserted atomic.Int64

	// Drift of SQ8 codes (drift.go). bound: the clipped share past which a row goes on side, set
	// with sq (mu). requants: re-quantisations swapped in (mu). reordered counts Reorders (mu),
	// so a re-quantisation built on the old numbering is dropped.
	side      sideList
	bound     float64
	requants  int
	reordered int
	// requant is set while a re-quantisation builds outside the lock; inserts then note their
	// slots in requantDirty (under requantMu) to be encoded again at the swap.
	requant      atomic.Bool
	requantMu    sync.Mutex
	requantDirty []uint32

	// allocMu guards slot allocation: ids, keyBytes, free, used, the upper rows' upperUsed
	// and upperFree, rng.
	allocMu   sync.Mutex
	ids       idTable  // key -> live node
	keyBytes  int64    // string bytes of the uuid and text keys in nodeKeys
	free      []uint32 // compacted slots, reusable
	used      int      // slots handed out (high-water mark)
	upperUsed int      // upper rows handed out (high-water mark)
	// upperFree[n-1] holds the first rows of freed runs of n upper rows (the lists of a
	// compacted node of level n), for reuse by a node of the same level.
	upperFree [maxLevel][]uint32
	rng       *rand.Rand

	locks [1024]sync.Mutex // striped node locks for neighbour list writes

	// A View open (view.go): frozen is it (set and cleared under mu held exclusively), viewMu
	// is held from Freeze to Release, and rowsReleased says Close or Release freed the arrays.
	frozen       atomic.Pointer[View]
	viewMu       sync.Mutex
	rowsReleased bool

	pool sync.Pool // *searcher
}

var _ ann.Index = (*Index)(nil)

// New returns an empty index.
func New(cfg Config) (*Index, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	x := &Index{
		cfg:       cfg,
		m:         cfg.M,
		m0:        2 * cfg.M,
		stride0:   2*cfg.M + 1,
		strideU:   cfg.M + 1,
		levelMult: 1 / math.Log(float64(cfg.M)),
		top:       -1,
		rng:       rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		quant:     cfg.Quantizer == "sq8",
		sq:        cfg.SQ8,
	}
	if x.sq != nil {
		x.bound = cmp.Or(cfg.DriftBound, sq8.MinDriftBound)
	}
	x.raw = !x.quant || cfg.KeepVectors
	x.ids = newIDTable(x.key)
	if err := x.setWidths(); err != nil {
		return nil, err
	}
	x.growLocked(max(cfg.InitialCapacity, 64))
	return x, nil
}

// ErrClosed: the index was closed (Close); nothing can be searched or added.
var ErrClosed = errors.New("hnsw: index closed")

// Close releases the node arrays, which live outside the Go heap (store.go), and the vector file.
// It waits for the searches and inserts in flight (it takes mu exclusively); afterwards Search,
// SearchKeys, Add, AddBatch, Save and Requantize return ErrClosed, and the rest see an empty
// index. An index must be closed when dropped, or its arrays stay mapped until the process ends.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	if x.frozen.Load() == nil { // else the view's Release frees them
		x.releaseRows()
		x.rowsReleased = true
	}
	x.allocMu.Lock()
	defer x.allocMu.Unlock()
	x.upperAt, x.levels, x.nodeInt, x.nodeKeys, x.dead = nil, nil, nil, nil, nil
	x.ids = newIDTable(x.key)
	x.keyBytes, x.free, x.used, x.upperUsed, x.upperFree = 0, nil, 0, 0, [maxLevel][]uint32{}
	x.entry, x.top, x.nDeleted = 0, -1, 0
	x.nLive.Store(0)
	x.side.set(nil, nil)
	return nil
}

// releaseRows frees every chunked node array. Caller holds mu exclusively.
func (x *Index) releaseRows() {
	x.vecs.release()
	x.inv.release()
	x.codes.release()
	x.corr.release()
	x.links0.release()
	x.upper.release()
}

// DropResident removes the pages of a file-backed vector array (Config.VectorDir) from the
// process's resident set, for after a bulk load wrote them all: the page cache keeps them, and a
// search maps back those it reranks. No effect on anonymous arrays.
func (x *Index) DropResident() {
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.vecs.dropResident()
}

// Config returns the index's configuration with defaults filled in.
func (x *Index) Config() Config { return x.cfg }

// Metric implements ann.Index.
func (x *Index) Metric() ann.Metric { return x.cfg.Metric }

// Dims implements ann.Index.
func (x *Index) Dims() int { return x.cfg.Dims }

// Len implements ann.Index.
func (x *Index) Len() int {
	x.allocMu.Lock()
	defer x.allocMu.Unlock()
	return x.numKeys()
}

// MemoryBytes implements ann.Index.
func (x *Index) MemoryBytes() int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	b := x.vecs.bytes(4) + x.inv.bytes(4) + x.codes.bytes(1) + x.corr.bytes(4) + x.links0.bytes(4) + x.upper.bytes(4) +
		int64(cap(x.upperAt))*4 + int64(cap(x.levels)) + int64(cap(x.nodeInt))*8 +
		int64(cap(x.nodeKeys))*40 + int64(cap(x.dead))*4
	x.allocMu.Lock()
	b += x.ids.bytes() + x.keyBytes + int64(cap(x.free))*4
	for _, f := range x.upperFree {
		b += int64(cap(f)) * 4
	}
	x.allocMu.Unlock()
	return b + x.side.bytes()
}

func (x *Index) capacity() int { return len(x.levels) }

// setWidths sizes the rows of the chunked node arrays the index uses (quant and raw set),
// releasing any it had. Caller holds mu exclusively (or owns x alone).
func (x *Index) setWidths() error {
	x.releaseRows()
	x.vecs, x.inv, x.codes, x.corr = rows[float32]{}, rows[float32]{}, rows[uint8]{}, rows[float32]{}
	if x.raw {
		x.vecs.width = x.cfg.Dims
		if x.cfg.Metric == ann.Cosine {
			x.inv.width = 1
		}
		f, err := x.newVecFile()
		if err != nil {
			return err
		}
		x.vecs.file = f
	}
	if x.quant {
		x.codes.width, x.corr.width = x.cfg.Dims, 1
	}
	x.links0 = rows[uint32]{width: x.stride0}
	x.upper = rows[uint32]{width: x.strideU}
	return nil
}

// newVecFile opens the file the float32 vectors go in (Config.VectorDir), or returns nil when
// they live in anonymous memory: no directory, or an index that walks its graph with them.
func (x *Index) newVecFile() (*vecFile, error) {
	if x.cfg.VectorDir == "" || !x.quant || !x.raw {
		return nil, nil
	}
	return openVecFile(x.cfg.VectorDir)
}

// nextCapacity is the capacity to grow to from c nodes: doubling while the
// index fits in one chunk, a chunk more after that (the small per-node
// arrays then grow as append grows them).
func nextCapacity(c int) int {
	if c < chunkRows {
		return min(max(2*c, 64), chunkRows)
	}
	return c + chunkRows
}

// growRows makes room for n nodes in the chunked node arrays.
func (x *Index) growRows(n int) {
	x.vecs.grow(n)
	x.inv.grow(n)
	x.codes.grow(n)
	x.corr.grow(n)
	x.links0.grow(n)
}

// growLocked resizes the node arrays to hold n nodes. Caller holds mu
// exclusively (or owns x alone).
func (x *Index) growLocked(n int) {
	x.growRows(n)
	x.upperAt = append(x.upperAt, make([]uint32, n-len(x.upperAt))...)
	x.levels = append(x.levels, make([]uint8, n-len(x.levels))...)
	x.nodeInt = append(x.nodeInt, make([]int64, n-len(x.nodeInt))...)
	if x.nodeKeys != nil {
		x.nodeKeys = append(x.nodeKeys, make([]ann.Key, n-len(x.nodeKeys))...)
	}
	old := len(x.dead)
	x.dead = append(x.dead, make([]uint32, n-old)...)
	for i := old; i < n; i++ {
		x.dead[i] = 1
	}
}

func (x *Index) vec(id uint32) []float32 { return x.vecs.at(id) }

// list returns node id's neighbour list on level l: word 0 is the count.
func (x *Index) list(id uint32, l int) []uint32 {
	if l == 0 {
		return x.links0.at(id)
	}
	return x.upper.at(x.upperAt[id] + uint32(l-1))
}

// query is a prepared search vector: the floats (unit length for cosine)
// and, for a quantised index, its codes and correction term.
type query struct {
	f    []float32
	c    []uint8
	corr float32
	inv  float32 // cosine: 1/|f| (1 for a search's normalised query)
	// vbuf: where a search reads the float32 vectors it reranks when they are in a file
	// (rows.read); nil otherwise.
	vbuf []float32
}

// exactVec is node id's float32 vector for an exact distance: in place, or read into q.vbuf
// from the vector file (Config.VectorDir) without mapping its pages. Valid until the next call.
func (x *Index) exactVec(q *query, id uint32) []float32 { return x.vecs.read(id, q.vbuf) }

// dist is the ranking distance from a query to node id.
func (x *Index) dist(q *query, id uint32) float32 {
	if x.sq != nil {
		c := x.codes.at(id)
		switch x.cfg.Metric {
		case ann.L2:
			return x.sq.L2Squared(q.c, c)
		case ann.Cosine:
			// Unit vectors: |a-b|²/2 = 1 - cos. Ranking by L2 on codes
			// is robust to clamped components, the dot product is not.
			return x.sq.L2Squared(q.c, c) / 2
		}
		return -x.sq.Dot(q.c, q.corr, c, x.corr.at(id)[0])
	}
	v := x.vecs.at(id)
	switch x.cfg.Metric {
	case ann.L2:
		return vecmath.L2Squared(q.f, v)
	case ann.InnerProduct:
		return -vecmath.Dot(q.f, v)
	case ann.Cosine:
		return 1 - vecmath.Dot(q.f, v)*x.inv.at(id)[0]*q.inv // q.f·v / (|q.f| |v|)
	default:
		return vecmath.L1(q.f, v)
	}
}

// touch loads one word per cache line of the first 512 bytes of node id's
// vector or codes (a prefetch).
func (x *Index) touch(id uint32) float32 {
	if x.sq != nil {
		c := x.codes.at(id)
		var s uint8
		for i := 0; i < len(c) && i < 512; i += 64 {
			s += c[i]
		}
		return float32(s)
	}
	v := x.vecs.at(id)
	var s float32
	for i := 0; i < len(v) && i < 128; i += 16 {
		s += v[i]
	}
	return s
}

// nodeQuery prepares node a as a query (for distances between nodes).
func (x *Index) nodeQuery(a uint32) query {
	var q query
	if x.sq != nil {
		q.c, q.corr = x.codes.at(a), x.corr.at(a)[0]
		return q
	}
	q.f, q.inv = x.vec(a), 1
	if x.inv.width > 0 {
		q.inv = x.inv.at(a)[0]
	}
	return q
}

// nodeDist is the ranking distance between two nodes.
func (x *Index) nodeDist(a, b uint32) float32 {
	q := x.nodeQuery(a)
	return x.dist(&q, b)
}

func (x *Index) randomLevel() int {
	f := x.rng.Float64()
	l := int(-math.Log(1-f) * x.levelMult)
	return min(l, maxLevel)
}

// searcher is per-search scratch, pooled.
type searcher struct {
	visited   []uint16
	gen       uint16
	cand      topk.Min
	res       topk.Max
	tmp       []topk.Item // insert: candidates of a level
	sel       []topk.Item // insert: selected neighbours
	picked    []topk.Item // insert: the selections of every level, top level first
	pickedEnd []int       // insert: where each level's selection ends in picked
	ltmp      []topk.Item // link: candidates when shrinking a list
	lsel      []topk.Item // link: selection when shrinking a list
	qc        []uint8     // search: the query's codes
	qf        []float32   // search: the normalised query (cosine)
	vbuf      []float32   // search: a vector read from the vector file (query.vbuf)
	batch     []uint32    // searchLayer: unvisited neighbours of a node
	touch     float32     // sink of the prefetching loads
}

func (x *Index) getSearcher() *searcher {
	s, _ := x.pool.Get().(*searcher)
	if s == nil {
		s = &searcher{}
	}
	if n := x.capacity(); len(s.visited) < n {
		s.visited = make([]uint16, n+n/4)
		s.gen = 0
	}
	s.gen++
	if s.gen == 0 {
		clear(s.visited)
		s.gen = 1
	}
	return s
}

func (x *Index) putSearcher(s *searcher) { x.pool.Put(s) }

// newGen starts a fresh visited generation in s.
func (s *searcher) newGen() {
	s.gen++
	if s.gen == 0 {
		clear(s.visited)
		s.gen = 1
	}
}

// greedy descends from ep through levels top..stop+1 with ef = 1.
func (x *Index) greedy(q *query, ep uint32, epDist float32, top, stop int) (uint32, float32) {
	for l := top; l > stop; l-- {
		for changed := true; changed; {
			changed = false
			lst := x.list(ep, l)
			n := atomic.LoadUint32(&lst[0])
			for i := uint32(1); i <= n; i++ {
				c := atomic.LoadUint32(&lst[i])
				if d := x.dist(q, c); d < epDist {
					ep, epDist, changed = c, d, true
				}
			}
		}
	}
	return ep, epDist
}

// searchLayer runs the best-first search of level l from ep with list size
// ef and leaves the best ef nodes in s.res. With accept set, only accepted
// nodes enter s.res (all nodes still route).
func (x *Index) searchLayer(s *searcher, q *query, ep uint32, epDist float32, ef, l int, accept func(uint32) bool) {
	s.cand.Reset()
	s.res.Reset()
	s.seed(ep, epDist, accept)
	x.walkLayer(s, q, ef, l, accept)
}

// seed adds a starting node to a search of one level (after the heaps were reset).
func (s *searcher) seed(ep uint32, epDist float32, accept func(uint32) bool) {
	if s.visited[ep] == s.gen {
		return
	}
	s.visited[ep] = s.gen
	s.cand.Push(topk.Item{Dist: epDist, ID: ep})
	if accept == nil || accept(ep) {
		s.res.Push(topk.Item{Dist: epDist, ID: ep})
	}
}

// walkLayer runs the best-first search of level l from the seeded nodes (searchLayer).
func (x *Index) walkLayer(s *searcher, q *query, ef, l int, accept func(uint32) bool) {
	vis, gen := s.visited, s.gen
	for s.cand.Len() > 0 {
		c := s.cand.Top()
		if s.res.Len() >= ef && c.Dist > s.res.Top().Dist {
			break
		}
		s.cand.Pop()
		lst := x.list(c.ID, l)
		n := atomic.LoadUint32(&lst[0])
		// Gather the unvisited neighbours first and touch their first
		// vector word: the independent loads overlap their cache misses
		// (Go has no prefetch instruction; this is the portable stand-in).
		batch := s.batch[:0]
		for i := uint32(1); i <= n; i++ {
			nb := atomic.LoadUint32(&lst[i])
			if vis[nb] == gen {
				continue
			}
			vis[nb] = gen
			batch = append(batch, nb)
			s.touch += x.touch(nb)
		}
		s.batch = batch
		for _, nb := range batch {
			d := x.dist(q, nb)
			if s.res.Len() < ef || d < s.res.Top().Dist {
				s.cand.Push(topk.Item{Dist: d, ID: nb})
				if accept == nil || accept(nb) {
					if s.res.Len() < ef {
						s.res.Push(topk.Item{Dist: d, ID: nb})
					} else {
						s.res.ReplaceTop(topk.Item{Dist: d, ID: nb})
					}
				}
			}
		}
	}
}

// selectNeighbors applies the HNSW heuristic to cands (sorted ascending by
// distance to the base) and returns at most m of them in s.sel: a candidate
// is kept when it is closer to the base than to every kept one. The
// selection is appended to dst[:0].
func (x *Index) selectNeighbors(dst, cands []topk.Item, m int) []topk.Item {
	sel := dst[:0]
	dupCap := max(1, m/4)
	for _, c := range cands {
		if len(sel) >= m {
			break
		}
		good := true
		dups := 0
		for _, k := range sel {
			d := x.nodeDist(c.ID, k.ID)
			if d < c.Dist {
				good = false
				break
			}
			// Identical vectors are all at the same distance from the base: without a bound, a
			// group of more than m of them fills its members' lists with one another, and no
			// search that enters the group leaves it.
			if (d == 0 || x.cfg.Metric == ann.InnerProduct) && x.same(c.ID, k.ID) {
				if dups++; dups >= dupCap {
					good = false
					break
				}
			}
		}
		if good {
			sel = append(sel, c)
		}
	}
	return sel
}

// same reports whether nodes a and b hold the same vector (or codes).
func (x *Index) same(a, b uint32) bool {
	if x.quant && !slices.Equal(x.codes.at(a), x.codes.at(b)) {
		return false // one vector has one code: no vector read (a file-backed one would be mapped)
	}
	if x.raw {
		return slices.Equal(x.vec(a), x.vec(b))
	}
	return true
}

// Add implements ann.Index (upsert: an existing key is deleted and the new
// vector inserted).
func (x *Index) Add(key ann.Key, vec []float32) error {
	if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, vec); err != nil {
		return fmt.Errorf("hnsw: add %v: %w", key, err)
	}
	if err := x.ensureCodec(vec); err != nil {
		return fmt.Errorf("hnsw: add %v: %w", key, err)
	}
	if !x.insert(key, vec) {
		return fmt.Errorf("hnsw: add %v: %w", key, ErrClosed)
	}
	return nil
}

// isClosed reports whether Close ran.
func (x *Index) isClosed() bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.closed
}

// seqRows is how many nodes an index gets one at a time before AddBatch inserts in parallel.
const seqRows = 1024

// AddBatch inserts len(keys) vectors (contiguous in vecs) using
// Config.Threads goroutines; it validates all rows first and inserts none on
// error.
func (x *Index) AddBatch(ctx context.Context, keys []ann.Key, vecs []float32) error {
	d := x.cfg.Dims
	if len(vecs) != len(keys)*d {
		return fmt.Errorf("hnsw: add batch: %w", &ann.DimensionError{Want: len(keys) * d, Got: len(vecs)})
	}
	for i, k := range keys {
		if _, err := ann.CheckVector(x.cfg.Metric, d, vecs[i*d:(i+1)*d]); err != nil {
			return fmt.Errorf("hnsw: add batch %v: %w", k, err)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := x.ensureCodec(vecs); err != nil {
		return fmt.Errorf("hnsw: add batch: %w", err)
	}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return fmt.Errorf("hnsw: add batch: %w", ErrClosed)
	}
	x.allocMu.Lock()
	if need := x.used + len(keys); need > x.capacity() {
		x.growLocked(need)
	}
	x.allocMu.Unlock()
	x.mu.Unlock()
	threads := x.cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	// The first nodes of a graph become its hubs: insert them one at a time, so each sees all
	// the others (nodes inserted at the same moment cannot link to each other).
	first := 0
	if live := int(x.nLive.Load()); live < seqRows {
		first = min(len(keys), seqRows-live)
	}
	for i := 0; i < first && ctx.Err() == nil; i++ {
		if !x.insert(keys[i], vecs[i*d:(i+1)*d]) {
			return fmt.Errorf("hnsw: add batch: %w", ErrClosed)
		}
	}
	var next atomic.Int64
	next.Store(int64(first))
	var wg sync.WaitGroup
	for range threads {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(keys) {
					return
				}
				if !x.insert(keys[i], vecs[i*d:(i+1)*d]) {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hnsw: add batch: %w", err)
	}
	if x.isClosed() {
		return fmt.Errorf("hnsw: add batch: %w", ErrClosed)
	}
	// Relinking walks the whole graph: after a batch that is a large part of the index (a
	// build), not after each of many small ones (which call Relink once at the end).
	if threads > 1 && len(keys) > first && 2*len(keys) >= int(x.nLive.Load()) {
		x.relinkOrphans()
	}
	return nil
}

// Relink links again the nodes a search cannot reach, as AddBatch does after a build: for callers
// that insert with many AddBatch calls, once they are done.
func (x *Index) Relink() { x.relinkOrphans() }

// MaybeRelink relinks (as Relink) once the inserts since the last relink or compaction reach a
// tenth of the live nodes (under inner product, 1/64th), and reports whether it did. Inserts one
// at a time can leave a node without in-links (a neighbour's full list pruned it); a caller that
// inserts continually calls this between writes, so such a node is linked again after at most a
// tenth more rows, for a walk of level 0 each time (linear in all, amortised: a walk costs about
// as much per node as 1/256th of an insert). In between, it relinks the dropped nodes that look
// orphaned (orphans.go).
func (x *Index) MaybeRelink() bool {
	if n := x.inserted.Load(); n == 0 || 10*n < x.nLive.Load() {
		return false
	}
	x.relinkOrphans()
	return true
}

// relinkOrphans links again the nodes a level-0 search cannot reach from the entry point. Nodes
// inserted at the same moment cannot see each other, and a neighbour's list pruned by one may
// drop the other's last in-link: a parallel build leaves a few nodes, or small groups of them,
// that no search reaches (a sequential one, none). Each is searched for again in the finished
// graph and linked from its nearest neighbours, as an insertion links them.
func (x *Index) relinkOrphans() {
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.inserted.Store(0)
	// A relinked node may push another out of a full list: a few passes settle it.
	for range relinkPasses {
		if x.relinkPass() == 0 {
			return
		}
	}
}

// relinkPasses bounds the passes of relinkOrphans (each finds fewer nodes to link).
const relinkPasses = 8

// relinkPass relinks the live nodes unreachable at level 0 and returns how many it found.
// Caller holds mu (shared, or exclusively when compacting).
func (x *Index) relinkPass() int {
	x.allocMu.Lock()
	used := x.used
	x.allocMu.Unlock()
	if x.top < 0 {
		return 0
	}
	seen, indeg := x.reach(used)
	s := x.getSearcher()
	defer x.putSearcher(s)
	lost := 0
	for i := range used {
		id := uint32(i)
		if seen[i] || atomic.LoadUint32(&x.dead[i]) != 0 {
			continue
		}
		lost++
		x.relinkNode(s, id, used, seen, indeg)
	}
	return lost
}

// reach walks level 0 from the entry point over nodes below used: seen marks the nodes it
// reaches, indeg counts their in-links from reached nodes. Caller holds mu.
func (x *Index) reach(used int) (seen []bool, indeg []uint16) {
	seen = make([]bool, used)
	indeg = make([]uint16, used)
	queue := []uint32{x.entry}
	seen[x.entry] = true
	for len(queue) > 0 {
		id := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		lst := x.list(id, 0)
		n := atomic.LoadUint32(&lst[0])
		for j := uint32(1); j <= n; j++ {
			nb := atomic.LoadUint32(&lst[j])
			if int(nb) >= used {
				continue
			}
			indeg[nb]++
			if !seen[nb] {
				seen[nb] = true
				queue = append(queue, nb)
			}
		}
	}
	return seen, indeg
}

// relinkNode searches for node id's nearest neighbours again and links it from them, as an
// insertion does; seen limits them to the nodes a level-0 walk reached, and
// indeg counts those nodes' in-links (forceLink). Caller holds mu (shared, or exclusively when
// compacting).
func (x *Index) relinkNode(s *searcher, id uint32, used int, seen []bool, indeg []uint16) {
	nq := x.nodeQuery(id)
	q := &nq
	ep, epDist := x.greedy(q, x.entry, x.dist(q, x.entry), x.top, 0)
	s.newGen()
	x.searchLayer(s, q, ep, epDist, x.cfg.EFConstruction, 0, nil)
	// Only nodes the walk reached: the search descends through upper levels, which can lead
	// into a group of nodes that level 0 does not reach.
	cands := s.tmp[:0]
	for _, c := range s.res.SortedAscending(s.tmp[:0]) {
		if c.ID != id && int(c.ID) < used && seen[c.ID] {
			cands = append(cands, c)
		}
	}
	s.tmp = cands
	s.sel = x.selectNeighbors(s.sel, cands, x.m)
	if own := x.list(id, 0); atomic.LoadUint32(&own[0]) == 0 {
		// A node whose neighbours were all deleted has no way out either.
		for _, c := range s.sel {
			x.link(s, id, c.ID, c.Dist, 0, x.m0)
		}
	}
	// Into the lists with room first: pruning a full one can drop another node's last
	// in-link.
	kept := false
	for _, c := range s.sel {
		kept = x.appendLink(c.ID, id, nil) || kept
	}
	for _, c := range s.sel {
		if kept {
			break
		}
		kept = x.link(s, c.ID, id, c.Dist, 0, x.m0)
	}
	if !kept && len(cands) > 0 {
		// Every list it was offered to pruned it at once (inner product favours long
		// vectors): it goes into the list of the nearest node with room, or in place of an
		// entry that has other in-links.
		x.forceLink(cands, id, indeg)
	}
}

// alloc reserves a slot for key, its level and (above level 0) its upper rows under shared mu,
// growing under exclusive mu when full. It returns with mu held shared, or ok false (and mu not
// held) when the index is closed.
func (x *Index) alloc(key ann.Key) (id uint32, level int, ok bool) {
	level = -1
	for {
		x.mu.RLock()
		if x.closed {
			x.mu.RUnlock()
			return 0, 0, false
		}
		x.allocMu.Lock()
		if level < 0 {
			level = x.randomLevel() // once per insert, however often the loop retries
		}
		if _, dup := x.lookup(key); dup {
			// Upsert: tombstone the old node under exclusive mu, retry.
			x.allocMu.Unlock()
			x.mu.RUnlock()
			x.mu.Lock()
			x.deleteLocked(key)
			x.mu.Unlock()
			continue
		}
		// Everything that may need growing is checked before anything is taken, so a retry
		// takes nothing twice.
		// While a View is open, freed slots and upper rows are not reused (view.go).
		reuse := x.frozen.Load() == nil
		slotFull := (len(x.free) == 0 || !reuse) && x.used >= x.capacity()
		upperFull := level > 0 && (len(x.upperFree[level-1]) == 0 || !reuse) && x.upperUsed+level > x.upper.capacity()
		if slotFull || upperFull || x.needKeyTable(key) {
			x.allocMu.Unlock()
			x.mu.RUnlock()
			// Growing moves arrays (or the first chunk of rows) that searches read: only under
			// mu held exclusively. used and upperUsed change only under mu shared and allocMu,
			// so they are stable here.
			x.mu.Lock()
			if x.closed {
				x.mu.Unlock()
				continue // returns false above
			}
			if (len(x.free) == 0 || x.frozen.Load() != nil) && x.used >= x.capacity() {
				x.growLocked(nextCapacity(x.capacity()))
			}
			if level > 0 && x.upperUsed+level > x.upper.capacity() {
				x.upper.grow(x.upperUsed + level)
			}
			if key.Kind() != ann.KindInt {
				x.allocKeyTableLocked()
			}
			x.mu.Unlock()
			continue
		}
		if len(x.free) > 0 && reuse {
			id = x.free[len(x.free)-1]
			x.free = x.free[:len(x.free)-1]
		} else {
			id = uint32(x.used)
			x.used++
		}
		if level > 0 {
			if f := x.upperFree[level-1]; len(f) > 0 && reuse {
				x.upperAt[id] = f[len(f)-1]
				x.upperFree[level-1] = f[:len(f)-1]
			} else {
				x.upperAt[id] = uint32(x.upperUsed)
				x.upperUsed += level
			}
		}
		x.setKey(id, key) // before bind: the key table reads keys from the node arrays
		x.bind(key, id)
		x.allocMu.Unlock()
		return id, level, true
	}
}

// insert adds key's node and links it; false: the index is closed (Close).
func (x *Index) insert(key ann.Key, vec []float32) bool {
	id, level, ok := x.alloc(key) // holds mu shared
	if !ok {
		return false
	}
	// The slot is unreachable until linked: plain writes are safe.
	if x.raw {
		x.vecs.set(id, vec)
		if x.inv.width > 0 {
			// Kept as given (its distances to a query can then be computed again as pgvector
			// computes them), with its inverse norm for ranking.
			x.inv.at(id)[0] = vecmath.InvNorm(vec)
		}
	}
	if x.quant {
		pv := x.prepared(vec) // a cosine index encodes the unit vector (vecs keeps it as given)
		x.corr.at(id)[0] = x.sq.Encode(pv, x.codes.at(id))
		x.noteDrift(id, pv)
	}
	x.levels[id] = uint8(level)
	for l := 0; l <= level; l++ {
		x.beforeWrite(id, l)
		clear(x.list(id, l)) // a reused slot or upper run holds old lists
	}
	atomic.StoreUint32(&x.dead[id], 0) // publish: vector and key are written
	if x.requant.Load() {
		// A re-quantisation builds (Requantize): checked after publishing, so it either reads
		// the node in its chunk or finds it here at its swap.
		x.requantMu.Lock()
		x.requantDirty = append(x.requantDirty, id)
		x.requantMu.Unlock()
	}
	x.nLive.Add(1)
	x.inserted.Add(1)

	ep, top := x.entry, x.top
	if top < 0 {
		x.mu.RUnlock()
		x.mu.Lock()
		if x.closed {
			x.mu.Unlock()
			return false
		}
		if x.top < 0 {
			x.entry, x.top = id, level
			x.mu.Unlock()
			return true
		}
		x.mu.Unlock()
		x.mu.RLock()
		if x.closed {
			x.mu.RUnlock()
			return false
		}
		ep, top = x.entry, x.top
	}
	nq := x.nodeQuery(id)
	q := &nq
	s := x.getSearcher()
	epDist := x.dist(q, ep)
	ep, epDist = x.greedy(q, ep, epDist, top, level)
	// Every level's own list is written before the first back link makes the node reachable: a
	// concurrent insert that reaches it on one level and descends must find its lists below
	// filled (an empty list there would leave that insert, and those after it, linked to this
	// node alone).
	s.picked, s.pickedEnd = s.picked[:0], s.pickedEnd[:0]
	for l := min(level, top); l >= 0; l-- {
		s.newGen()
		x.searchLayer(s, q, ep, epDist, x.cfg.EFConstruction, l, nil)
		s.tmp = s.res.SortedAscending(s.tmp[:0])
		// Next level starts from the closest found here.
		ep, epDist = s.tmp[0].ID, s.tmp[0].Dist
		cands := s.tmp
		if len(cands) > 0 && cands[0].ID == id {
			cands = cands[1:]
		}
		s.sel = x.selectNeighbors(s.sel, cands, x.m)
		x.beforeWrite(id, l)
		own := x.list(id, l)
		for i, c := range s.sel {
			atomic.StoreUint32(&own[1+i], c.ID)
		}
		atomic.StoreUint32(&own[0], uint32(len(s.sel)))
		s.picked = append(s.picked, s.sel...)
		s.pickedEnd = append(s.pickedEnd, len(s.picked))
	}
	// Back links, top level first.
	start := 0
	for i, end := range s.pickedEnd {
		l := min(level, top) - i
		mmax := x.m
		if l == 0 {
			mmax = x.m0
		}
		for _, c := range s.picked[start:end] {
			x.link(s, c.ID, id, c.Dist, l, mmax)
		}
		start = end
	}
	x.putSearcher(s)
	x.mu.RUnlock()
	if level > top {
		x.mu.Lock()
		if level > x.top && !x.closed {
			x.entry, x.top = id, level
		}
		x.mu.Unlock()
	}
	return true
}

// link adds a back link from node to newID (at distance d), shrinking
// node's list with the heuristic when it is full. It reports whether newID is
// in the list afterwards.
func (x *Index) link(s *searcher, node, newID uint32, d float32, l, mmax int) bool {
	lk := &x.locks[node%uint32(len(x.locks))]
	lk.Lock()
	defer lk.Unlock()
	x.beforeWrite(node, l)
	lst := x.list(node, l)
	n := int(atomic.LoadUint32(&lst[0]))
	for i := 1; i <= n; i++ {
		if lst[i] == newID {
			return true
		}
	}
	if n < mmax {
		atomic.StoreUint32(&lst[1+n], newID)
		atomic.StoreUint32(&lst[0], uint32(n+1))
		return true
	}
	// Full: choose the best mmax among the old list and the new node.
	cands := s.ltmp[:0]
	cands = append(cands, topk.Item{Dist: d, ID: newID})
	for i := 1; i <= n; i++ {
		c := lst[i]
		cands = append(cands, topk.Item{Dist: x.nodeDist(node, c), ID: c})
	}
	topk.Sort(cands)
	sel := x.selectNeighbors(s.lsel, cands, mmax)
	for i, c := range sel {
		atomic.StoreUint32(&lst[1+i], c.ID)
	}
	atomic.StoreUint32(&lst[0], uint32(len(sel)))
	s.ltmp, s.lsel = cands, sel
	return slices.ContainsFunc(sel, func(it topk.Item) bool { return it.ID == newID })
}

// forceLink puts newID in the level-0 list of the first of cands with room, else in place of the
// last entry of the first list whose last entry has another in-link (indeg counts them), else in
// place of the last entry of the first one's (that node is then found by the next pass).
func (x *Index) forceLink(cands []topk.Item, newID uint32, indeg []uint16) {
	for _, c := range cands {
		if x.appendLink(c.ID, newID, nil) {
			return
		}
	}
	for _, c := range cands {
		if x.appendLink(c.ID, newID, indeg) {
			return
		}
	}
	lk := &x.locks[cands[0].ID%uint32(len(x.locks))]
	lk.Lock()
	defer lk.Unlock()
	x.beforeWrite(cands[0].ID, 0)
	lst := x.list(cands[0].ID, 0)
	if n := atomic.LoadUint32(&lst[0]); n > 0 {
		atomic.StoreUint32(&lst[n], newID)
	}
}

// appendLink appends newID to node's level-0 list if there is room, or with indeg, in place of
// the last entry if that has another in-link; it reports whether newID is in the list.
func (x *Index) appendLink(node, newID uint32, indeg []uint16) bool {
	lk := &x.locks[node%uint32(len(x.locks))]
	lk.Lock()
	defer lk.Unlock()
	x.beforeWrite(node, 0)
	lst := x.list(node, 0)
	n := int(atomic.LoadUint32(&lst[0]))
	for i := 1; i <= n; i++ {
		if lst[i] == newID {
			return true
		}
	}
	if n < x.m0 {
		atomic.StoreUint32(&lst[1+n], newID)
		atomic.StoreUint32(&lst[0], uint32(n+1))
		return true
	}
	// The last entry is the one that matters least to searches.
	if e := lst[n]; indeg != nil && int(e) < len(indeg) && indeg[e] > 1 {
		indeg[e]--
		atomic.StoreUint32(&lst[n], newID)
		return true
	}
	return false
}
