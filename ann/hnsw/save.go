package hnsw

import (
	"fmt"
	"io"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/codecfile"
	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/quant/sq8"
	"github.com/vecgate/vecgate/vecmath"
)

// fileVersion 2: the drift bound, re-quantisations and side list (drift.go) follow the upper
// lists. A version 1 file loads with the least bound, its side list found again from the kept
// vectors (a codes-only index starts with none: its lost precision cannot be told from codes).
const (
	fileKind    = "HNSW"
	fileVersion = 2
)

// Save implements ann.Index. It writes a View (Freeze): searches, inserts and deletes go on
// while it writes, and the file is the index as it was when Save began.
func (x *Index) Save(w io.Writer) error {
	v, err := x.Freeze()
	if err != nil {
		return fmt.Errorf("hnsw: save: %w", err)
	}
	defer v.Release()
	return v.Write(w)
}

// Load reads an index written by Save. From cfg only Threads,
// CompactRatio, ExactFilterRows and (when non-zero) EFSearch are used; the
// rest comes from the file.
func Load(r io.Reader, cfg Config) (*Index, error) {
	x, err := fileformat.Decode(r, fileKind, fileVersion, func(d *fileformat.Decoder) (*Index, error) {
		return decode(d, cfg)
	})
	if err != nil {
		return nil, fmt.Errorf("hnsw: load: %w", err)
	}
	return x, nil
}

func decode(d *fileformat.Decoder, cfg Config) (*Index, error) {
	h, err := decodeHeader(d, cfg)
	if err != nil {
		return nil, err
	}
	x, err := New(h.cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ann.ErrCorrupt, err)
	}
	if err := x.decodeInto(d, h); err != nil {
		x.Close() //nolint:errcheck // releases the node arrays; never fails
		return nil, err
	}
	x.vecs.dropResident() // filling a file-backed vector array touched every page
	return x, nil
}

// decodeInto reads the nodes, codes, vectors and links of a file into x, a new index.
func (x *Index) decodeInto(d *fileformat.Decoder, h header) error {
	n, err := x.decodeNodes(d, h.used)
	if err != nil {
		return err
	}
	x.decodeCodec(d)
	if err := x.decodeRows(d, h.used); err != nil {
		return err
	}
	if err := x.decodeUpper(d, n.levels); err != nil {
		return err
	}
	if d.Version >= 2 {
		if err := x.decodeDrift(d); err != nil {
			return err
		}
	} else {
		x.findDrifted()
	}
	if err := d.End(); err != nil {
		return err
	}
	if err := x.checkGraph(n); err != nil {
		return err
	}
	return x.setEntry(n, h.entry, h.top)
}

// header is what an HNSW file holds before its node tables.
type header struct {
	cfg   Config // the file's parameters over the caller's (quantisation left out)
	used  int    // node slots in use
	entry uint32 // entry point
	top   int    // its level; -1 when the graph is empty
}

// decodeHeader reads the parameters and the node count. Quantisation comes from the file too,
// but is decoded after the node tables (decodeCodec), so it is left out of cfg here.
func decodeHeader(d *fileformat.Decoder, cfg Config) (header, error) {
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
		return header{}, err
	}
	if err := c.fill(); err != nil {
		return header{}, fmt.Errorf("%w: %v", ann.ErrCorrupt, err)
	}
	if used64 > uint64(d.Remaining())/uint64(c.Dims) {
		return header{}, fmt.Errorf("%w: %d nodes overrun the file", ann.ErrCorrupt, used64)
	}
	c.Quantizer, c.SQ8, c.KeepVectors = "", nil, false
	return header{cfg: c, used: int(used64), entry: entry, top: top}, nil
}

// nodeTables are the per-node arrays decode checks the graph against.
type nodeTables struct {
	levels []uint32        // each node's top level
	dead   []uint32        // 1 for a deleted node or a free slot
	isFree map[uint32]bool // the free slots
}

// decodeNodes reads the free list, the dead flags and levels, and the live nodes' keys, and
// sizes x for used nodes.
func (x *Index) decodeNodes(d *fileformat.Decoder, used int) (nodeTables, error) {
	free := d.U32s()
	dead := d.U32s()
	levels := d.U32s()
	if d.Err() == nil && (len(dead) != used || len(levels) != used || len(free) > used) {
		d.Fail("node arrays of %d/%d for %d nodes", len(dead), len(levels), used)
	}
	if err := d.Err(); err != nil {
		return nodeTables{}, err
	}
	x.growLocked(max(used, 64))
	x.used = used
	n := nodeTables{levels: levels, dead: dead, isFree: make(map[uint32]bool, len(free))}
	for _, f := range free {
		if int(f) >= used || dead[f] == 0 || n.isFree[f] {
			d.Fail("bad free slot %d", f)
			return nodeTables{}, d.Err()
		}
		n.isFree[f] = true
	}
	x.free = free
	if err := x.decodeKeys(d, n); err != nil {
		return nodeTables{}, err
	}
	x.nLive.Store(int64(x.numKeys()))
	return n, nil
}

// decodeKeys sets each node's level and dead flag and reads the keys of the live ones, in node
// order; it counts the deleted nodes that are not free slots.
func (x *Index) decodeKeys(d *fileformat.Decoder, n nodeTables) error {
	for i := range x.used {
		if n.levels[i] > maxLevel || n.dead[i] > 1 {
			d.Fail("node %d: level %d dead %d", i, n.levels[i], n.dead[i])
			return d.Err()
		}
		x.levels[i] = uint8(n.levels[i])
		x.dead[i] = n.dead[i]
		if n.dead[i] != 0 {
			if !n.isFree[uint32(i)] {
				x.nDeleted++
			}
			continue
		}
		var k ann.Key
		d.Binary(&k)
		if _, dup := x.lookup(k); dup && d.Err() == nil {
			d.Fail("duplicate key %v", k)
		}
		if d.Err() != nil {
			return d.Err()
		}
		if x.needKeyTable(k) {
			x.allocKeyTableLocked()
		}
		x.setKey(uint32(i), k)
		x.bind(k, uint32(i))
	}
	return nil
}

// Flags of the rows an HNSW file holds (a word after the keys).
const (
	flagCodes     = 1 << iota // SQ8 codes and corrections
	flagVectors               // full vectors
	flagSQ8                   // the SQ8 codec's parameters
	flagOriginals             // cosine vectors as given (older files hold them normalised)
)

// decodeCodec reads the flags and the SQ8 codec's parameters, and sets which rows x keeps.
// Errors stay in d.
func (x *Index) decodeCodec(d *fileformat.Decoder) {
	flags := d.U32()
	if d.Err() == nil && (flags > 15 || flags&(flagCodes|flagVectors) == 0 || (flags&flagSQ8 != 0 && flags&flagCodes == 0)) {
		d.Fail("bad flags %#x", flags)
	}
	x.quant, x.raw = flags&flagCodes != 0, flags&flagVectors != 0
	x.normalised = x.raw && x.cfg.Metric == ann.Cosine && flags&flagOriginals == 0
	if x.quant && x.cfg.Metric == ann.L1 {
		d.Fail("sq8 with L1")
	}
	if flags&flagSQ8 != 0 {
		x.sq = codecfile.ReadSQ8(d, x.cfg.Dims)
	}
	if x.quant {
		x.cfg.Quantizer = "sq8"
		x.cfg.KeepVectors = x.raw
	}
}

// decodeRows reads the codes, vectors and level-0 links of used nodes and stores them.
func (x *Index) decodeRows(d *fileformat.Decoder, used int) error {
	dims := x.cfg.Dims
	var codes []uint8
	var corr []float32
	if x.quant {
		codes = d.Bytes()
		corr = d.F32s()
		if d.Err() == nil && (len(codes) != used*dims || len(corr) != used || (used > 0 && x.sq == nil)) {
			d.Fail("code arrays size mismatch")
		}
	}
	var vecs []float32
	if x.raw {
		vecs = d.F32s()
		if d.Err() == nil && len(vecs) != used*dims {
			d.Fail("vector array size mismatch")
		}
	}
	links0 := d.U32s()
	if d.Err() == nil && len(links0) != used*x.stride0 {
		d.Fail("link array size mismatch")
	}
	if err := d.Err(); err != nil {
		return err
	}
	if err := x.setWidths(); err != nil { // the flags may differ from cfg's
		return err
	}
	x.growRows(x.capacity())
	if x.quant {
		x.codes.fill(codes)
		x.corr.fill(corr)
	}
	if x.raw {
		x.vecs.fill(vecs)
		if x.inv.width > 0 {
			for i := range used {
				x.inv.at(uint32(i))[0] = vecmath.InvNorm(x.vec(uint32(i)))
			}
		}
	}
	x.links0.fill(links0)
	return nil
}

// decodeUpper reads each node's lists above level 0 (one array a node that has any) into runs
// laid out in node order, densely.
func (x *Index) decodeUpper(d *fileformat.Decoder, levels []uint32) error {
	for i, lv := range levels {
		if lv == 0 {
			continue
		}
		u := d.U32s()
		if d.Err() == nil && len(u) != int(lv)*x.strideU {
			d.Fail("node %d: upper links %d words", i, len(u))
		}
		if d.Err() != nil {
			return d.Err()
		}
		x.upperAt[i] = uint32(x.upperUsed)
		x.upperUsed += int(lv)
		x.upper.grow(x.upperUsed)
		for l := 1; l <= int(lv); l++ {
			copy(x.list(uint32(i), l), u[(l-1)*x.strideU:])
		}
	}
	return nil
}

// checkGraph checks the decoded graph: neighbour counts and ids in range, no link to a free
// slot or to a node below the list's level, and the live nodes' vectors valid for the metric.
func (x *Index) checkGraph(n nodeTables) error {
	for i := range x.used {
		if n.isFree[uint32(i)] {
			continue
		}
		for l := 0; l <= int(n.levels[i]); l++ {
			lst := x.list(uint32(i), l)
			cnt := int(lst[0])
			if (l == 0 && cnt > x.m0) || (l > 0 && cnt > x.m) {
				return fmt.Errorf("%w: node %d level %d: %d neighbours", ann.ErrCorrupt, i, l, cnt)
			}
			for _, nb := range lst[1 : 1+cnt] {
				if int(nb) >= x.used || n.isFree[nb] || int(n.levels[nb]) < l {
					return fmt.Errorf("%w: node %d level %d: bad neighbour %d", ann.ErrCorrupt, i, l, nb)
				}
			}
		}
		if n.dead[i] == 0 && x.raw {
			if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, x.vec(uint32(i))); err != nil {
				return fmt.Errorf("%w: node %d: %v", ann.ErrCorrupt, i, err)
			}
		}
	}
	return nil
}

// setEntry sets the entry point read in the header, once checked against the nodes; an index
// with no node, or none but free slots, has none.
func (x *Index) setEntry(n nodeTables, entry uint32, top int) error {
	if x.used == 0 || x.numKeys() == 0 && x.nDeleted == 0 {
		x.top = -1
		return nil
	}
	if int(entry) >= x.used || n.isFree[entry] || top != int(n.levels[entry]) {
		return fmt.Errorf("%w: bad entry point %d level %d", ann.ErrCorrupt, entry, top)
	}
	x.entry, x.top = entry, top
	return nil
}

// decodeDrift reads the drift bound, the re-quantisations and the side list (format 2), checking
// that the side list holds distinct live nodes.
func (x *Index) decodeDrift(d *fileformat.Decoder) error {
	bound := d.F64()
	requants := d.Uint(1 << 40)
	ids := d.U32s()
	var flat []float32
	if !x.raw {
		flat = d.F32s()
	}
	if err := d.Err(); err != nil {
		return err
	}
	if !(bound >= 0 && bound <= 1) || (x.sq == nil && len(ids) > 0) || (!x.raw && len(flat) != len(ids)*x.cfg.Dims) {
		return fmt.Errorf("%w: drift bound %v, side list of %d rows", ann.ErrCorrupt, bound, len(ids))
	}
	var vecs map[uint32][]float32
	if !x.raw {
		vecs = make(map[uint32][]float32, len(ids))
	}
	for i, id := range ids {
		if int(id) >= x.used || x.dead[id] != 0 || (i > 0 && id <= ids[i-1]) {
			return fmt.Errorf("%w: side list node %d", ann.ErrCorrupt, id)
		}
		if vecs != nil {
			v := flat[i*x.cfg.Dims : (i+1)*x.cfg.Dims : (i+1)*x.cfg.Dims]
			if _, err := ann.CheckVector(x.cfg.Metric, x.cfg.Dims, v); err != nil {
				return fmt.Errorf("%w: side list node %d: %v", ann.ErrCorrupt, id, err)
			}
			vecs[id] = v
		}
	}
	x.bound, x.requants = bound, int(requants)
	x.side.set(ids, vecs)
	return nil
}

// findDrifted sets the drift bound of an index read from a format 1 file, and puts on the side
// list the live nodes whose kept vectors its codec clips past it.
func (x *Index) findDrifted() {
	if x.sq == nil {
		return
	}
	x.bound = sq8.MinDriftBound
	if !x.raw {
		return
	}
	var ids []uint32
	buf := make([]float32, x.cfg.Dims)
	for i := range x.used {
		if x.dead[i] == 0 && x.sq.Clipped(x.storedVector(uint32(i), x.sq, buf)) > x.bound {
			ids = append(ids, uint32(i))
		}
	}
	x.side.set(ids, nil)
}
