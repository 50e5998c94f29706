package replication

import (
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/fileformat"
)

// Memory is an Applier that keeps every replicated vector in maps, one per Target. It is the sink
// the tests use and what the proxy can search (exactly) until ann indexes are wired in. It is
// safe for any number of concurrent readers while replication applies.
type Memory struct {
	mu      sync.RWMutex // guards everything below
	targets map[Target]*memTarget
	applied LSN
}

type memTarget struct {
	info TargetInfo
	rows map[Key]memRow
}

type memRow struct {
	vec     Vector
	include []Datum
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{targets: map[Target]*memTarget{}} }

var _ Applier = (*Memory)(nil)
var _ Snapshotter = (*Memory)(nil)

// Reset implements Applier.
func (m *Memory) Reset(targets []TargetInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.targets = make(map[Target]*memTarget, len(targets))
	for _, ti := range targets {
		m.targets[ti.Target] = &memTarget{info: ti, rows: map[Key]memRow{}}
	}
	m.applied = 0
	return nil
}

// Upsert implements Applier.
func (m *Memory) Upsert(t Target, r Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mt := m.targets[t]
	if mt == nil {
		return fmt.Errorf("replication: memory: unknown target %s", t)
	}
	if !r.KeepVector && r.Vector.Null() { // a NULL vector: nothing to hold
		delete(mt.rows, r.Key)
		if r.OldKey != "" {
			delete(mt.rows, r.OldKey)
		}
		return nil
	}
	if !r.KeepVector && mt.info.Dims > 0 && r.Vector.Dim != mt.info.Dims {
		return fmt.Errorf("replication: memory: %s: %d dimensions, want %d: %w", t, r.Vector.Dim, mt.info.Dims, ErrRejected)
	}
	from := r.Key
	if r.OldKey != "" {
		from = r.OldKey
	}
	old, had := mt.rows[from]
	if r.OldKey != "" {
		delete(mt.rows, r.OldKey)
	}
	row := memRow{vec: r.Vector, include: r.Include}
	if r.KeepVector {
		if !had {
			// Nothing stored to keep: the row was never indexed (or this is a replay after the
			// row moved on). Leave it out rather than index a wrong vector.
			return nil
		}
		row.vec = old.vec
	}
	if had && len(row.include) == len(old.include) {
		for i, d := range row.include {
			if d.Unchanged {
				row.include[i] = old.include[i]
			}
		}
	}
	mt.rows[r.Key] = row
	return nil
}

// Delete implements Applier.
func (m *Memory) Delete(t Target, key Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mt := m.targets[t]; mt != nil {
		delete(mt.rows, key)
	}
	return nil
}

// Truncate implements Applier.
func (m *Memory) Truncate(t Target) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mt := m.targets[t]; mt != nil {
		mt.rows = map[Key]memRow{}
	}
	return nil
}

// Commit implements Applier.
func (m *Memory) Commit(lsn LSN) error {
	m.mu.Lock()
	m.applied = lsn
	m.mu.Unlock()
	return nil
}

// AppliedLSN returns the LSN of the last Commit.
func (m *Memory) AppliedLSN() LSN {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.applied
}

// Targets returns the targets held, sorted.
func (m *Memory) Targets() []TargetInfo {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]TargetInfo, 0, len(m.targets))
	for _, mt := range m.targets {
		out = append(out, mt.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Get returns the vector stored for key.
func (m *Memory) Get(t Target, key Key) (Vector, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if mt := m.targets[t]; mt != nil {
		r, ok := mt.rows[key]
		return r.vec, ok
	}
	return Vector{}, false
}

// Len returns the number of rows held for t.
func (m *Memory) Len(t Target) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if mt := m.targets[t]; mt != nil {
		return len(mt.rows)
	}
	return 0
}

// Range calls fn for every row of t (in no particular order) under a read lock; fn must not
// call back into m's mutating methods. Returning false stops.
func (m *Memory) Range(t Target, fn func(key Key, v Vector, include []Datum) bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	mt := m.targets[t]
	if mt == nil {
		return
	}
	for k, r := range mt.rows {
		if !fn(k, r.vec, r.include) {
			return
		}
	}
}

// Memory snapshot payload: an internal/fileformat container of kind "VMEM" (fields little-endian,
// str and bytes with a u64 length):
//
//	applied:u64 ntargets:u32
//	per target: schema table column:str reloid:u32 kind:u8 dims:u32 nkey:u32 (name:str typeoid:u32)…
//	            ninclude:u32 name:str… nrows:u64
//	  per row: key:str vector include:(u32 n, then per datum null:u8 [value:bytes])
//	vector: dim:u32 values:(u64 n, f32…) indices:(u64 n, u32…) bits:bytes
//
// Version 2 was a big-endian stream behind the magic "VGMEM"; it is refused (a full load follows).
// Indexes are not stored: they are re-read from the catalog when a Stream starts.
const memVersion = 3

// maxIncludeColumns bounds a row's INCLUDE values (Postgres' column limit).
const maxIncludeColumns = 1600

// WriteSnapshot implements Snapshotter.
func (m *Memory) WriteSnapshot(w io.Writer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	e := fileformat.NewEncoderWith(w, "VMEM", memVersion, fileformat.CRC32C)
	e.U64(uint64(m.applied))
	keys := make([]Target, 0, len(m.targets))
	for t := range m.targets {
		keys = append(keys, t)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	e.U32(uint32(len(keys)))
	for _, t := range keys {
		mt := m.targets[t]
		e.String(t.Schema)
		e.String(t.Table)
		e.String(t.Column)
		e.U32(mt.info.OID)
		e.U8(byte(mt.info.Kind))
		e.U32(uint32(mt.info.Dims))
		e.U32(uint32(len(mt.info.Key)))
		for _, k := range mt.info.Key {
			e.String(k.Name)
			e.U32(k.TypeOID)
		}
		e.U32(uint32(len(mt.info.Include)))
		for _, s := range mt.info.Include {
			e.String(s)
		}
		e.U64(uint64(len(mt.rows)))
		var idx []uint32
		for k, r := range mt.rows {
			e.String(string(k))
			e.U32(uint32(r.vec.Dim))
			e.F32s(r.vec.Values)
			idx = idx[:0]
			for _, ix := range r.vec.Indices {
				idx = append(idx, uint32(ix))
			}
			e.U32s(idx)
			e.Bytes(r.vec.Bits)
			e.U32(uint32(len(r.include)))
			for _, d := range r.include {
				e.Bool(d.Null)
				if !d.Null {
					e.Bytes(d.Value)
				}
			}
		}
	}
	if err := e.Finish(); err != nil {
		return fmt.Errorf("replication: memory: write snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot implements Snapshotter. The state is replaced once the payload's checksum is
// verified.
func (m *Memory) ReadSnapshot(r io.Reader) error {
	d, err := fileformat.NewReader(r, "VMEM", memVersion)
	if err != nil {
		return fmt.Errorf("replication: memory: read snapshot: %w", err)
	}
	applied := LSN(d.U64())
	n := d.U32()
	targets := map[Target]*memTarget{}
	for i := uint32(0); i < n && d.Err() == nil; i++ {
		var ti TargetInfo
		ti.Schema, ti.Table, ti.Column = d.String(), d.String(), d.String()
		ti.OID = d.U32()
		ti.Kind = catalog.VectorType(d.U8())
		ti.Dims = int(d.U32())
		nk := d.U32()
		for j := uint32(0); j < nk && d.Err() == nil; j++ {
			ti.Key = append(ti.Key, catalog.Column{Name: d.String(), TypeOID: d.U32()})
		}
		ni := d.U32()
		for j := uint32(0); j < ni && d.Err() == nil; j++ {
			ti.Include = append(ti.Include, d.String())
		}
		mt := &memTarget{info: ti, rows: map[Key]memRow{}}
		nr := d.U64()
		for j := uint64(0); j < nr && d.Err() == nil; j++ {
			k := Key(d.String())
			v := Vector{Kind: ti.Kind, Dim: int(d.U32())}
			if vals := d.F32s(); len(vals) > 0 {
				v.Values = vals
			}
			if idx := d.U32s(); len(idx) > 0 {
				v.Indices = make([]int32, len(idx))
				for x, ix := range idx {
					v.Indices[x] = int32(ix)
				}
			} else if ti.Kind == catalog.TypeSparsevec {
				v.Indices = []int32{}
				if v.Values == nil {
					v.Values = []float32{}
				}
			}
			if b := d.Bytes(); len(b) > 0 {
				v.Bits = b
			}
			var inc []Datum
			nd := d.U32()
			if nd > maxIncludeColumns {
				d.Fail("%d INCLUDE values in a row", nd)
			} else if nd > 0 {
				inc = make([]Datum, nd)
				for x := range inc {
					if inc[x].Null = d.Bool(); !inc[x].Null {
						inc[x].Value = d.Bytes()
					}
				}
			}
			mt.rows[k] = memRow{vec: v, include: inc}
		}
		targets[ti.Target] = mt
	}
	if err := d.End(); err != nil {
		return fmt.Errorf("replication: memory: read snapshot: %w", err)
	}
	m.mu.Lock()
	m.targets, m.applied = targets, applied
	m.mu.Unlock()
	return nil
}
