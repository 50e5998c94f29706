package ivf

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/codecfile"
	"github.com/vecgate/vecgate/internal/fileformat"
	qbinary "github.com/vecgate/vecgate/quant/binary"
	"github.com/vecgate/vecgate/quant/pq"
	"github.com/vecgate/vecgate/quant/sq8"
)

const (
	fileKind = "IVF "
	// fileVersion 2: drift statistics are squared L2 spreads for every
	// metric (version 1: ranking distances), and the rows at training follow
	// them. 3: the drift bound of the codes follows (drift.go); the rows
	// pending in a trained index are its drifted rows. A file of format 2 or 1
	// loads with the least SQ8 bound, and none for PQ and binary (their rows
	// stay in their cells until a retrain or reload).
	fileVersion = 3
)

// Save implements ann.Index. Cells are written entry by entry with their
// keys, so Load rebuilds positions itself. It writes a View (Freeze): rows
// are added and deleted meanwhile, and the file is the index when Save began.
func (x *Index) Save(w io.Writer) error {
	v := x.Freeze()
	defer v.Release()
	return v.Write(w)
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// Load reads an index written by Save. From cfg only Threads is used.
func Load(r io.Reader, cfg Config) (*Index, error) {
	x, err := fileformat.Decode(r, fileKind, fileVersion, func(d *fileformat.Decoder) (*Index, error) {
		return decode(d, cfg.Threads)
	})
	if err != nil {
		return nil, fmt.Errorf("ivf: load: %w", err)
	}
	return x, nil
}

func decode(d *fileformat.Decoder, threads int) (*Index, error) {
	c, err := decodeConfig(d, threads)
	if err != nil {
		return nil, err
	}
	x, err := New(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ann.ErrCorrupt, err)
	}
	if d.U32() == 1 {
		x.decodeTraining(d)
		x.decodeCodec(d)
		if err := d.Err(); err != nil {
			return nil, err
		}
		x.cells = make([]cell, x.cfg.Lists)
		for ci := range x.cells {
			if err := x.decodeCell(d, ci); err != nil {
				return nil, err
			}
		}
	}
	if err := x.decodePending(d); err != nil {
		return nil, err
	}
	if x.trainedRows < 0 {
		x.trainedRows = len(x.ids)
	}
	if !x.trained && len(x.pendIDs) > 0 && len(x.cells) > 0 {
		return nil, fmt.Errorf("%w: cells without training", ann.ErrCorrupt)
	}
	return x, nil
}

// decodeConfig reads the parameters Save wrote first; threads is the caller's.
func decodeConfig(d *fileformat.Decoder, threads int) (Config, error) {
	var c Config
	c.Metric = ann.Metric(d.U32())
	c.Dims = int(d.U32())
	c.Lists = int(d.U32())
	c.Probes = int(d.U32())
	c.Codes = string(d.Bytes())
	c.PQSegments = int(d.U32())
	c.KeepVectors = d.U32() == 1
	c.Oversample = d.F64()
	c.TrainRows = int(min(d.U64(), 1<<40))
	c.SampleRows = int(min(d.U64(), 1<<40))
	c.Iterations = int(d.U32())
	c.Seed = d.U64()
	c.Threads = threads
	if err := d.Err(); err != nil {
		return Config{}, err
	}
	if math.IsNaN(c.Oversample) {
		return Config{}, fmt.Errorf("%w: bad header", ann.ErrCorrupt)
	}
	return c, nil
}

// decodeTraining reads the centroids and the drift statistics of a trained index. Errors stay
// in d.
func (x *Index) decodeTraining(d *fileformat.Decoder) {
	c := x.cfg
	x.trained = true
	x.centroids = d.F32s()
	x.trainDist, x.addDist = d.F64(), d.F64()
	x.addN = int(min(d.U64(), 1<<40))
	x.trainedRows = -1 // version 1: the rows loaded
	if d.Version >= 3 {
		x.trainedRows = int(min(d.U64(), 1<<40))
		x.bound = d.F64()
		if d.Err() == nil && !(x.bound >= 0) {
			d.Fail("drift bound %v", x.bound)
		}
	} else if d.Version >= 2 {
		x.trainedRows = int(min(d.U64(), 1<<40))
	} else if c.Metric != ann.L2 && c.Metric != ann.L1 {
		// Version 1 kept ranking distances (negative dot products):
		// drift is unknown until the next training.
		x.trainDist, x.addDist, x.addN = 0, 0, 0
	}
	if d.Err() == nil && len(x.centroids) != c.Lists*c.Dims {
		d.Fail("%d centroid floats for %d lists", len(x.centroids), c.Lists)
	}
}

// decodeCodec reads the parameters of a trained index's codec (none for flat cells). Errors
// stay in d.
func (x *Index) decodeCodec(d *fileformat.Decoder) {
	c := x.cfg
	dims := c.Dims
	switch c.Codes {
	case CodesSQ8:
		x.sq = codecfile.ReadSQ8(d, dims)
		if d.Version < 3 {
			x.bound = sq8.MinDriftBound
		}
	case CodesBinary:
		off := d.F32s()
		if d.Err() == nil && len(off) != dims {
			d.Fail("binary offsets")
		}
		x.bin = &qbinary.Codec{Dims: dims, Offsets: off}
	case CodesPQ:
		k := int(d.U32())
		books := d.F32s()
		if d.Err() == nil && (k < 1 || k > 256 || len(books) != k*dims) {
			d.Fail("pq codebooks")
		}
		p := &pq.Codec{Dims: dims, M: c.PQSegments, K: k, Bounds: make([]int, c.PQSegments+1), Books: books}
		for s := range p.Bounds {
			p.Bounds[s] = s * dims / c.PQSegments
		}
		x.pq = p
		if d.Err() == nil && len(x.centroids) == c.Lists*dims {
			x.precomputePQ()
		}
	}
}

// decodeCell reads cell ci: its entries' keys (with their full vectors when the codes are
// quantised and vectors are kept), then its rows, which must match its entries.
func (x *Index) decodeCell(d *fileformat.Decoder, ci int) error {
	dims := x.cfg.Dims
	n := d.U64()
	if d.Err() == nil && n > uint64(d.Remaining()) {
		d.Fail("cell %d: %d entries overrun the file", ci, n)
	}
	if err := d.Err(); err != nil {
		return err
	}
	cl := &x.cells[ci]
	for range n {
		var k ann.Key
		d.Binary(&k)
		var raw []float32
		if x.quantised() && x.cfg.KeepVectors {
			raw = d.F32s()
			if d.Err() == nil && len(raw) != dims {
				d.Fail("raw vector length %d", len(raw))
			}
		}
		if err := d.Err(); err != nil {
			return err
		}
		if _, dup := x.ids[k]; dup {
			return fmt.Errorf("%w: duplicate key %v", ann.ErrCorrupt, k)
		}
		id := x.newNode(k, raw)
		x.nodeCell[id] = int32(ci)
		x.nodePos[id] = uint32(len(cl.ids))
		cl.ids = append(cl.ids, id)
	}
	cl.vecs = d.F32s()
	cl.codes = d.Bytes()
	cl.corr = d.F32s()
	bits := d.Bytes()
	if err := d.Err(); err != nil {
		return err
	}
	for i := 0; i+8 <= len(bits); i += 8 {
		cl.bits = append(cl.bits, binary.LittleEndian.Uint64(bits[i:]))
	}
	if len(bits)%8 != 0 || !x.cellRowsMatch(cl) {
		return fmt.Errorf("%w: cell %d arrays do not match its %d entries", ann.ErrCorrupt, ci, len(cl.ids))
	}
	return nil
}

// cellRowsMatch reports whether cl holds the rows of its entries in the index's codes and no
// other rows.
func (x *Index) cellRowsMatch(cl *cell) bool {
	m, dims := len(cl.ids), x.cfg.Dims
	switch x.cfg.Codes {
	case CodesFlat:
		return len(cl.vecs) == m*dims && len(cl.codes)+len(cl.corr)+len(cl.bits) == 0
	case CodesSQ8:
		return len(cl.codes) == m*dims && len(cl.corr) == m && len(cl.vecs)+len(cl.bits) == 0
	case CodesPQ:
		ok := len(cl.codes) == m*x.pq.M && len(cl.vecs)+len(cl.corr)+len(cl.bits) == 0
		for _, b := range cl.codes {
			ok = ok && int(b) < x.pq.K
		}
		return ok
	case CodesBinary:
		return len(cl.bits) == m*x.bin.Words() && len(cl.vecs)+len(cl.codes)+len(cl.corr) == 0
	}
	return true
}

// decodePending reads the entries waiting for training (keys, then their vectors) and adds
// them; it ends d.
func (x *Index) decodePending(d *fileformat.Decoder) error {
	dims := x.cfg.Dims
	np := d.U64()
	if d.Err() == nil && np > uint64(d.Remaining()) {
		d.Fail("%d pending overrun the file", np)
	}
	if err := d.Err(); err != nil {
		return err
	}
	var pendKeys []ann.Key
	for range np {
		var k ann.Key
		d.Binary(&k)
		pendKeys = append(pendKeys, k)
	}
	vecs := d.F32s()
	if err := d.End(); err != nil {
		return err
	}
	if len(vecs) != len(pendKeys)*dims {
		return fmt.Errorf("%w: pending vectors", ann.ErrCorrupt)
	}
	for i, k := range pendKeys {
		if _, dup := x.ids[k]; dup {
			return fmt.Errorf("%w: duplicate key %v", ann.ErrCorrupt, k)
		}
		v := vecs[i*dims : (i+1)*dims]
		if _, err := ann.CheckVector(x.cfg.Metric, dims, v); err != nil {
			return fmt.Errorf("%w: pending %v: %v", ann.ErrCorrupt, k, err)
		}
		id := x.newNode(k, v)
		x.pend(id, v)
	}
	return nil
}
