package replication

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"

	"github.com/vecgate/vecgate/catalog"
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

// Memory snapshot payload, version 2 (all integers big-endian):
//
//	"VGMEM" version:u32 applied:u64 ntargets:u32
//	per target: schema table column:str reloid:u32 kind:u8 dims:u32 nkey:u32 (name:str typeoid:u32)…
//	            ninclude:u32 name:str… nrows:u64
//	  per row: key:bytes vector include:(u32 n, then per datum flags:u8 [bytes])
//	vector: dim:u32 nvalues:u32 f32… nindices:u32 i32… bits:bytes
//	str and bytes: u32 length, then the bytes.
//
// Indexes are not stored: they are re-read from the catalog when a Stream starts.
const memMagic = "VGMEM"
const memVersion = 2 // 2: the table's OID after its name

// WriteSnapshot implements Snapshotter.
func (m *Memory) WriteSnapshot(w io.Writer) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	bw := bufio.NewWriterSize(w, 1<<16)
	e := &enc{w: bw}
	e.raw([]byte(memMagic))
	e.u32(memVersion)
	e.u64(uint64(m.applied))
	keys := make([]Target, 0, len(m.targets))
	for t := range m.targets {
		keys = append(keys, t)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	e.u32(uint32(len(keys)))
	for _, t := range keys {
		mt := m.targets[t]
		e.str(t.Schema)
		e.str(t.Table)
		e.str(t.Column)
		e.u32(mt.info.OID)
		e.raw([]byte{byte(mt.info.Kind)})
		e.u32(uint32(mt.info.Dims))
		e.u32(uint32(len(mt.info.Key)))
		for _, k := range mt.info.Key {
			e.str(k.Name)
			e.u32(k.TypeOID)
		}
		e.u32(uint32(len(mt.info.Include)))
		for _, s := range mt.info.Include {
			e.str(s)
		}
		e.u64(uint64(len(mt.rows)))
		for k, r := range mt.rows {
			e.str(string(k))
			e.u32(uint32(r.vec.Dim))
			e.u32(uint32(len(r.vec.Values)))
			for _, f := range r.vec.Values {
				e.u32(math.Float32bits(f))
			}
			e.u32(uint32(len(r.vec.Indices)))
			for _, ix := range r.vec.Indices {
				e.u32(uint32(ix))
			}
			e.str(string(r.vec.Bits))
			e.u32(uint32(len(r.include)))
			for _, d := range r.include {
				switch {
				case d.Null:
					e.raw([]byte{1})
				default:
					e.raw([]byte{0})
					e.str(string(d.Value))
				}
			}
		}
	}
	if e.err != nil {
		return fmt.Errorf("replication: memory: write snapshot: %w", e.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("replication: memory: write snapshot: %w", err)
	}
	return nil
}

// ReadSnapshot implements Snapshotter.
func (m *Memory) ReadSnapshot(r io.Reader) error {
	d := &dec{r: bufio.NewReaderSize(r, 1<<16)}
	if string(d.bytes(len(memMagic))) != memMagic {
		return fmt.Errorf("replication: memory: read snapshot: %w", errBadSnapshot)
	}
	if v := d.u32(); v != memVersion {
		return fmt.Errorf("replication: memory: read snapshot: version %d: %w", v, errBadSnapshot)
	}
	applied := LSN(d.u64())
	n := d.u32()
	targets := map[Target]*memTarget{}
	for i := uint32(0); i < n && d.err == nil; i++ {
		var ti TargetInfo
		ti.Schema, ti.Table, ti.Column = d.str(), d.str(), d.str()
		ti.OID = d.u32()
		ti.Kind = catalog.VectorType(d.bytes(1)[0])
		ti.Dims = int(d.u32())
		nk := d.u32()
		for j := uint32(0); j < nk && d.err == nil; j++ {
			ti.Key = append(ti.Key, catalog.Column{Name: d.str(), TypeOID: d.u32()})
		}
		ni := d.u32()
		for j := uint32(0); j < ni && d.err == nil; j++ {
			ti.Include = append(ti.Include, d.str())
		}
		mt := &memTarget{info: ti, rows: map[Key]memRow{}}
		nr := d.u64()
		for j := uint64(0); j < nr && d.err == nil; j++ {
			k := Key(d.str())
			v := Vector{Kind: ti.Kind, Dim: int(d.u32())}
			if nv := d.count(4); nv > 0 {
				v.Values = make([]float32, nv)
				for x := range v.Values {
					v.Values[x] = math.Float32frombits(d.u32())
				}
			}
			if ni := d.count(4); ni > 0 {
				v.Indices = make([]int32, ni)
				for x := range v.Indices {
					v.Indices[x] = int32(d.u32())
				}
			} else if ti.Kind == catalog.TypeSparsevec {
				v.Indices = []int32{}
				if v.Values == nil {
					v.Values = []float32{}
				}
			}
			if b := d.str(); b != "" {
				v.Bits = []byte(b)
			}
			var inc []Datum
			if nd := d.count(1); nd > 0 {
				inc = make([]Datum, nd)
				for x := range inc {
					if d.bytes(1)[0] == 1 {
						inc[x].Null = true
					} else {
						inc[x].Value = []byte(d.str())
					}
				}
			}
			mt.rows[k] = memRow{vec: v, include: inc}
		}
		targets[ti.Target] = mt
	}
	if d.err != nil {
		return fmt.Errorf("replication: memory: read snapshot: %w", d.err)
	}
	m.mu.Lock()
	m.targets, m.applied = targets, applied
	m.mu.Unlock()
	return nil
}

var errBadSnapshot = errors.New("not a valid snapshot")

type enc struct {
	w   *bufio.Writer
	err error
	b   [8]byte
}

func (e *enc) raw(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}
func (e *enc) u32(v uint32) { binary.BigEndian.PutUint32(e.b[:4], v); e.raw(e.b[:4]) }
func (e *enc) u64(v uint64) { binary.BigEndian.PutUint64(e.b[:8], v); e.raw(e.b[:8]) }
func (e *enc) str(s string) {
	e.u32(uint32(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

type dec struct {
	r   *bufio.Reader
	err error
	b   [8]byte
}

// maxSnapshotString bounds one length-prefixed field so a corrupt length cannot allocate
// without limit.
const maxSnapshotString = 1 << 28

func (d *dec) bytes(n int) []byte {
	if d.err != nil {
		return make([]byte, n)
	}
	p := d.b[:0]
	if n > len(d.b) {
		p = make([]byte, n)
	} else {
		p = d.b[:n]
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		d.err = err
		return make([]byte, n)
	}
	return p
}
func (d *dec) u32() uint32 { return binary.BigEndian.Uint32(d.bytes(4)) }
func (d *dec) u64() uint64 { return binary.BigEndian.Uint64(d.bytes(8)) }

// count reads a u32 element count and checks that count×width bytes are plausible.
func (d *dec) count(width int) int {
	n := d.u32()
	if d.err == nil && uint64(n)*uint64(width) > maxSnapshotString {
		d.err = errBadSnapshot
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}
func (d *dec) str() string {
	n := d.count(1)
	if n == 0 {
		return ""
	}
	return string(d.bytes(n))
}
