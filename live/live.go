// Package live owns the set of live in-memory indexes: one per (table, vector column, metric),
// each with the key column it answers in and its state.
//
// Replication writes it (Set implements replication.Applier: Reset, Upsert, Delete, Truncate,
// Commit) and the query path reads it (Lookup, then the index's Search). It sits between the two
// because both need it and neither should own the other: replication must not decide query
// plans, and the planner must not do I/O.
//
// Zero configuration: on Reset every valid pgvector HNSW or IVFFlat index on a replicated column
// gets an in-memory twin with the same metric: an HNSW with the same m / ef_construction, or an
// IVF with the same lists (build.go). Columns of type vector, halfvec, bit (Hamming: bits.go) and
// sparsevec (held dense: sparse.go), and the expression indexes `(col::halfvec(n))` and
// `(binary_quantize(col)::bit(n))` of a vector column (expression.go), whose twins take the
// column's rows transformed as the expression transforms them. Keys are mapped from the key
// column's binary form to ann.Key (smallint, integer, bigint, uuid, text, varchar); a composite
// key of such columns is held as a text key of replication's bytes (Index.KeyColumns); tables
// with other keys are skipped and
// their queries forwarded. The indexes defined through vecgate (indexdef.Spec, SetDefinitions)
// are held here and built at the next Reset; replication takes their `include` columns from the
// set (IncludeColumns, replication.Includer), and those columns' values are kept per row beside
// the indexes, for filtering (include.go).
//
// One table changed alone (replication.TableLoader, stage.go): Stage builds its twins in a Set of
// their own, which queries never see and only one goroutine writes at a time (the table's COPY,
// then replication's goroutine), and Publish moves them into this Set under mu; Narrow retires
// the twins of dropped indexes. Every twin dies through Index.retire.
//
// Concurrency: mu guards the map of entries; each index is safe for concurrent readers and
// writers on its own. Applied LSN is published at Commit, after the transaction's rows are in.
package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/replication"
)

// Index is one live index: what the query path needs to search it and to write the rewrite.
type Index struct {
	Schema, Table, Column string
	// RelOID is the table's relation OID upstream (replication.TargetInfo.OID): the session
	// checks and the rewrite's guard require the statement's table to be this relation.
	RelOID  uint32
	Metric  ann.Metric
	Key     string // key column name ("" for a composite key)
	KeyType string // SQL type of the key, for the candidate array: bigint, integer, smallint, uuid, text
	// KeyColumns and KeyTypes name a composite key's columns and their SQL types (nil for a
	// single-column key). Its rows are keyed by ann.TextKey of replication's key bytes (each
	// column's binary form, length-prefixed: replication.Key), which the planner decodes.
	KeyColumns, KeyTypes []string
	Source               string // the pgvector index it mirrors, or the vecgate definition's name
	// Exact is set when the index holds full-precision vectors, so its distances are pgvector's
	// (false for a quantised index: its distances are estimates, Postgres must rerank).
	Exact bool
	// Oversample is the candidates-per-row factor the definition asked for (0: the default).
	Oversample float64
	index      ann.Index
	layout               // kind, dimensions, IVF lists and probes (build.go)
	inc        *includes // INCLUDE column values, shared by the entry's indexes; nil when none

	// Rows wait in pending, and go in as one batch, while the index is not trained (a quantised
	// HNSW trains its codec on its first trainRows rows) or is bulk loading (an HNSW from its
	// creation until the first commit — the initial load: batches are inserted in parallel,
	// where rows arriving one at a time would be inserted by one goroutine). A batch goes in
	// when it is full or a transaction commits. (An IVF buffers its first rows itself: newIVF.)
	mu      sync.Mutex // guards trained, bulk, pending, retiring, retrainCancel and requantTried
	trained bool
	bulk    bool
	pending pendingRows

	retiring      bool               // replaced (Reset, Truncate): no more retrains
	retrainCancel context.CancelFunc // set while an IVF retrain or an SQ8 re-quantisation runs (retrain.go)
	requantTried  int                // drifted rows when a re-quantisation last did not help (driftDue)

	left leftOut // rows of the table the index does not hold; guarded by mu
}

// leftOut tracks the rows of a table an index does not hold: a NULL vector, or a vector the index
// refused (a zero vector under cosine). Postgres' exact answer has them after every other row
// (NULL and NaN distances sort last), so an index that holds fewer rows than k cannot answer
// alone while any exist (Complete).
type leftOut struct {
	keys    map[ann.Key]struct{}
	unknown bool // too many to track, or not known (an index read from a snapshot)
}

// maxLeftOut bounds the keys tracked per index; past it the index is not Complete until a reload.
const maxLeftOut = 1 << 16

func (l *leftOut) add(k ann.Key) {
	if l.unknown {
		return
	}
	if len(l.keys) >= maxLeftOut {
		l.keys, l.unknown = nil, true
		return
	}
	if l.keys == nil {
		l.keys = map[ann.Key]struct{}{}
	}
	l.keys[k] = struct{}{}
}

func (l *leftOut) remove(k ann.Key) { delete(l.keys, k) }

// leave records that the table's row key is not in the index (NULL vector, or refused).
func (ix *Index) leave(key ann.Key) {
	ix.mu.Lock()
	ix.left.add(key)
	ix.mu.Unlock()
}

// Complete reports whether the index holds every row of its table that has a vector: no row is
// known to be left out (NULL vectors count: Postgres returns those rows too, last).
func (ix *Index) Complete() bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return !ix.left.unknown && len(ix.left.keys) == 0
}

// pendingRows are rows waiting to go into the index, each key once.
type pendingRows struct {
	keys []ann.Key
	vecs []float32
	pos  map[ann.Key]int // index in keys
}

// bulkBytes bounds the vectors a bulk-loading index buffers before inserting them as one batch.
const bulkBytes = 32 << 20

// Options shape the twins of pgvector's indexes.
type Options struct {
	// SQ8MinDims: HNSW twins on vectors of at least this many dimensions search SQ8 codes (a
	// quarter of the memory traffic); 0 means never.
	SQ8MinDims int
	// CodesOnly: those SQ8 twins keep no float32 vectors. They take about a quarter of the
	// memory, but their distances are estimates, so every answer goes through Postgres (no
	// answers from memory). Default: they keep the vectors and rerank with them exactly.
	CodesOnly bool
	// Cover: the columns twins hold to answer statements that return them (cover.go).
	Cover Cover
	// MaxMemory bounds the twins' memory (bytes; 0: none): past it, the held column values of
	// the tables holding most are dropped (cover.go, enforceBudget).
	MaxMemory int64
	// VectorDir, when set, holds the float32 vectors of the SQ8 twins (which walk their graph on
	// codes and read vectors only to rerank) in unlinked, mapped files there
	// (hnsw.Config.VectorDir): the page cache keeps them instead of anonymous memory. vecgate
	// sets it to --data-dir. Empty: they stay in memory, outside the Go heap.
	VectorDir string
}

// DefaultOptions are the twins' defaults.
func DefaultOptions() Options { return Options{SQ8MinDims: 512, Cover: DefaultCover} }

// trainRows is how many rows a quantised index collects before training its codec.
const trainRows = 4096

func (ix *Index) add(key ann.Key, vec []float32) error {
	vec, err := ix.transform(vec)
	if err != nil {
		return err
	}
	return ix.addIndexed(key, vec)
}

// addIndexed adds a vector already in the index's space (transform).
func (ix *Index) addIndexed(key ann.Key, vec []float32) error {
	ix.mu.Lock()
	ix.left.remove(key)
	if ix.trained && !ix.bulk {
		ix.mu.Unlock()
		return ix.index.Add(key, vec)
	}
	defer ix.mu.Unlock()
	d := ix.index.Dims()
	if _, err := ann.CheckVector(ix.Metric, d, vec); err != nil {
		return err
	}
	p := &ix.pending
	if i, ok := p.pos[key]; ok {
		copy(p.vecs[i*d:(i+1)*d], vec)
	} else {
		if p.pos == nil {
			p.pos = map[ann.Key]int{}
		}
		p.pos[key] = len(p.keys)
		p.keys = append(p.keys, key)
		p.vecs = append(p.vecs, vec...)
	}
	batch := trainRows
	if ix.trained {
		batch = max(trainRows, bulkBytes/(4*d))
	}
	if len(p.keys) >= batch {
		return ix.flushLocked()
	}
	return nil
}

// rekey moves the row under old to key, vector unchanged.
func (ix *Index) rekey(old, key ann.Key) error {
	vs, ok := ix.index.(interface {
		Vector(ann.Key) ([]float32, bool)
	})
	if !ok {
		return errors.New("key changed with an unchanged TOASTed vector, and the index cannot return it")
	}
	ix.mu.Lock()
	v, ok := ix.pendingVector(old)
	ix.mu.Unlock()
	if !ok {
		v, ok = vs.Vector(old)
	}
	if !ok {
		return errors.New("key changed with an unchanged TOASTed vector not held under the old key")
	}
	ix.del(old)
	return ix.addIndexed(key, v)
}

func (ix *Index) del(key ann.Key) {
	ix.mu.Lock()
	ix.removePending(key)
	ix.left.remove(key)
	ix.mu.Unlock()
	ix.index.Delete(key)
}

// pendingVector returns a copy of the vector pending under key. Caller holds mu.
func (ix *Index) pendingVector(key ann.Key) ([]float32, bool) {
	i, ok := ix.pending.pos[key]
	if !ok {
		return nil, false
	}
	d := ix.index.Dims()
	return append([]float32(nil), ix.pending.vecs[i*d:(i+1)*d]...), true
}

// removePending drops key's pending row, if any. Caller holds mu.
func (ix *Index) removePending(key ann.Key) {
	p := &ix.pending
	i, ok := p.pos[key]
	if !ok {
		return
	}
	d := ix.index.Dims()
	last := len(p.keys) - 1
	if i != last {
		p.keys[i] = p.keys[last]
		copy(p.vecs[i*d:(i+1)*d], p.vecs[last*d:])
		p.pos[p.keys[i]] = i
	}
	delete(p.pos, key)
	p.keys = p.keys[:last]
	p.vecs = p.vecs[:last*d]
}

// flush puts pending rows in (training the codec on them) and ends a bulk load.
func (ix *Index) flush() error {
	_, err := ix.flushBulk()
	return err
}

// flushBulk is flush, and reports whether it ended the index's bulk load.
func (ix *Index) flushBulk() (wasBulk bool, err error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.trained && !ix.bulk {
		return false, nil
	}
	wasBulk = ix.bulk
	ix.bulk = false
	err = ix.flushLocked()
	if r, ok := ix.index.(interface{ Relink() }); ok && wasBulk && err == nil {
		r.Relink() // the load went in as several parallel batches
	}
	if r, ok := ix.index.(interface{ Reorder() }); ok && wasBulk && err == nil {
		r.Reorder() // nodes searched together stored together: 5–15 % faster searches
	}
	if r, ok := ix.index.(interface{ DropResident() }); ok && wasBulk {
		r.DropResident() // the load wrote every page of a file-backed vector array
	}
	return wasBulk, err
}

func (ix *Index) flushLocked() error {
	if len(ix.pending.keys) == 0 {
		return nil
	}
	b, ok := ix.index.(interface {
		AddBatch(ctx context.Context, keys []ann.Key, vecs []float32) error
	})
	var err error
	if ok {
		err = b.AddBatch(context.Background(), ix.pending.keys, ix.pending.vecs)
	} else {
		d := ix.index.Dims()
		for i, k := range ix.pending.keys {
			if err = ix.index.Add(k, ix.pending.vecs[i*d:(i+1)*d]); err != nil {
				break
			}
		}
	}
	ix.pending = pendingRows{}
	ix.trained = true
	return err
}

// Search returns the k nearest keys to q.
func (ix *Index) Search(ctx context.Context, q []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	q, err := ix.transform(q)
	if err != nil {
		return nil, err
	}
	res, err := ix.index.Search(ctx, q, k, opts)
	if ix.Metric == ann.Hamming {
		hammingDistances(res) // bits.go
	}
	return res, err
}

// Vector returns a copy of the vector the index holds under key, as it holds it (truncated when
// the twin keeps fewer dimensions; see Originals); false when it has no such row or keeps codes
// only.
func (ix *Index) Vector(key ann.Key) ([]float32, bool) {
	vs, ok := ix.index.(interface {
		Vector(ann.Key) ([]float32, bool)
	})
	if !ok {
		return nil, false
	}
	return vs.Vector(key)
}

// VectorInto is Vector into dst's storage, when the index can (else as Vector).
func (ix *Index) VectorInto(dst []float32, key ann.Key) ([]float32, bool) {
	if vs, ok := ix.index.(interface {
		VectorInto([]float32, ann.Key) ([]float32, bool)
	}); ok {
		return vs.VectorInto(dst, key)
	}
	return ix.Vector(key)
}

// Originals reports whether Vector returns the rows' vectors as Postgres holds them (not
// truncated, not normalised: an HNSW twin that keeps vectors, and for cosine one not loaded from
// a snapshot of the older format).
func (ix *Index) Originals() bool {
	o, ok := ix.index.(interface{ Originals() bool })
	return ok && ix.truncate == 0 && ix.expr == "" && !ix.sparse && o.Originals()
}

// Dims is the dimension of the column's vectors (the index may hold fewer: Kind).
func (ix *Index) Dims() int { return ix.dims }

// Len is the number of rows indexed.
func (ix *Index) Len() int { return ix.index.Len() }

// MemoryBytes is the index's memory use. The table's INCLUDE values, which its indexes share,
// are counted with its first index.
func (ix *Index) MemoryBytes() int64 {
	b := ix.index.MemoryBytes()
	if ix.inc != nil && ix.inc.owner.Load() == ix {
		b += ix.inc.bytes()
	}
	return b
}

type entry struct {
	info    replication.TargetInfo
	keyKind ann.KeyKind
	indexes []*Index
	refused []error   // definitions that could not be built (logged at Reset)
	inc     *includes // nil when the target has no INCLUDE columns
}

// Set is the set of live indexes.
type Set struct {
	log  *slog.Logger
	opts Options

	mu      sync.RWMutex
	entries map[replication.Target]*entry // guarded by mu
	defs    []indexdef.Spec               // guarded by mu; used at the next Reset
	loading map[[2]string]int             // guarded by mu; tables with staged twins (stage.go)
	parents map[[2]string]parentInfo      // guarded by mu; partitioned tables (partition.go)

	applied   atomic.Uint64 // last committed LSN applied
	rejected  atomic.Int64
	rt        retraining   // IVF twin retrains running (retrain.go)
	noRetrain atomic.Bool  // tests: Commit starts no retrains
	budgetAt  atomic.Int64 // when the memory budget was last checked (Unix ns)
}

// New returns an empty set.
func New(logger *slog.Logger) *Set { return NewWith(logger, DefaultOptions()) }

// NewWith returns an empty set whose twins follow opts.
func NewWith(logger *slog.Logger, opts Options) *Set {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Set{log: logger, opts: opts, entries: map[replication.Target]*entry{}}
	s.rt.cond.L = &s.rt.mu
	return s
}

var (
	_ replication.Applier  = (*Set)(nil)
	_ replication.Retirer  = (*Set)(nil)
	_ replication.Includer = (*Set)(nil)
)

// SetDefinitions replaces the indexes defined through vecgate (vecgate.indexes, indexdef.Load).
// The set is their one holder: they take effect at the next Reset, and replication takes their
// INCLUDE columns from IncludeColumns at its next session; replication.Stream.Reload starts both.
func (s *Set) SetDefinitions(specs []indexdef.Spec) {
	s.mu.Lock()
	s.defs = slices.Clone(specs)
	s.mu.Unlock()
}

// Definitions returns the indexes defined through vecgate.
func (s *Set) Definitions() []indexdef.Spec {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.defs)
}

// IncludeColumns implements replication.Includer: the INCLUDE columns of the definitions, and
// every column twins hold (Covers) when covering is on.
func (s *Set) IncludeColumns() map[string][]string {
	m := indexdef.Includes(s.Definitions())
	if s.opts.Cover.On {
		m["*"] = []string{"*"}
	}
	return m
}

// Reset replaces every index with empty ones for targets (a full load follows).
func (s *Set) Reset(targets []replication.TargetInfo) error {
	entries := map[replication.Target]*entry{}
	defs := s.Definitions()
	for _, t := range targets {
		e, err := newEntry(t, defs, s.opts)
		if err != nil {
			s.log.Info("live: not indexing column", "target", t.Target.String(), "reason", err)
			continue
		}
		for _, err := range e.refused {
			s.log.Warn("live: index definition not built", "target", t.Target.String(), "err", err)
		}
		if len(e.indexes) == 0 {
			continue
		}
		attachIncludes(e, s.opts.Cover)
		entries[t.Target] = e
		for _, ix := range e.indexes {
			s.log.Info("live: index", "table", t.Schema+"."+t.Table, "column", t.Column, "metric", ix.Metric.String(), "mirrors", ix.Source)
		}
	}
	s.replaceEntries(entries)
	return nil
}

// replaceEntries makes entries the Set's twins and retires the indexes of the ones it replaces
// (their running retrains are cancelled).
func (s *Set) replaceEntries(entries map[replication.Target]*entry) {
	s.mu.Lock()
	old := s.entries
	s.entries = entries
	s.mu.Unlock()
	retireEntries(old)
}

// retireEntries retires the indexes of entries no longer (or never) the Set's.
func retireEntries(entries map[replication.Target]*entry) {
	for _, e := range entries {
		for _, ix := range e.indexes {
			ix.retire()
		}
	}
}

// Close retires every index (their memory is released; queries still in flight on them fail and
// are forwarded) and waits for the background retrains. The Set holds no index afterwards.
func (s *Set) Close() {
	s.replaceEntries(map[replication.Target]*entry{})
	s.WaitRetrains()
}

func newEntry(t replication.TargetInfo, defs []indexdef.Spec, opts Options) (*entry, error) {
	if t.Kind != catalog.TypeVector && t.Kind != catalog.TypeHalfvec && t.Kind != catalog.TypeBit && !sparseTwin(t) {
		return nil, fmt.Errorf("type %s(%d) is not indexed in memory", t.Kind, t.Dims)
	}
	// A halfvec column's twin holds its halves widened to float32, exactly the values pgvector
	// computes its distances with (in float32; only the summation order differs, as for
	// vector), and the planner rounds query vectors to halves as halfvec_in does. Definitions
	// through vecgate (quantizers, dims) are for vector columns only.
	if t.Dims <= 0 {
		return nil, errors.New("column has no declared dimension")
	}
	kf, err := keyFieldsOf(t.Key)
	if err != nil {
		return nil, err
	}
	e := &entry{info: t, keyKind: kf.kind}
	seen := map[ann.Metric]bool{}
	for _, d := range defs {
		if d.Schema != t.Schema || d.Table != t.Table || d.Column != t.Column || seen[d.Metric] || t.Kind != catalog.TypeVector {
			continue
		}
		ix, err := definitionTwin(t, d, kf)
		if err != nil {
			e.refused = append(e.refused, err)
			continue
		}
		seen[d.Metric] = true
		e.indexes = append(e.indexes, ix)
	}
	seenExpr := map[ann.Metric]bool{}
	for _, ci := range t.Indexes {
		if !ci.Valid || ci.Partial || (ci.Method != "hnsw" && ci.Method != "ivfflat") {
			continue
		}
		if ci.Expression && !expressionTwin(t, ci) {
			continue
		}
		m, err := ann.ParseMetric(ci.Metric.Operator())
		if err != nil || (m == ann.Hamming) != hammingTwin(t, ci) || seen[m] && !ci.Expression || seenExpr[m] && ci.Expression {
			continue
		}
		ix, err := twinOf(t, ci, m, kf, opts) // bits.go
		if err != nil {
			return nil, err
		}
		if ci.Expression {
			seenExpr[m] = true
		} else {
			seen[m] = true
		}
		e.indexes = append(e.indexes, ix)
	}
	return e, nil
}

// keyKind maps a key column's type (format_type) to an ann key kind and the SQL array element
// type. varchar keys are compared as text (varchar's equality and btree are text's).
func keyKind(typ string) (ann.KeyKind, string, bool) {
	switch {
	case typ == "smallint", typ == "integer", typ == "bigint":
		return ann.KindInt, typ, true
	case typ == "uuid":
		return ann.KindUUID, "uuid", true
	case typ == "text", typ == "character varying", strings.HasPrefix(typ, "character varying("):
		return ann.KindText, "text", true
	}
	return 0, "", false
}

// keyFields is how an index's rows are keyed: the kind of ann.Key and the Index's Key fields.
type keyFields struct {
	kind                 ann.KeyKind
	name, sqlType        string   // a single-column key
	columns, columnTypes []string // a composite key
}

// keyFieldsOf maps a table's key columns to keyFields: one column of a type keyKind knows, or
// several such columns, whose bytes (replication.Key) are held as a text key.
func keyFieldsOf(cols []catalog.Column) (keyFields, error) {
	if len(cols) == 0 {
		return keyFields{}, errors.New("no key")
	}
	var kf keyFields
	for _, c := range cols {
		kind, sqlType, ok := keyKind(c.Type)
		if !ok {
			return keyFields{}, fmt.Errorf("key type %s is not supported", c.Type)
		}
		kf.kind, kf.name, kf.sqlType = kind, c.Name, sqlType
		kf.columns, kf.columnTypes = append(kf.columns, c.Name), append(kf.columnTypes, sqlType)
	}
	if len(cols) == 1 {
		kf.columns, kf.columnTypes = nil, nil
		return kf, nil
	}
	kf.kind, kf.name, kf.sqlType = ann.KindText, "", ""
	return kf, nil
}

// set writes kf into ix.
func (kf keyFields) set(ix *Index) {
	ix.Key, ix.KeyType, ix.KeyColumns, ix.KeyTypes = kf.name, kf.sqlType, kf.columns, kf.columnTypes
}

func (e *entry) key(k replication.Key) (ann.Key, error) {
	switch e.keyKind {
	case ann.KindInt:
		n, ok := k.Int64()
		if !ok {
			return ann.Key{}, fmt.Errorf("integer key of %d bytes", len(k))
		}
		return ann.IntKey(n), nil
	case ann.KindUUID:
		if len(k) != 16 {
			return ann.Key{}, fmt.Errorf("uuid key of %d bytes", len(k))
		}
		var u [16]byte
		copy(u[:], k)
		return ann.UUIDKey(u), nil
	}
	return ann.TextKey(string(k)), nil
}

func (s *Set) entry(t replication.Target) *entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.entries[t]
}

// Upsert applies an inserted or updated row.
func (s *Set) Upsert(t replication.Target, r replication.Row) error {
	e := s.entry(t)
	if e == nil {
		return nil
	}
	key, err := e.key(r.Key)
	if err != nil {
		return s.reject(t, err)
	}
	if r.OldKey != "" && r.OldKey != r.Key {
		old, err := e.key(r.OldKey)
		if err != nil {
			return s.reject(t, err)
		}
		s.include(e, key, &old, r)
		if r.KeepVector {
			// The vector did not change but the key did, and the row's vector is not in the
			// update: each index moves the vector it holds under the old key. An index that
			// cannot leaves the row out; the others keep it.
			var errs []error
			for _, ix := range e.indexes {
				if err := ix.rekey(old, key); err != nil {
					ix.del(old)
					ix.del(key)
					ix.leave(key)
					errs = append(errs, fmt.Errorf("%s: %w", ix.Source, err))
				}
			}
			return s.rejectSome(t, errs)
		}
		for _, ix := range e.indexes {
			ix.del(old)
		}
	} else {
		s.include(e, key, nil, r)
	}
	if r.KeepVector {
		return nil // same key, same vector: nothing to change in the index
	}
	switch {
	case r.Vector.Bits != nil && r.Vector.Values == nil:
		r.Vector.Values = bitValues(r.Vector) // bits.go
	case r.Vector.Kind == catalog.TypeSparsevec && r.Vector.Dim > 0:
		r.Vector.Values = denseValues(r.Vector) // sparse.go
	}
	if r.Vector.Values == nil {
		for _, ix := range e.indexes { // a NULL vector: the row leaves the index
			ix.del(key)
			ix.leave(key)
		}
		e.inc.remove(key)
		return nil
	}
	// Each index accepts or refuses the row alone: a zero vector is refused by a cosine index
	// (as pgvector's leaves it out) and stays in the L2 index of the same column.
	var errs []error
	for _, ix := range e.indexes {
		if err := ix.add(key, r.Vector.Values); err != nil {
			ix.del(key)
			ix.leave(key)
			errs = append(errs, fmt.Errorf("%s: %w", ix.Source, err))
		}
	}
	if len(errs) == len(e.indexes) {
		e.inc.remove(key)
	}
	return s.rejectSome(t, errs)
}

func (s *Set) reject(t replication.Target, err error) error {
	s.rejected.Add(1)
	return fmt.Errorf("live: %s: %w: %v", t, replication.ErrRejected, err)
}

// rejectSome reports the indexes that refused a row, which they have already left it out of (the
// others hold it): counted like a rejection, but replication must not delete the row.
func (s *Set) rejectSome(t replication.Target, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	s.rejected.Add(1)
	return fmt.Errorf("live: %s: %w: %v", t, replication.ErrRejectedHandled, errors.Join(errs...))
}

// Delete removes a row.
func (s *Set) Delete(t replication.Target, k replication.Key) error {
	e := s.entry(t)
	if e == nil {
		return nil
	}
	key, err := e.key(k)
	if err != nil {
		return s.reject(t, err)
	}
	for _, ix := range e.indexes {
		ix.del(key)
	}
	e.inc.remove(key)
	return nil
}

// Retire removes a target's indexes at once (replication.Retirer): its table was replaced,
// renamed or dropped upstream, so its queries are forwarded until a Reset or a Staged.Publish
// loads what is there now.
func (s *Set) Retire(t replication.Target) {
	s.mu.Lock()
	e := s.entries[t]
	delete(s.entries, t)
	s.mu.Unlock()
	if e == nil {
		return
	}
	s.log.Info("live: index retired: its table was replaced, renamed or dropped", "target", t.String())
	for _, ix := range e.indexes {
		ix.retire()
	}
}

// Truncate empties a table's indexes.
func (s *Set) Truncate(t replication.Target) error {
	s.mu.Lock()
	e := s.entries[t]
	if e == nil {
		s.mu.Unlock()
		return nil
	}
	fresh, err := newEntry(e.info, s.defs, s.opts)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	attachIncludes(fresh, s.opts.Cover)
	s.entries[t] = fresh
	s.mu.Unlock()
	// Outside s.mu: closing waits for the searches in flight.
	retireEntries(map[replication.Target]*entry{t: e})
	return nil
}

// Commit publishes the applied position, after quantised indexes took in their first rows, and
// starts the retrains of IVF twins whose data drifted (retrain.go).
func (s *Set) Commit(lsn replication.LSN) error {
	loaded := false
	for _, ix := range s.Indexes() {
		bulk, err := ix.flushBulk()
		if err != nil {
			s.log.Warn("live: quantised index could not take its first rows", "index", ix.Source, "err", err)
		}
		loaded = loaded || bulk
		if r, ok := ix.index.(interface{ MaybeRelink() bool }); ok {
			r.MaybeRelink() // rows inserted one at a time: link again any node left unreachable
		}
		s.maybeRetrain(ix)
	}
	s.enforceBudget()
	if loaded {
		// An initial load leaves the heap full of garbage (decoded rows, the batches): the
		// runtime would give those pages back over minutes (GOTCHAS.md), so they would count in
		// the process's RSS meanwhile. Collect and return them now, once per load.
		debug.FreeOSMemory()
	}
	s.applied.Store(uint64(lsn))
	return nil
}

// Applied is the last committed position applied to the indexes.
func (s *Set) Applied() replication.LSN { return replication.LSN(s.applied.Load()) }

// Lookup returns the live index on schema.table.column for metric. An empty schema means
// public: vecgate does not follow a session's search_path, so tables outside public must be
// qualified to be intercepted (unqualified, their queries are forwarded).
func (s *Set) Lookup(schema, table, column string, m ann.Metric) (*Index, bool) {
	return s.find(schema, table, column, func(ix *Index) bool { return ix.Metric == m && ix.expr == "" })
}

// find returns the first index on schema.table.column ("" schema: public) that match accepts.
func (s *Set) find(schema, table, column string, match func(*Index) bool) (*Index, bool) {
	if schema == "" {
		schema = "public"
	}
	s.mu.RLock()
	e := s.entries[replication.Target{Schema: schema, Table: table, Column: column}]
	s.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	for _, ix := range e.indexes {
		if match(ix) {
			return ix, true
		}
	}
	return nil, false
}

// Indexes lists the live indexes.
func (s *Set) Indexes() []*Index {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*Index
	for _, e := range s.entries {
		out = append(out, e.indexes...)
	}
	return out
}

// Rejected counts rows the indexes refused.
func (s *Set) Rejected() int64 { return s.rejected.Load() }

// Search is a convenience for tests and tools: search the live index on a column.
func (s *Set) Search(ctx context.Context, schema, table, column string, m ann.Metric, q []float32, k int) ([]ann.Result, error) {
	ix, ok := s.Lookup(schema, table, column, m)
	if !ok {
		return nil, fmt.Errorf("live: no index on %s.%s.%s for %s", schema, table, column, m)
	}
	return ix.Search(ctx, q, k, ann.SearchOptions{})
}
