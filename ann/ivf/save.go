package ivf

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/fileformat"
	qbinary "github.com/vecgate/vecgate/quant/binary"
	"github.com/vecgate/vecgate/quant/pq"
	"github.com/vecgate/vecgate/quant/sq8"
)

const (
	fileKind = "IVF "
	// fileVersion 2: drift statistics are squared L2 spreads for every
	// metric (version 1: ranking distances), and the rows at training follow
	// them.
	fileVersion = 2
)

// Save implements ann.Index. Cells are written entry by entry with their
// keys, so Load rebuilds positions itself.
func (x *Index) Save(w io.Writer) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	c := x.cfg
	d := c.Dims
	e := fileformat.NewEncoder(w, fileKind, fileVersion)
	e.U32(uint32(c.Metric))
	e.U32(uint32(d))
	e.U32(uint32(c.Lists))
	e.U32(uint32(c.Probes))
	e.Bytes([]byte(c.Codes))
	e.U32(uint32(c.PQSegments))
	e.U32(b2u(c.KeepVectors))
	e.F64(c.Oversample)
	e.U64(uint64(c.TrainRows))
	e.U64(uint64(c.SampleRows))
	e.U32(uint32(c.Iterations))
	e.U64(c.Seed)
	e.U32(b2u(x.trained))
	if x.trained {
		e.F32s(x.centroids)
		e.F64(x.trainDist)
		e.F64(x.addDist)
		e.U64(uint64(x.addN))
		e.U64(uint64(x.trainedRows))
		switch c.Codes {
		case CodesSQ8:
			e.F32(x.sq.Lower)
			e.F32(x.sq.Upper)
			e.F64(x.sq.Confidence)
		case CodesBinary:
			e.F32s(x.bin.Offsets)
		case CodesPQ:
			e.U32(uint32(x.pq.K))
			e.F32s(x.pq.Books)
		}
		for ci := range x.cells {
			cl := &x.cells[ci]
			e.U64(uint64(len(cl.ids)))
			for _, id := range cl.ids {
				e.Binary(x.nodeKey[id])
				if x.quantised() && c.KeepVectors {
					e.F32s(x.raw[int(id)*d : int(id+1)*d])
				}
			}
			e.F32s(cl.vecs)
			e.Bytes(cl.codes)
			e.F32s(cl.corr)
			b := make([]byte, 0, len(cl.bits)*8)
			for _, w := range cl.bits {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
			e.Bytes(b)
		}
	}
	e.U64(uint64(len(x.pendIDs)))
	for _, id := range x.pendIDs {
		e.Binary(x.nodeKey[id])
	}
	e.F32s(x.pendVecs)
	if err := e.Finish(); err != nil {
		return fmt.Errorf("ivf: save: %w", err)
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// Load reads an index written by Save. From cfg only Threads is used.
func Load(r io.Reader, cfg Config) (*Index, error) {
	d, err := fileformat.Open(r, fileKind, fileVersion)
	if err != nil {
		return nil, fmt.Errorf("ivf: load: %w", err)
	}
	x, err := decode(d, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("ivf: load: %w", err)
	}
	return x, nil
}

func decode(d *fileformat.Decoder, threads int) (*Index, error) {
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
		return nil, err
	}
	if math.IsNaN(c.Oversample) {
		return nil, fmt.Errorf("%w: bad header", ann.ErrCorrupt)
	}
	x, err := New(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ann.ErrCorrupt, err)
	}
	c = x.cfg // with defaults filled in
	dims := c.Dims
	if d.U32() == 1 {
		x.trained = true
		x.centroids = d.F32s()
		x.trainDist, x.addDist = d.F64(), d.F64()
		x.addN = int(min(d.U64(), 1<<40))
		x.trainedRows = -1 // version 1: the rows loaded
		if d.Version >= 2 {
			x.trainedRows = int(min(d.U64(), 1<<40))
		} else if c.Metric != ann.L2 && c.Metric != ann.L1 {
			// Version 1 kept ranking distances (negative dot products):
			// drift is unknown until the next training.
			x.trainDist, x.addDist, x.addN = 0, 0, 0
		}
		if d.Err() == nil && len(x.centroids) != c.Lists*dims {
			d.Fail("%d centroid floats for %d lists", len(x.centroids), c.Lists)
		}
		switch c.Codes {
		case CodesSQ8:
			lo, hi, conf := d.F32(), d.F32(), d.F64()
			if d.Err() == nil && (!(hi > lo) || !(conf > 0 && conf <= 1) || math.IsInf(float64(hi-lo), 0)) {
				d.Fail("bad sq8 range")
			}
			x.sq = &sq8.Codec{Dims: dims, Lower: lo, Upper: hi, Confidence: conf}
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
		if err := d.Err(); err != nil {
			return nil, err
		}
		x.cells = make([]cell, c.Lists)
		for ci := range x.cells {
			n := d.U64()
			if d.Err() == nil && n > uint64(d.Remaining()) {
				d.Fail("cell %d: %d entries overrun the file", ci, n)
			}
			if err := d.Err(); err != nil {
				return nil, err
			}
			cl := &x.cells[ci]
			for range n {
				var k ann.Key
				d.Binary(&k)
				var raw []float32
				if x.quantised() && c.KeepVectors {
					raw = d.F32s()
					if d.Err() == nil && len(raw) != dims {
						d.Fail("raw vector length %d", len(raw))
					}
				}
				if err := d.Err(); err != nil {
					return nil, err
				}
				if _, dup := x.ids[k]; dup {
					return nil, fmt.Errorf("%w: duplicate key %v", ann.ErrCorrupt, k)
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
				return nil, err
			}
			for i := 0; i+8 <= len(bits); i += 8 {
				cl.bits = append(cl.bits, binary.LittleEndian.Uint64(bits[i:]))
			}
			m := len(cl.ids)
			ok := len(bits)%8 == 0
			switch c.Codes {
			case CodesFlat:
				ok = ok && len(cl.vecs) == m*dims && len(cl.codes)+len(cl.corr)+len(cl.bits) == 0
			case CodesSQ8:
				ok = ok && len(cl.codes) == m*dims && len(cl.corr) == m && len(cl.vecs)+len(cl.bits) == 0
			case CodesPQ:
				ok = ok && len(cl.codes) == m*x.pq.M && len(cl.vecs)+len(cl.corr)+len(cl.bits) == 0
				for _, b := range cl.codes {
					ok = ok && int(b) < x.pq.K
				}
			case CodesBinary:
				ok = ok && len(cl.bits) == m*x.bin.Words() && len(cl.vecs)+len(cl.codes)+len(cl.corr) == 0
			}
			if !ok {
				return nil, fmt.Errorf("%w: cell %d arrays do not match its %d entries", ann.ErrCorrupt, ci, m)
			}
		}
	}
	np := d.U64()
	if d.Err() == nil && np > uint64(d.Remaining()) {
		d.Fail("%d pending overrun the file", np)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	var pendKeys []ann.Key
	for range np {
		var k ann.Key
		d.Binary(&k)
		pendKeys = append(pendKeys, k)
	}
	vecs := d.F32s()
	if err := d.End(); err != nil {
		return nil, err
	}
	if len(vecs) != len(pendKeys)*dims {
		return nil, fmt.Errorf("%w: pending vectors", ann.ErrCorrupt)
	}
	for i, k := range pendKeys {
		if _, dup := x.ids[k]; dup {
			return nil, fmt.Errorf("%w: duplicate key %v", ann.ErrCorrupt, k)
		}
		v := vecs[i*dims : (i+1)*dims]
		if _, err := ann.CheckVector(c.Metric, dims, v); err != nil {
			return nil, fmt.Errorf("%w: pending %v: %v", ann.ErrCorrupt, k, err)
		}
		id := x.newNode(k, v)
		x.pend(id, v)
	}
	if x.trainedRows < 0 {
		x.trainedRows = len(x.ids)
	}
	if !x.trained && len(x.pendIDs) > 0 && len(x.cells) > 0 {
		return nil, fmt.Errorf("%w: cells without training", ann.ErrCorrupt)
	}
	return x, nil
}
