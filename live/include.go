package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/canon"
	"github.com/vecgate/vecgate/internal/fileformat"
	"github.com/vecgate/vecgate/replication"
)

// INCLUDE columns: an index defined `WITH (include = 'tenant_id, …')` keeps, for every row it
// holds, the values of those columns, so that a query filtering on them (`WHERE tenant_id = $1`)
// is filtered inside the index, or answered exactly over the few rows that match.
//
// Values are kept in a canonical form per type family, the form the planner puts the statement's
// values in before asking (Index.Select):
//
//	int  (smallint, integer, bigint)   decimal digits, as strconv.FormatInt prints them
//	text (text, character varying)     the string itself
//	uuid                               the 16 bytes
//	bool (boolean)                     "t" or "f"
//
// A NULL is not a value: no equality filter matches it.

// Include type families.
const (
	FamilyInt  = canon.Int
	FamilyText = canon.Text
	FamilyUUID = canon.UUID
	FamilyBool = canon.Bool
)

// IncludeFamily returns the family of a column type as format_type prints it, or "" when
// vecgate cannot keep the column for filtering.
func IncludeFamily(typ string) string {
	switch {
	case typ == "smallint" || typ == "integer" || typ == "bigint":
		return FamilyInt
	case typ == "text" || typ == "character varying" || strings.HasPrefix(typ, "character varying("):
		return FamilyText
	case typ == "uuid":
		return FamilyUUID
	case typ == "boolean":
		return FamilyBool
	}
	return ""
}

// includes holds the INCLUDE column values of one entry's rows; the entry's indexes share it.
//
// Layout, for memory (about 125 bytes per row with two columns, TestIncludeMemory; the key → slot
// map is most of it): each row has a slot; per column, the value id of each slot and, per value,
// the list of its slots (with each slot's position in it, for O(1) removal).
//
// Concurrency: replication writes (one goroutine), queries read; mu guards everything below it.
// mu is never held while calling into an ann index, and a filter that takes it shared may run
// inside an index search.
type includes struct {
	mu    sync.RWMutex
	cols  []*includeCol         // the columns filtered on
	rows  dense[ann.Key]        // row ↔ slot
	owner atomic.Pointer[Index] // the index whose MemoryBytes counts this store
	held  heldValues            // the columns answers are made of (cover.go)
	// tableCols are the names of all the table's columns in order (TargetInfo.Columns); set
	// once.
	tableCols []string
}

type includeCol struct {
	at           int // position in replication.Row.Include
	name, family string
	broken       bool          // a value could not be read: the column is not used for filtering
	dict         dense[string] // canonical value ↔ value id; ids of values no row holds are reused
	vals         []uint32      // slot → value id + 1; 0: NULL
	pos          []uint32      // slot → its position in posting[vals[slot]-1]
	posting      [][]uint32    // value id → slots holding it
}

// newIncludes returns the store for a target's INCLUDE columns (filtered on, and held for
// answers when cover is set), nil when it has none.
func newIncludes(t replication.TargetInfo, cover Cover) *includes {
	if len(t.Include) == 0 {
		return nil
	}
	inc := &includes{rows: newDense[ann.Key]()}
	for i, n := range t.Include {
		typ := ""
		if i < len(t.IncludeTypes) {
			typ = t.IncludeTypes[i]
		}
		if cover.On {
			inc.held.add(n, i, typ, i >= len(t.Nondeterministic) || !t.Nondeterministic[i])
		}
		if i < len(t.CoverOnly) && t.CoverOnly[i] {
			continue
		}
		c := &includeCol{at: i, name: n, dict: newDense[string](), family: IncludeFamily(typ)}
		c.broken = c.family == "" // a type vecgate cannot compare: kept out of filtering
		inc.cols = append(inc.cols, c)
	}
	inc.held.maxRow = cover.MaxRowBytes
	inc.tableCols = slices.Clone(t.Columns)
	return inc
}

// attachIncludes gives a new entry its INCLUDE store and its indexes access to it.
func attachIncludes(e *entry, cover Cover) {
	e.inc = newIncludes(e.info, cover)
	for _, ix := range e.indexes {
		ix.inc = e.inc
	}
	if e.inc != nil && len(e.indexes) > 0 {
		e.inc.owner.Store(e.indexes[0])
	}
}

// Heap bytes per element of the store's maps (Go's maps hold about 8/7 of their entries' size
// and a control byte per entry): key → slot, and canonical value → value id (string header).
const (
	slotEntryBytes  = (40 + 4 + 1) * 8 / 7
	valueEntryBytes = (16 + 4 + 1) * 8 / 7
)

// bytes is the memory the store holds.
func (inc *includes) bytes() int64 {
	inc.mu.RLock()
	defer inc.mu.RUnlock()
	b := int64(len(inc.rows.ids))*slotEntryBytes + int64(cap(inc.rows.vals))*40 + int64(cap(inc.rows.free))*4 + inc.held.bytes()
	for _, c := range inc.cols {
		b += int64(cap(c.vals)+cap(c.pos)+cap(c.dict.free))*4 + int64(cap(c.dict.vals))*16 + int64(cap(c.posting))*24
		for _, p := range c.posting {
			b += int64(cap(p)) * 4
		}
		for v := range c.dict.ids { // values and ids share each string's bytes
			b += valueEntryBytes + int64(len(v))
		}
	}
	return b
}

// canonicalDatum puts a replicated value in the family's canonical form (package canon, shared
// with the planner's reading of statement values and of held values).
func canonicalDatum(family string, d replication.Datum) (string, error) {
	s, ok := canon.Value(family, d.Value, d.Text)
	if !ok {
		return "", fmt.Errorf("%s value %q (text %v) not read", family, d.Value, d.Text)
	}
	return s, nil
}

// slot returns key's slot, giving it one when it has none.
func (inc *includes) slot(key ann.Key) uint32 {
	sl, grew := inc.rows.id(key)
	if grew {
		for _, c := range inc.cols {
			c.vals = append(c.vals, 0)
			c.pos = append(c.pos, 0)
		}
		inc.held.grow()
	}
	return sl
}

// release forgets key's row.
func (inc *includes) release(key ann.Key) {
	sl, ok := inc.rows.ids[key]
	if !ok {
		return
	}
	for _, c := range inc.cols {
		c.unset(sl)
	}
	inc.held.set(sl, nil)
	inc.rows.release(sl)
}

// upsertLocked sets key's values from a replicated row; when old is not nil the row moved from
// *old, whose values stand in for unchanged (TOASTed) ones. Caller holds mu. It returns an error
// when a column stops being usable.
func (inc *includes) upsertLocked(key ann.Key, old *ann.Key, row []replication.Datum) error {
	var errs []error
	from, hadFrom := inc.rows.ids[key]
	if old != nil {
		from, hadFrom = inc.rows.ids[*old]
	}
	sl := inc.slot(key)
	var prevHeld []byte
	if hadFrom {
		prevHeld = inc.held.rows[from]
	}
	inc.held.set(sl, inc.held.encode(prevHeld, row))
	for _, c := range inc.cols {
		if c.broken {
			continue
		}
		var prev uint32
		if hadFrom {
			prev = c.vals[from]
		}
		var d replication.Datum
		if c.at < len(row) {
			d = row[c.at]
		} else {
			d.Null = true
		}
		switch {
		case d.Unchanged:
			switch {
			case prev != 0:
				c.set(sl, prev-1)
			case hadFrom: // it was NULL and stays so
				c.unset(sl)
			default:
				// An unchanged (TOASTed) value of a row whose values are not held (it had no
				// vector): unknown, so the column is no longer used for filtering.
				c.broken = true
			}
		case d.Null:
			c.unset(sl)
		default:
			v, err := canonicalDatum(c.family, d)
			if err != nil {
				c.broken = true // never filter on a column whose values are not all known
				errs = append(errs, fmt.Errorf("include column %s: %w", c.name, err))
				c.unset(sl)
				continue
			}
			c.set(sl, c.id(v))
		}
	}
	if old != nil && hadFrom {
		inc.release(*old)
	}
	return errors.Join(errs...)
}

func (c *includeCol) id(v string) uint32 {
	id, grew := c.dict.id(v)
	if grew {
		c.posting = append(c.posting, nil)
	}
	return id
}

func (c *includeCol) set(sl, id uint32) {
	if c.vals[sl] == id+1 {
		return
	}
	c.unset(sl)
	c.pos[sl] = uint32(len(c.posting[id]))
	c.posting[id] = append(c.posting[id], sl)
	c.vals[sl] = id + 1
}

func (c *includeCol) unset(sl uint32) {
	v := c.vals[sl]
	if v == 0 {
		return
	}
	p := c.posting[v-1]
	i, last := c.pos[sl], p[len(p)-1]
	p[i], c.pos[last] = last, i
	p = p[:len(p)-1]
	if len(p) == 0 {
		// No row holds the value any more: its id is reused (a query under way that allowed
		// it may then see rows of another value as candidates, which Postgres filters out).
		p = nil
		c.dict.release(v - 1)
	}
	c.posting[v-1] = p
	c.vals[sl] = 0
}

func (inc *includes) upsert(key ann.Key, old *ann.Key, row []replication.Datum) error {
	if inc == nil {
		return nil
	}
	inc.mu.Lock()
	defer inc.mu.Unlock()
	return inc.upsertLocked(key, old, row)
}

func (inc *includes) remove(keys ...ann.Key) {
	if inc == nil {
		return
	}
	inc.mu.Lock()
	defer inc.mu.Unlock()
	for _, k := range keys {
		inc.release(k)
	}
}

func (inc *includes) column(name string) *includeCol {
	if inc == nil {
		return nil
	}
	for _, c := range inc.cols {
		if c.name == name {
			return c
		}
	}
	return nil
}

// IncludeType returns the type family (FamilyInt, …) of an INCLUDE column the index can filter
// on, or "" when it does not keep that column.
func (ix *Index) IncludeType(column string) string {
	if ix.inc == nil {
		return ""
	}
	ix.inc.mu.RLock()
	defer ix.inc.mu.RUnlock()
	c := ix.inc.column(column)
	if c == nil || c.broken || c.family == "" {
		return ""
	}
	return c.family
}

// Select finds the rows whose INCLUDE columns hold one of the allowed canonical values
// (column → values; every column must match). match tests a key (safe for concurrent use; it
// reflects later changes). count is the number of matching rows, exact when countExact; keys
// lists them when there are at most limit (then count is exact too). ok is false when a column
// is not one the index can filter on.
func (ix *Index) Select(allowed map[string][]string, limit int) (match func(ann.Key) bool, keys []ann.Key, count int, countExact, ok bool) {
	inc := ix.inc
	if inc == nil || len(allowed) == 0 {
		return nil, nil, 0, false, false
	}
	type cond struct {
		c   *includeCol
		ids []uint32 // allowed value ids + 1 (as includeCol.vals holds them)
	}
	inc.mu.RLock()
	defer inc.mu.RUnlock()
	conds := make([]cond, 0, len(allowed))
	smallest, smallestN := -1, 0
	for name, vals := range allowed {
		c := inc.column(name)
		if c == nil || c.broken || c.family == "" {
			return nil, nil, 0, false, false
		}
		cd := cond{c: c}
		n := 0
		for _, v := range vals {
			id, ok := c.dict.ids[v]
			if !ok || slices.Contains(cd.ids, id+1) {
				continue
			}
			cd.ids = append(cd.ids, id+1)
			n += len(c.posting[id])
		}
		if smallest < 0 || n < smallestN {
			smallest, smallestN = len(conds), n
		}
		conds = append(conds, cd)
	}
	passes := func(sl uint32) bool {
		for _, cd := range conds {
			if !slices.Contains(cd.ids, cd.c.vals[sl]) {
				return false
			}
		}
		return true
	}
	match = func(k ann.Key) bool {
		inc.mu.RLock()
		defer inc.mu.RUnlock()
		sl, ok := inc.rows.ids[k]
		return ok && passes(sl)
	}
	count, countExact = smallestN, len(conds) == 1
	if smallestN <= limit {
		keys = make([]ann.Key, 0, smallestN)
		s := conds[smallest]
		for _, id := range s.ids {
			for _, sl := range s.c.posting[id-1] {
				if len(conds) == 1 || passes(sl) {
					keys = append(keys, inc.rows.vals[sl])
				}
			}
		}
		count, countExact = len(keys), true
	}
	return match, keys, count, countExact, true
}

// SearchKeys returns the k nearest of keys by exact distance over the vectors the index holds
// (see hnsw.Index.SearchKeys; truncated ones for a dims index, like Search); an index that keeps
// only codes, or an IVF, returns an error wrapping ann.ErrUnsupported.
func (ix *Index) SearchKeys(ctx context.Context, q []float32, k int, keys []ann.Key) ([]ann.Result, error) {
	s, ok := ix.index.(interface {
		SearchKeys(context.Context, []float32, int, []ann.Key) ([]ann.Result, error)
	})
	if !ok {
		return nil, fmt.Errorf("live: %s cannot search a key list: %w", ix.Source, ann.ErrUnsupported)
	}
	q, err := ix.transform(q)
	if err != nil {
		return nil, err
	}
	res, err := s.SearchKeys(ctx, q, k, keys)
	if ix.Metric == ann.Hamming {
		hammingDistances(res) // bits.go
	}
	return res, err
}

// IncludeRows is the number of rows whose INCLUDE values are kept (for tests and status).
func (ix *Index) IncludeRows() int {
	if ix.inc == nil {
		return 0
	}
	ix.inc.mu.RLock()
	defer ix.inc.mu.RUnlock()
	return len(ix.inc.rows.ids)
}

// include applies a row's INCLUDE values (moving them from old when the key changed). A value
// that cannot be read turns filtering on that column off (logged once); the row is still indexed.
func (s *Set) include(e *entry, key ann.Key, old *ann.Key, r replication.Row) {
	if err := e.inc.upsert(key, old, r.Include); err != nil {
		s.log.Warn("live: include column no longer used for filtering", "target", e.info.Target.String(), "err", err)
	}
}

// frozenIncludes is an entry's INCLUDE and held values as they were at a snapshot's freeze
// (freezeIncludes), written later (write) while the store changes: what is copied is a few words
// per row — each row's key, each filtered column's value id, each row's held values (a string
// never changed once made) — and each column's values by id (strings too).
type frozenIncludes struct {
	none   bool // the entry has no store
	info   replication.TargetInfo
	keys   []ann.Key // slot → key
	live   []bool    // slot → in use
	cols   []frozenCol
	held   []string // the held columns' names
	values [][]byte // slot → held values (nil: not held)
}

type frozenCol struct {
	broken bool
	vals   []uint32 // slot → value id + 1; 0: NULL
	dict   []string // value id → canonical value
}

// freezeIncludes takes e's INCLUDE and held values for a snapshot. Caller holds the Set's lock.
func freezeIncludes(e *entry) *frozenIncludes {
	f := &frozenIncludes{info: e.info, none: e.inc == nil}
	if e.inc == nil {
		return f
	}
	inc := e.inc
	inc.mu.RLock()
	defer inc.mu.RUnlock()
	f.keys = slices.Clone(inc.rows.vals)
	f.live = make([]bool, len(f.keys))
	for _, sl := range inc.rows.ids {
		f.live[sl] = true
	}
	for _, c := range inc.cols {
		fc := frozenCol{broken: c.broken}
		if !c.broken {
			fc.vals, fc.dict = slices.Clone(c.vals), slices.Clone(c.dict.vals)
		}
		f.cols = append(f.cols, fc)
	}
	for _, c := range inc.held.cols {
		f.held = append(f.held, c.name)
	}
	if len(f.held) > 0 {
		f.values = slices.Clone(inc.held.rows)
	}
	return f
}

func (f *frozenIncludes) isLive(sl int) bool { return sl < len(f.live) && f.live[sl] }

// write appends the frozen values to a snapshot: the columns (name, type, whether only held),
// then per filtered column whether it is usable and, if so, each value with its keys, then the
// held columns' names and each held row's key and values.
func (f *frozenIncludes) write(w *fileformat.Encoder) {
	if f.none {
		w.U64(0)
		return
	}
	w.U64(uint64(len(f.info.Include)))
	for i, n := range f.info.Include {
		w.String(n)
		typ := ""
		if i < len(f.info.IncludeTypes) {
			typ = f.info.IncludeTypes[i]
		}
		w.String(typ)
		w.Bool(i < len(f.info.CoverOnly) && f.info.CoverOnly[i])
		w.Bool(i < len(f.info.Nondeterministic) && f.info.Nondeterministic[i])
	}
	w.U64(uint64(len(f.info.Columns)))
	for _, c := range f.info.Columns {
		w.String(c)
	}
	for _, c := range f.cols {
		w.Bool(c.broken)
		if c.broken {
			continue
		}
		posting := make([][]uint32, len(c.dict))
		values := 0
		for sl, v := range c.vals {
			if v != 0 && f.isLive(sl) {
				if len(posting[v-1]) == 0 {
					values++
				}
				posting[v-1] = append(posting[v-1], uint32(sl))
			}
		}
		w.U64(uint64(values))
		for id, p := range posting {
			if len(p) == 0 {
				continue
			}
			w.String(c.dict[id])
			w.U64(uint64(len(p)))
			for _, sl := range p {
				w.Binary(f.keys[sl])
			}
		}
	}
	w.U64(uint64(len(f.held)))
	for _, n := range f.held {
		w.String(n)
	}
	if len(f.held) == 0 {
		return
	}
	n := 0
	for sl, v := range f.values {
		if v != nil && f.isLive(sl) {
			n++
		}
	}
	w.U64(uint64(n))
	for sl, v := range f.values {
		if v != nil && f.isLive(sl) {
			w.Binary(f.keys[sl])
			w.Bytes(v)
		}
	}
}

// readIncludes reads what frozenIncludes.write wrote into e (whose info it completes) and gives its
// indexes access to the values. Decode errors stay in d.
func readIncludes(d *fileformat.Decoder, e *entry, cover Cover) {
	n := d.Uint(1600)
	if d.Err() != nil || n == 0 {
		return
	}
	var coverOnly, nondet []bool
	for range n {
		e.info.Include = append(e.info.Include, d.String())
		e.info.IncludeTypes = append(e.info.IncludeTypes, d.String())
		coverOnly = append(coverOnly, d.Bool())
		nondet = append(nondet, d.Bool())
	}
	if slices.Contains(coverOnly, true) {
		e.info.CoverOnly = coverOnly
	}
	if slices.Contains(nondet, true) {
		e.info.Nondeterministic = nondet
	}
	for range d.Uint(1600) {
		e.info.Columns = append(e.info.Columns, d.String())
	}
	if d.Err() != nil {
		return
	}
	attachIncludes(e, cover)
	for _, c := range e.inc.cols {
		if c.broken = d.Bool(); c.broken {
			continue
		}
		values := d.Uint(1 << 32)
		for i := uint64(0); i < values && d.Err() == nil; i++ {
			id := c.id(d.String())
			keys := d.Uint(1 << 32)
			for j := uint64(0); j < keys && d.Err() == nil; j++ {
				var k ann.Key
				d.Binary(&k)
				if d.Err() == nil {
					c.set(e.inc.slot(k), id)
				}
			}
		}
	}
	readHeld(d, e)
}
