package hnsw

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/codecfile"
	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/quant/sq8"
)

// A View is the index as it was at Freeze, to be written (Write: Save's file) while inserts,
// deletes and searches go on. Freeze holds mu exclusively only to copy what is small (the
// tombstone flags, the free list, the side list) and to take the chunked arrays as they are;
// nothing large is copied. While a view is open:
//
//   - nodes are only appended: freed slots and upper rows are not reused (alloc), and
//     compaction, Reorder and a re-quantisation's swap wait or are skipped, so the vectors,
//     codes, levels, keys and upper-row places of the view's nodes stay as they were;
//   - a neighbour list of one of the view's nodes is saved into the view before it is first
//     written (beforeWrite, under the node's stripe lock), and the view reads saved lists in
//     place of the live ones (under its own mu, which beforeWrite takes too);
//   - Close leaves the arrays to Release to free.
//
// One view is open at a time (viewMu is held from Freeze to Release).
type View struct {
	x *Index

	// Copied at Freeze.
	cfg        Config
	used       int
	upperUsed  int
	entry      uint32
	top        int
	free       []uint32
	dead       []uint32
	levels     []uint8 // the index's slice; its first used entries do not change while open
	upperAt    []uint32
	nodeInt    []int64
	nodeKeys   []ann.Key
	quant, raw bool
	sq         *sq8.Codec
	bound      float64
	requants   int
	sideIDs    []uint32
	sideVecs   map[uint32][]float32
	codes      rows[uint8] // the chunks as they were (their first used rows do not change)
	corr       rows[float32]
	vecs       rows[float32]
	links0     rows[uint32] // the level-0 lists: saved0 overrides the ones written since
	upper      rows[uint32] // the upper rows: savedU overrides

	mu       sync.Mutex // guards saved0, savedU, released
	saved0   map[uint32][]uint32
	savedU   map[uint32][]uint32
	released bool
	// owned: chunks the view copied at Freeze (a first chunk the index may still replace while
	// it grows by doubling); freed by Release.
	owned []func()
}

// Freeze opens a view of the index as it is now; Release it when written. It waits for a view
// still open.
func (x *Index) Freeze() (*View, error) {
	x.viewMu.Lock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		x.viewMu.Unlock()
		return nil, fmt.Errorf("hnsw: freeze: %w", ErrClosed)
	}
	x.allocMu.Lock()
	v := &View{x: x, cfg: x.cfg, used: x.used, upperUsed: x.upperUsed, entry: x.entry, top: x.top,
		free: slices.Clone(x.free), dead: slices.Clone(x.dead[:x.used]), levels: x.levels,
		upperAt: x.upperAt, nodeInt: x.nodeInt, nodeKeys: x.nodeKeys, quant: x.quant, raw: x.raw,
		sq: x.sq, bound: x.bound, requants: x.requants,
		codes: x.codes, corr: x.corr, vecs: x.vecs, links0: x.links0, upper: x.upper,
		saved0: map[uint32][]uint32{}, savedU: map[uint32][]uint32{}}
	x.allocMu.Unlock()
	v.sideIDs, v.sideVecs = x.side.snapshot()
	for _, r := range []any{&v.codes, &v.corr, &v.vecs, &v.links0, &v.upper} {
		switch r := r.(type) {
		case *rows[uint8]:
			v.owned = append(v.owned, ownFirstChunk(r)...)
		case *rows[float32]:
			v.owned = append(v.owned, ownFirstChunk(r)...)
		case *rows[uint32]:
			v.owned = append(v.owned, ownFirstChunk(r)...)
		}
	}
	x.frozen.Store(v)
	return v, nil
}

// ownFirstChunk gives r (a view's copy of an index's rows) a copy of its own of the first chunk
// when the index may still replace it (grow: a first chunk grows by doubling up to chunkRows
// rows, and the old one is freed), and returns what frees that copy.
func ownFirstChunk[T uint8 | uint32 | float32](r *rows[T]) []func() {
	if r.width == 0 || r.file != nil || len(r.chunks) != 1 || len(r.chunks[0]) >= chunkRows*r.width {
		return nil
	}
	c := mapChunk[T](len(r.chunks[0]), nil)
	copy(c, r.chunks[0])
	r.chunks = [][]T{c}
	return []func(){func() { unmapChunk(c, false) }}
}

// beforeWrite saves node's level-l list into the open view, if any, before it is written the
// first time since Freeze. Caller holds node's stripe lock (or mu exclusively).
func (x *Index) beforeWrite(node uint32, l int) {
	v := x.frozen.Load()
	if v == nil || int(node) >= v.used {
		return
	}
	saved, row := v.saved0, node
	if l > 0 {
		if l > int(v.levels[node]) {
			return
		}
		saved, row = v.savedU, v.upperAt[node]+uint32(l-1)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := saved[row]; ok || v.released {
		return
	}
	lst := x.list(node, l)
	cp := make([]uint32, len(lst))
	for i := range lst {
		cp[i] = atomic.LoadUint32(&lst[i])
	}
	saved[row] = cp
}

// Release ends the view: the index reuses slots and compacts again, and frees its arrays if it
// was closed meanwhile.
func (v *View) Release() {
	x := v.x
	v.mu.Lock()
	if v.released {
		v.mu.Unlock()
		return
	}
	v.released = true
	v.mu.Unlock()
	x.mu.Lock()
	x.frozen.Store(nil)
	if x.closed && !x.rowsReleased {
		x.releaseRows()
	}
	x.mu.Unlock()
	for _, f := range v.owned {
		f()
	}
	x.viewMu.Unlock()
}

// key returns node id's key as it was at Freeze.
func (v *View) key(id uint32) ann.Key {
	if v.nodeKeys != nil {
		if k := v.nodeKeys[id]; k.Kind() != ann.KindInt {
			return k
		}
	}
	return ann.IntKey(v.nodeInt[id])
}

// list returns node id's level-l list as it was at Freeze. Caller holds v.mu.
func (v *View) list(id uint32, l int) []uint32 {
	if l == 0 {
		if s, ok := v.saved0[id]; ok {
			return s
		}
		return v.links0.at(id)
	}
	row := v.upperAt[id] + uint32(l-1)
	if s, ok := v.savedU[row]; ok {
		return s
	}
	return v.upper.at(row)
}

// Write writes the view in Save's format (the same bytes Save would have written at Freeze).
func (v *View) Write(w io.Writer) error {
	used := v.used
	e := fileformat.NewEncoder(w, fileKind, fileVersion)
	c := v.cfg
	e.U32(uint32(c.Metric))
	e.U32(uint32(c.Dims))
	e.U32(uint32(c.M))
	e.U32(uint32(c.EFConstruction))
	e.U32(uint32(c.EFSearch))
	e.U64(c.Seed)
	e.U64(uint64(used))
	e.U32(v.entry)
	e.U32(uint32(int32(v.top)))
	e.U32s(v.free)
	e.U32s(v.dead)
	levels := make([]uint32, used)
	for i := range levels {
		levels[i] = uint32(v.levels[i])
	}
	e.U32s(levels)
	for i := range used {
		if v.dead[i] == 0 {
			e.Binary(v.key(uint32(i)))
		}
	}
	flags := uint32(0)
	if v.quant {
		flags |= flagCodes
	}
	if v.raw {
		flags |= flagVectors
	}
	if v.sq != nil {
		flags |= flagSQ8
	}
	if v.raw && c.Metric == ann.Cosine {
		flags |= flagOriginals
	}
	e.U32(flags)
	if v.sq != nil {
		codecfile.WriteSQ8(e, v.sq)
	}
	if v.quant {
		e.U64(uint64(used * c.Dims))
		v.codes.each(used, e.RawBytes)
		e.U64(uint64(used))
		v.corr.each(used, e.RawF32s)
	}
	if v.raw {
		e.U64(uint64(used * c.Dims))
		v.vecs.each(used, e.RawF32s)
		v.vecs.dropResident() // the copy mapped every page of a file-backed array
	}
	// The level-0 lists a chunk at a time, saved ones in place of the live ones, under mu: a
	// list not saved is not being written (beforeWrite would wait for mu).
	stride := v.links0.width
	buf := make([]uint32, 0, chunkRows*stride)
	for lo := 0; lo < used; lo += chunkRows {
		buf = buf[:0]
		v.mu.Lock()
		for id := lo; id < min(used, lo+chunkRows); id++ {
			buf = append(buf, v.list(uint32(id), 0)...)
		}
		v.mu.Unlock()
		if lo == 0 {
			e.U64(uint64(used * stride))
		}
		e.RawU32s(buf)
	}
	if used == 0 {
		e.U64(0)
	}
	// A node's upper lists, levels 1 up, as one array (the layout of format 1, which kept them
	// in one slice per node).
	var u []uint32
	for i := range used {
		u = u[:0]
		if lv := int(levels[i]); lv > 0 {
			v.mu.Lock()
			for l := 1; l <= lv; l++ {
				u = append(u, v.list(uint32(i), l)...)
			}
			v.mu.Unlock()
			e.U32s(u)
		}
	}
	e.F64(v.bound)
	e.U64(uint64(v.requants))
	ids := slices.Clone(v.sideIDs)
	slices.Sort(ids)
	e.U32s(ids)
	if !v.raw {
		flat := make([]float32, 0, len(ids)*c.Dims)
		for _, id := range ids {
			flat = append(flat, v.sideVecs[id]...)
		}
		e.F32s(flat)
	}
	if err := e.Finish(); err != nil {
		return fmt.Errorf("hnsw: save: %w", err)
	}
	return nil
}
