package ivf

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/internal/codecfile"
	"github.com/vecgate/vecgate/internal/fileformat"
	qbinary "github.com/vecgate/vecgate/quant/binary"
	"github.com/vecgate/vecgate/quant/pq"
	"github.com/vecgate/vecgate/quant/sq8"
)

// A View is the index as it was at Freeze, to be written (Write: Save's file) while rows are
// added and deleted. Freeze copies the node keys and takes the cells and the pending rows as
// they are (their slices, not their contents). Rows added later are appended past what the view
// holds; a delete, which moves a cell's (or the pending rows') last entry into the hole, first
// gives that cell (or the pending rows) arrays of its own (ownCell, ownPending), so the view
// keeps the old ones; freed node ids are not reused while a view is open (their kept vectors
// stay), and Train waits for the view. A Retrain swaps in new arrays and leaves the old ones to
// the view. One view is open at a time (viewMu is held from Freeze to Release).
type View struct {
	x *Index

	cfg                Config
	trained            bool
	centroids          []float32
	trainDist, addDist float64
	addN, trainedRows  int
	bound              float64
	sq                 *sq8.Codec
	bin                *qbinary.Codec
	pq                 *pq.Codec
	cells              []cell
	nodeKey            []ann.Key
	raw                []float32
	pendIDs            []uint32
	pendVecs           []float32
}

// Freeze opens a view of the index as it is now; Release it when written. It waits for a view
// still open.
func (x *Index) Freeze() *View {
	x.viewMu.Lock()
	x.mu.Lock()
	defer x.mu.Unlock()
	v := &View{x: x, cfg: x.cfg, trained: x.trained, centroids: x.centroids, trainDist: x.trainDist,
		addDist: x.addDist, addN: x.addN, trainedRows: x.trainedRows, bound: x.bound,
		sq: x.sq, bin: x.bin, pq: x.pq, cells: slices.Clone(x.cells), nodeKey: slices.Clone(x.nodeKey),
		raw: x.raw, pendIDs: x.pendIDs, pendVecs: x.pendVecs}
	x.sharedCells = make([]bool, len(x.cells))
	for i := range x.sharedCells {
		x.sharedCells[i] = true
	}
	x.sharedPending = true
	x.frozen = true
	return v
}

// Release ends the view; later calls do nothing. Call it from the goroutine that writes it.
func (v *View) Release() {
	x := v.x
	if x == nil {
		return
	}
	v.x = nil
	x.mu.Lock()
	x.frozen, x.sharedCells, x.sharedPending = false, nil, false
	x.mu.Unlock()
	x.viewMu.Unlock()
}

// ownCell gives cell c arrays of its own before an entry in it is overwritten, when an open view
// holds its arrays. Caller holds mu exclusively.
func (x *Index) ownCell(c int) {
	if c >= len(x.sharedCells) || !x.sharedCells[c] {
		return
	}
	cl := &x.cells[c]
	cl.ids, cl.vecs, cl.codes = slices.Clone(cl.ids), slices.Clone(cl.vecs), slices.Clone(cl.codes)
	cl.corr, cl.bits = slices.Clone(cl.corr), slices.Clone(cl.bits)
	x.sharedCells[c] = false
}

// ownPending is ownCell for the pending rows.
func (x *Index) ownPending() {
	if x.sharedPending {
		x.pendIDs, x.pendVecs = slices.Clone(x.pendIDs), slices.Clone(x.pendVecs)
		x.sharedPending = false
	}
}

// Write writes the view in Save's format (the bytes Save would have written at Freeze).
func (v *View) Write(w io.Writer) error {
	c := v.cfg
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
	e.U32(b2u(v.trained))
	if v.trained {
		e.F32s(v.centroids)
		e.F64(v.trainDist)
		e.F64(v.addDist)
		e.U64(uint64(v.addN))
		e.U64(uint64(v.trainedRows))
		e.F64(v.bound)
		switch c.Codes {
		case CodesSQ8:
			codecfile.WriteSQ8(e, v.sq)
		case CodesBinary:
			e.F32s(v.bin.Offsets)
		case CodesPQ:
			e.U32(uint32(v.pq.K))
			e.F32s(v.pq.Books)
		}
		for ci := range v.cells {
			cl := &v.cells[ci]
			e.U64(uint64(len(cl.ids)))
			for _, id := range cl.ids {
				e.Binary(v.nodeKey[id])
				if c.Codes != CodesFlat && c.KeepVectors {
					e.F32s(v.raw[int(id)*d : int(id+1)*d])
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
	e.U64(uint64(len(v.pendIDs)))
	for _, id := range v.pendIDs {
		e.Binary(v.nodeKey[id])
	}
	e.F32s(v.pendVecs)
	if err := e.Finish(); err != nil {
		return fmt.Errorf("ivf: save: %w", err)
	}
	return nil
}
