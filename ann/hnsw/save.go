package hnsw

import (
	"fmt"
	"math"

	"github.com/vecgate/vecgate/quant/sq8"
	"io"
	"slices"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/fileformat"
)

const (
	fileKind    = "HNSW"
	fileVersion = 1
)

// Save implements ann.Index. It holds the index exclusively: searches and
// writers wait until it returns.
func (x *Index) Save(w io.Writer) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.allocMu.Lock()
	used := x.used
	free := slices.Clone(x.free)
	x.allocMu.Unlock()

	e := fileformat.NewEncoder(w, fileKind, fileVersion)
	c := x.cfg
	e.U32(uint32(c.Metric))
	e.U32(uint32(c.Dims))
	e.U32(uint32(c.M))
	e.U32(uint32(c.EFConstruction))
	e.U32(uint32(c.EFSearch))
	e.U64(c.Seed)
	e.U64(uint64(used))
	e.U32(x.entry)
	e.U32(uint32(int32(x.top)))
	e.U32s(free)
	e.U32s(x.dead[:used])
	levels := make([]uint32, used)
	for i := range levels {
		levels[i] = uint32(x.levels[i])
	}
	e.U32s(levels)
	for i := range used {
		if x.dead[i] == 0 {
			e.Binary(x.key(uint32(i)))
		}
	}
	flags := uint32(0)
	if x.quant {
		flags |= 1
	}
	if x.raw {
		flags |= 2
	}
	if x.sq != nil {
		flags |= 4
	}
	e.U32(flags)
	if x.sq != nil {
		e.F32(x.sq.Lower)
		e.F32(x.sq.Upper)
		e.F64(x.sq.Confidence)
	}
	if x.quant {
		e.U64(uint64(used * c.Dims))
		x.codes.each(used, e.RawBytes)
		e.U64(uint64(used))
		x.corr.each(used, e.RawF32s)
	}
	if x.raw {
		e.U64(uint64(used * c.Dims))
		x.vecs.each(used, e.RawF32s)
	}
	e.U64(uint64(used * x.stride0))
	x.links0.each(used, e.RawU32s)
	// A node's upper lists, levels 1 up, as one array (the layout of format 1, which kept them
	// in one slice per node).
	var u []uint32
	for i := range used {
		u = u[:0]
		for l := 1; l <= int(levels[i]); l++ {
			u = append(u, x.list(uint32(i), l)...)
		}
		if len(u) > 0 {
			e.U32s(u)
		}
	}
	if err := e.Finish(); err != nil {
		return fmt.Errorf("hnsw: save: %w", err)
	}
	return nil
}

// Load reads an index written by Save. From cfg only Threads,
// CompactRatio, ExactFilterRows and (when non-zero) EFSearch are used; the
// rest comes from the file.
func Load(r io.Reader, cfg Config) (*Index, error) {
	d, err := fileformat.Open(r, fileKind, fileVersion)
	if err != nil {
		return nil, fmt.Errorf("hnsw: load: %w", err)
	}
	x, err := decode(d, cfg)
	if err != nil {
		return nil, fmt.Errorf("hnsw: load: %w", err)
	}
	return x, nil
}

func decode(d *fileformat.Decoder, cfg Config) (*Index, error) {
	c := cfg
	c.Metric = ann.Metric(d.U32())
	c.Dims = int(d.U32())
	c.M = int(d.U32())
	c.EFConstruction = int(d.U32())
	efs := int(d.U32())
	if c.EFSearch == 0 {
		c.EFSearch = efs
	}
	c.Seed = d.U64()
	c.InitialCapacity = 0
	used64 := d.U64()
	entry := d.U32()
	top := int(int32(d.U32()))
	if err := d.Err(); err != nil {
		return nil, err
	}
	if err := c.fill(); err != nil {
		return nil, fmt.Errorf("%w: %v", ann.ErrCorrupt, err)
	}
	if used64 > uint64(d.Remaining())/uint64(c.Dims) {
		return nil, fmt.Errorf("%w: %d nodes overrun the file", ann.ErrCorrupt, used64)
	}
	used := int(used64)
	// Quantisation comes from the file too; it is decoded after the node
	// tables, so peek is not possible: the flags are validated there.
	c.Quantizer, c.SQ8, c.KeepVectors = "", nil, false
	x, err := New(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ann.ErrCorrupt, err)
	}
	free := d.U32s()
	dead := d.U32s()
	levels := d.U32s()
	if d.Err() == nil && (len(dead) != used || len(levels) != used || len(free) > used) {
		d.Fail("node arrays of %d/%d for %d nodes", len(dead), len(levels), used)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	x.growLocked(max(used, 64))
	x.used = used
	isFree := make(map[uint32]bool, len(free))
	for _, f := range free {
		if int(f) >= used || dead[f] == 0 || isFree[f] {
			d.Fail("bad free slot %d", f)
			return nil, d.Err()
		}
		isFree[f] = true
	}
	x.free = free
	for i := range used {
		if levels[i] > maxLevel || dead[i] > 1 {
			d.Fail("node %d: level %d dead %d", i, levels[i], dead[i])
			return nil, d.Err()
		}
		x.levels[i] = uint8(levels[i])
		x.dead[i] = dead[i]
		if dead[i] == 0 {
			var k ann.Key
			d.Binary(&k)
			if _, dup := x.lookup(k); dup && d.Err() == nil {
				d.Fail("duplicate key %v", k)
			}
			if d.Err() != nil {
				return nil, d.Err()
			}
			if x.needKeyTable(k) {
				x.allocKeyTableLocked()
			}
			x.setKey(uint32(i), k)
			x.bind(k, uint32(i))
		} else if !isFree[uint32(i)] {
			x.nDeleted++
		}
	}
	x.nLive.Store(int64(x.numKeys()))
	flags := d.U32()
	if d.Err() == nil && (flags > 7 || flags&3 == 0 || (flags&4 != 0 && flags&1 == 0)) {
		d.Fail("bad flags %#x", flags)
	}
	x.quant, x.raw = flags&1 != 0, flags&2 != 0
	if x.quant && c.Metric == ann.L1 {
		d.Fail("sq8 with L1")
	}
	if flags&4 != 0 {
		lo, hi, conf := d.F32(), d.F32(), d.F64()
		if d.Err() == nil && (!(hi > lo) || !(conf > 0 && conf <= 1) || math.IsInf(float64(hi-lo), 0)) {
			d.Fail("bad sq8 range [%v, %v] confidence %v", lo, hi, conf)
		}
		x.sq = &sq8.Codec{Dims: c.Dims, Lower: lo, Upper: hi, Confidence: conf}
	}
	var codes []uint8
	var corr []float32
	if x.quant {
		x.cfg.Quantizer = "sq8"
		x.cfg.KeepVectors = x.raw
		codes = d.Bytes()
		corr = d.F32s()
		if d.Err() == nil && (len(codes) != used*c.Dims || len(corr) != used || (used > 0 && x.sq == nil)) {
			d.Fail("code arrays size mismatch")
		}
	}
	var vecs []float32
	if x.raw {
		vecs = d.F32s()
		if d.Err() == nil && len(vecs) != used*c.Dims {
			d.Fail("vector array size mismatch")
		}
	}
	links0 := d.U32s()
	if d.Err() == nil && len(links0) != used*x.stride0 {
		d.Fail("link array size mismatch")
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	x.setWidths() // the flags may differ from cfg's
	x.growRows(x.capacity())
	if x.quant {
		x.codes.fill(codes)
		x.corr.fill(corr)
	}
	if x.raw {
		x.vecs.fill(vecs)
	}
	x.links0.fill(links0)
	for i := range used {
		if levels[i] > 0 {
			u := d.U32s()
			if d.Err() == nil && len(u) != int(levels[i])*x.strideU {
				d.Fail("node %d: upper links %d words", i, len(u))
			}
			if d.Err() != nil {
				return nil, d.Err()
			}
			// Runs are laid out in node order, densely.
			x.upperAt[i] = uint32(x.upperUsed)
			x.upperUsed += int(levels[i])
			x.upper.grow(x.upperUsed)
			for l := 1; l <= int(levels[i]); l++ {
				copy(x.list(uint32(i), l), u[(l-1)*x.strideU:])
			}
		}
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	// Graph consistency: counts and ids in range, levels respected.
	for i := range used {
		if isFree[uint32(i)] {
			continue
		}
		for l := 0; l <= int(levels[i]); l++ {
			lst := x.list(uint32(i), l)
			n := int(lst[0])
			if (l == 0 && n > x.m0) || (l > 0 && n > x.m) {
				return nil, fmt.Errorf("%w: node %d level %d: %d neighbours", ann.ErrCorrupt, i, l, n)
			}
			for _, nb := range lst[1 : 1+n] {
				if int(nb) >= used || isFree[nb] || int(levels[nb]) < l {
					return nil, fmt.Errorf("%w: node %d level %d: bad neighbour %d", ann.ErrCorrupt, i, l, nb)
				}
			}
		}
		if dead[i] == 0 && x.raw {
			if _, err := ann.CheckVector(c.Metric, c.Dims, x.vec(uint32(i))); err != nil {
				return nil, fmt.Errorf("%w: node %d: %v", ann.ErrCorrupt, i, err)
			}
		}
	}
	if used == 0 || x.numKeys() == 0 && x.nDeleted == 0 {
		x.top = -1
	} else {
		if int(entry) >= used || isFree[entry] || top != int(levels[entry]) {
			return nil, fmt.Errorf("%w: bad entry point %d level %d", ann.ErrCorrupt, entry, top)
		}
		x.entry, x.top = entry, top
	}
	return x, nil
}
