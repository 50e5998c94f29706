package live

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/internal/pgout"
	"github.com/vecgate/vecgate/replication"
)

// Covering twins: beside its vectors, a twin holds the values of its table's other columns (of
// the types package pgout prints), replicated with the rows, so that a statement returning them
// (`SELECT id, content, metadata, embedding <=> $1 …`) is answered from memory, without a
// statement in Postgres. The values are kept as replication delivers them (binary send form, or
// text), one byte string per row; pgout prints them in the format the client asks for.

// Cover says which columns twins hold for answers.
type Cover struct {
	// On: every column of a supported type is held (replication.Includer "*"). Off: none,
	// and statements returning other columns than the key take the rewrite.
	On bool
	// MaxRowBytes bounds the values held per row; a row past it is not held (statements that
	// return it take the rewrite). 0: no bound.
	MaxRowBytes int
}

// DefaultCover holds every supported column of rows up to 16 KiB.
var DefaultCover = Cover{On: true, MaxRowBytes: 16 << 10}

// Covers implements replication.Coverer: the columns whose values twins hold.
func (s *Set) Covers(c catalog.Column) bool {
	return s.opts.Cover.On && pgout.FamilyOf(c.Type) != pgout.Unsupported
}

// heldValues are the values of the columns held for answers, per row slot of an includes store.
//
// A row's values are one byte string: per column, a tag (heldNull, heldBinary, heldText) and,
// but for NULL, the value's length (uvarint) and bytes. A string is never changed once made
// (an update makes a new one), so a reader may use it after the store's lock is released.
type heldValues struct {
	// dropped: the memory budget took this table's values (Options.MaxMemory); none are held
	// again until the twin is rebuilt.
	dropped bool
	cols    []heldCol
	rows    [][]byte // slot → values; nil: not held (too large, or unknown: an unchanged TOASTed value of a row not held)
	size    int64    // bytes of the strings in rows
	unheld  int      // slots in use whose values are not held
	maxRow  int
}

type heldCol struct {
	name   string
	at     int    // position in replication.Row.Include
	typ    string // as format_type prints it
	family pgout.Family
	// compared: values of the column may be compared for equality bytewise (not a column of a
	// nondeterministic collation).
	compared bool
}

const (
	heldNull   = 0
	heldBinary = 1
	heldText   = 2
)

// add holds column name (at position at of Row.Include) when its type is supported.
func (h *heldValues) add(name string, at int, typ string, compared bool) {
	if f := pgout.FamilyOf(typ); f != pgout.Unsupported {
		h.cols = append(h.cols, heldCol{name: name, at: at, typ: typ, family: f, compared: compared})
	}
}

// grow makes room for a new slot (not held until set).
func (h *heldValues) grow() {
	if len(h.cols) > 0 {
		h.rows = append(h.rows, nil)
		h.unheld++
	}
}

// set replaces a slot's values (nil: not held, as for a slot released).
func (h *heldValues) set(sl uint32, v []byte) {
	if len(h.cols) == 0 {
		return
	}
	old := h.rows[sl]
	h.size += int64(len(v) - len(old))
	if old == nil {
		h.unheld--
	}
	if v == nil {
		h.unheld++
	}
	h.rows[sl] = v
}

// encode makes a row's values from a replicated row; prev (the row's values before the change,
// nil when not held) stands in for unchanged TOASTed ones. nil when the row cannot be held.
func (h *heldValues) encode(prev []byte, row []replication.Datum) []byte {
	if len(h.cols) == 0 {
		return nil
	}
	var out []byte
	for i, c := range h.cols {
		d := replication.Datum{Null: true}
		if c.at < len(row) {
			d = row[c.at]
		}
		switch {
		case d.Unchanged:
			if prev == nil {
				return nil
			}
			out = append(out, heldSegment(prev, i)...)
		case d.Null:
			out = append(out, heldNull)
		default:
			tag := byte(heldBinary)
			if d.Text {
				tag = heldText
			}
			out = append(out, tag)
			out = binary.AppendUvarint(out, uint64(len(d.Value)))
			out = append(out, d.Value...)
		}
		if h.maxRow > 0 && len(out) > h.maxRow {
			return nil
		}
	}
	if out == nil {
		out = []byte{}
	}
	return out
}

// heldSegment returns the i-th column's encoding in a row's values.
func heldSegment(row []byte, i int) []byte {
	start := 0
	for j := 0; ; j++ {
		end := start + 1
		if row[start] != heldNull {
			n, w := binary.Uvarint(row[end:])
			end += w + int(n)
		}
		if j == i {
			return row[start:end]
		}
		start = end
	}
}

// heldValue decodes the i-th column of a row's values.
func heldValue(row []byte, i int) pgout.Value {
	seg := heldSegment(row, i)
	if seg[0] == heldNull {
		return pgout.Value{Null: true}
	}
	_, w := binary.Uvarint(seg[1:])
	return pgout.Value{V: seg[1+w:], Text: seg[0] == heldText}
}

func (h *heldValues) bytes() int64 {
	return h.size + int64(cap(h.rows))*24
}

// HeldColumn reports whether the index answers column name's values from memory, and how
// (pgout.Column).
func (ix *Index) HeldColumn(name string) (pgout.Column, bool) {
	if ix.inc == nil {
		return pgout.Column{}, false
	}
	ix.inc.mu.RLock()
	defer ix.inc.mu.RUnlock()
	i := slices.IndexFunc(ix.inc.held.cols, func(c heldCol) bool { return c.name == name })
	if i < 0 {
		return pgout.Column{}, false
	}
	c := ix.inc.held.cols[i]
	return pgout.Column{Pos: i, Type: c.typ, Family: c.family, Compared: c.compared}, true
}

// TableColumns returns the names of the table's columns, in their order (as `SELECT *` lists
// them), nil when not known.
func (ix *Index) TableColumns() []string {
	if ix.inc == nil {
		return nil
	}
	return ix.inc.tableCols
}

// HeldValues returns the values of key's row at the given positions (HeldColumn), and false
// when the row's values are not held.
func (ix *Index) HeldValues(key ann.Key, pos []int) ([]pgout.Value, bool) {
	if ix.inc == nil {
		return nil, false
	}
	ix.inc.mu.RLock()
	sl, ok := ix.inc.rows.ids[key]
	var row []byte
	if ok {
		row = ix.inc.held.rows[sl]
	}
	ix.inc.mu.RUnlock()
	if row == nil {
		return nil, false
	}
	out := make([]pgout.Value, len(pos))
	for i, p := range pos {
		out[i] = heldValue(row, p)
	}
	return out, true
}

// HeldRows returns the number of rows whose values are held, of rows that are not (too large,
// or not known), and the bytes of the values held, for status.
func (ix *Index) HeldRows() (held, unheld int, bytes int64) {
	if ix.inc == nil || len(ix.inc.held.cols) == 0 {
		return 0, 0, 0
	}
	ix.inc.mu.RLock()
	defer ix.inc.mu.RUnlock()
	return len(ix.inc.rows.ids) - ix.inc.held.unheld, ix.inc.held.unheld, ix.inc.held.size
}

// readHeld reads the held values frozenIncludes.write wrote into e's store. Values of columns the store does not hold
// (covering was turned off, or the columns differ) are read and dropped. Decode errors stay in d.
func readHeld(d *fileformat.Decoder, e *entry) {
	n := d.Uint(1600)
	names := make([]string, 0, n)
	for range n {
		names = append(names, d.String())
	}
	if n == 0 || d.Err() != nil {
		return
	}
	keep := e.inc != nil && slices.EqualFunc(names, e.inc.held.cols, func(n string, c heldCol) bool { return n == c.name })
	rows := d.Uint(1 << 40)
	for i := uint64(0); i < rows && d.Err() == nil; i++ {
		var k ann.Key
		d.Binary(&k)
		v := d.Bytes()
		if keep && d.Err() == nil {
			e.inc.held.set(e.inc.slot(k), slices.Clone(v))
		}
	}
}

// CoverDropped reports whether the memory budget took the twin's held values.
func (ix *Index) CoverDropped() bool {
	if ix.inc == nil {
		return false
	}
	ix.inc.mu.RLock()
	defer ix.inc.mu.RUnlock()
	return ix.inc.held.dropped
}

// dropHeld forgets every held value of the store, for good (the memory budget).
func (inc *includes) dropHeld() {
	inc.mu.Lock()
	defer inc.mu.Unlock()
	inc.held = heldValues{dropped: true}
}

// heldBytes is the size of the store's held values.
func (inc *includes) heldBytes() int64 {
	if inc == nil {
		return 0
	}
	inc.mu.RLock()
	defer inc.mu.RUnlock()
	return inc.held.size
}

// budgetInterval: the memory budget is checked at a commit at most this often.
const budgetInterval = time.Second

// enforceBudget drops the held values of the tables holding the most of them while all twins
// together use more than Options.MaxMemory: vectors stay (the twins keep answering, through the
// rewrite for statements returning other columns), payload goes, largest first. Logged, and in
// status (CoverDropped).
func (s *Set) enforceBudget() {
	if s.opts.MaxMemory <= 0 {
		return
	}
	now := time.Now().UnixNano()
	if now-s.budgetAt.Load() < int64(budgetInterval) {
		return
	}
	s.budgetAt.Store(now)
	for {
		var total, most int64
		var biggest *entry
		s.mu.RLock()
		for _, e := range s.entries {
			for _, ix := range e.indexes {
				total += ix.MemoryBytes()
			}
			if b := e.inc.heldBytes(); b > most {
				biggest, most = e, b
			}
		}
		s.mu.RUnlock()
		if total <= s.opts.MaxMemory || biggest == nil {
			return
		}
		biggest.inc.dropHeld()
		s.log.Warn("live: over the memory budget: the table's other columns are no longer held; statements returning them take the rewrite",
			"target", biggest.info.Target.String(), "held_bytes", most, "twins_bytes", total, "max_memory", s.opts.MaxMemory)
	}
}
