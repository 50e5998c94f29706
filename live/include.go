package live

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/vecgate/vecgate/ann"
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
	FamilyInt  = "int"
	FamilyText = "text"
	FamilyUUID = "uuid"
	FamilyBool = "bool"
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

// IncludeColumns maps definitions to the columns replication must carry:
// "schema.table" → columns (for replication.Config.Include and Stream.SetInclude).
func IncludeColumns(defs []Definition) map[string][]string {
	out := map[string][]string{}
	for _, d := range defs {
		t := d.Schema + "." + d.Table
		for _, c := range d.Include {
			if !containsString(out[t], c) {
				out[t] = append(out[t], c)
			}
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// includes holds the INCLUDE column values of one entry's rows; the entry's indexes share it.
//
// Concurrency: replication writes (one goroutine), queries read; mu guards everything below it.
// mu is never held while calling into an ann index, and a filter that takes it shared may run
// inside an index search.
type includes struct {
	mu   sync.RWMutex
	cols []*includeCol
}

type includeCol struct {
	name, family string
	broken       bool                   // a value could not be read: the column is not used for filtering
	ids          map[string]uint32      // canonical value → value id (ids are never reused)
	posting      []map[ann.Key]struct{} // by value id: the keys holding it
	byKey        map[ann.Key]uint32     // key → value id; absent: NULL
}

// newIncludes returns the store for a target's INCLUDE columns, nil when it has none.
func newIncludes(t replication.TargetInfo) *includes {
	if len(t.Include) == 0 {
		return nil
	}
	inc := &includes{}
	for i, n := range t.Include {
		c := &includeCol{name: n, ids: map[string]uint32{}, byKey: map[ann.Key]uint32{}}
		if i < len(t.IncludeTypes) {
			c.family = IncludeFamily(t.IncludeTypes[i])
		}
		c.broken = c.family == "" // a type vecgate cannot compare: kept out of filtering
		inc.cols = append(inc.cols, c)
	}
	return inc
}

// attachIncludes gives a new entry its INCLUDE store and its indexes access to it.
func attachIncludes(e *entry) {
	e.inc = newIncludes(e.info)
	for _, ix := range e.indexes {
		ix.inc = e.inc
	}
}

// canonicalDatum puts a replicated value in the family's canonical form.
func canonicalDatum(family string, d replication.Datum) (string, error) {
	v := d.Value
	if d.Text {
		s := string(v)
		switch family {
		case FamilyInt:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return "", fmt.Errorf("integer %q", s)
			}
			return strconv.FormatInt(n, 10), nil
		case FamilyUUID:
			b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
			if err != nil || len(b) != 16 {
				return "", fmt.Errorf("uuid %q", s)
			}
			return string(b), nil
		case FamilyBool:
			if s != "t" && s != "f" {
				return "", fmt.Errorf("boolean %q", s)
			}
			return s, nil
		case FamilyText:
			return s, nil
		}
		return "", fmt.Errorf("type family %q", family)
	}
	switch family {
	case FamilyInt:
		switch len(v) {
		case 2:
			return strconv.FormatInt(int64(int16(binary.BigEndian.Uint16(v))), 10), nil
		case 4:
			return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(v))), 10), nil
		case 8:
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10), nil
		}
		return "", fmt.Errorf("integer of %d bytes", len(v))
	case FamilyUUID:
		if len(v) != 16 {
			return "", fmt.Errorf("uuid of %d bytes", len(v))
		}
		return string(v), nil
	case FamilyBool:
		if len(v) != 1 {
			return "", fmt.Errorf("boolean of %d bytes", len(v))
		}
		if v[0] != 0 {
			return "t", nil
		}
		return "f", nil
	case FamilyText:
		return string(v), nil
	}
	return "", fmt.Errorf("type family %q", family)
}

// upsert sets key's values from a replicated row; when old is not nil the row moved from *old,
// whose values stand in for unchanged (TOASTed) ones. Caller holds mu.
func (inc *includes) upsertLocked(key ann.Key, old *ann.Key, row []replication.Datum) error {
	var errs []error
	for i, c := range inc.cols {
		if c.broken {
			continue
		}
		from := key
		if old != nil {
			from = *old
		}
		prev, had := c.byKey[from]
		if old != nil {
			c.unset(*old)
		}
		var d replication.Datum
		if i < len(row) {
			d = row[i]
		} else {
			d.Null = true
		}
		switch {
		case d.Unchanged:
			if had {
				c.set(key, prev)
			} else {
				c.unset(key)
			}
		case d.Null:
			c.unset(key)
		default:
			v, err := canonicalDatum(c.family, d)
			if err != nil {
				c.broken = true // never filter on a column whose values are not all known
				errs = append(errs, fmt.Errorf("include column %s: %w", c.name, err))
				c.unset(key)
				continue
			}
			c.set(key, c.id(v))
		}
	}
	return errors.Join(errs...)
}

func (c *includeCol) id(v string) uint32 {
	id, ok := c.ids[v]
	if !ok {
		id = uint32(len(c.posting))
		c.ids[v] = id
		c.posting = append(c.posting, nil)
	}
	return id
}

func (c *includeCol) set(key ann.Key, id uint32) {
	if prev, ok := c.byKey[key]; ok {
		if prev == id {
			return
		}
		delete(c.posting[prev], key)
	}
	c.byKey[key] = id
	if c.posting[id] == nil {
		c.posting[id] = map[ann.Key]struct{}{}
	}
	c.posting[id][key] = struct{}{}
}

func (c *includeCol) unset(key ann.Key) {
	prev, ok := c.byKey[key]
	if !ok {
		return
	}
	delete(c.byKey, key)
	delete(c.posting[prev], key)
	if len(c.posting[prev]) == 0 {
		c.posting[prev] = nil // the id stays: ids are never reused
	}
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
	for _, c := range inc.cols {
		for _, k := range keys {
			c.unset(k)
		}
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
		ids []uint32
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
			id, ok := c.ids[v]
			if !ok || containsID(cd.ids, id) {
				continue
			}
			cd.ids = append(cd.ids, id)
			n += len(c.posting[id])
		}
		if smallest < 0 || n < smallestN {
			smallest, smallestN = len(conds), n
		}
		conds = append(conds, cd)
	}
	matchLocked := func(k ann.Key) bool {
		for _, cd := range conds {
			id, ok := cd.c.byKey[k]
			if !ok || !containsID(cd.ids, id) {
				return false
			}
		}
		return true
	}
	match = func(k ann.Key) bool {
		inc.mu.RLock()
		defer inc.mu.RUnlock()
		return matchLocked(k)
	}
	count, countExact = smallestN, len(conds) == 1
	if smallestN <= limit {
		keys = make([]ann.Key, 0, smallestN)
		s := conds[smallest]
		for _, id := range s.ids {
			for k := range s.c.posting[id] {
				if len(conds) == 1 || matchLocked(k) {
					keys = append(keys, k)
				}
			}
		}
		count, countExact = len(keys), true
	}
	return match, keys, count, countExact, true
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// SearchKeys returns the k nearest of keys by exact distance (see hnsw.Index.SearchKeys); an
// index that keeps only codes returns an error wrapping ann.ErrUnsupported.
func (ix *Index) SearchKeys(ctx context.Context, q []float32, k int, keys []ann.Key) ([]ann.Result, error) {
	s, ok := ix.index.(interface {
		SearchKeys(context.Context, []float32, int, []ann.Key) ([]ann.Result, error)
	})
	if !ok {
		return nil, fmt.Errorf("live: %s cannot search a key list: %w", ix.Source, ann.ErrUnsupported)
	}
	return s.SearchKeys(ctx, q, k, keys)
}

// IncludeRows is the number of rows whose INCLUDE values are kept (for tests and status).
func (ix *Index) IncludeRows() int {
	if ix.inc == nil {
		return 0
	}
	ix.inc.mu.RLock()
	defer ix.inc.mu.RUnlock()
	n := 0
	for _, c := range ix.inc.cols {
		n = max(n, len(c.byKey))
	}
	return n
}

// include applies a row's INCLUDE values (moving them from old when the key changed). A value
// that cannot be read turns filtering on that column off (logged once); the row is still indexed.
func (s *Set) include(e *entry, key ann.Key, old *ann.Key, r replication.Row) {
	if err := e.inc.upsert(key, old, r.Include); err != nil {
		s.log.Warn("live: include column no longer used for filtering", "target", e.info.Target.String(), "err", err)
	}
}

// writeIncludes appends an entry's INCLUDE values to a snapshot: the columns (name, type), then
// per column whether it is usable and, if so, each value with its keys. Caller holds the Set's lock.
func writeIncludes(w *bufio.Writer, e *entry) error {
	if e.inc == nil {
		putUint(w, 0)
		return nil
	}
	e.inc.mu.RLock()
	defer e.inc.mu.RUnlock()
	putUint(w, uint64(len(e.inc.cols)))
	for i, c := range e.inc.cols {
		putString(w, c.name)
		typ := ""
		if i < len(e.info.IncludeTypes) {
			typ = e.info.IncludeTypes[i]
		}
		putString(w, typ)
	}
	var kb []byte
	for _, c := range e.inc.cols {
		if c.broken {
			putUint(w, 1)
			continue
		}
		putUint(w, 0)
		values := 0
		for _, p := range c.posting {
			if len(p) > 0 {
				values++
			}
		}
		putUint(w, uint64(values))
		for v, id := range c.ids {
			p := c.posting[id]
			if len(p) == 0 {
				continue
			}
			putBytes(w, []byte(v))
			putUint(w, uint64(len(p)))
			for k := range p {
				var err error
				if kb, err = k.AppendBinary(kb[:0]); err != nil {
					return err
				}
				putBytes(w, kb)
			}
		}
	}
	return nil
}

// readIncludes reads what writeIncludes wrote into e (whose info it completes) and gives its
// indexes access to the values.
func readIncludes(r *bufio.Reader, e *entry) error {
	n, err := getUint(r, 1600)
	if err != nil || n == 0 {
		return err
	}
	for range n {
		name, err1 := getString(r)
		typ, err2 := getString(r)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		e.info.Include = append(e.info.Include, name)
		e.info.IncludeTypes = append(e.info.IncludeTypes, typ)
	}
	attachIncludes(e)
	for _, c := range e.inc.cols {
		broken, err := getUint(r, 1)
		if err != nil {
			return err
		}
		if broken == 1 {
			c.broken = true
			continue
		}
		values, err := getUint(r, 1<<32)
		if err != nil {
			return err
		}
		for range values {
			v, err := getBytes(r)
			if err != nil {
				return err
			}
			id := c.id(string(v))
			keys, err := getUint(r, 1<<32)
			if err != nil {
				return err
			}
			for range keys {
				kb, err := getBytes(r)
				if err != nil {
					return err
				}
				k, _, err := ann.DecodeKey(kb)
				if err != nil {
					return fmt.Errorf("live: snapshot: %w", err)
				}
				c.set(k, id)
			}
		}
	}
	return nil
}

func putBytes(w *bufio.Writer, b []byte) {
	putUint(w, uint64(len(b)))
	w.Write(b)
}

func getBytes(r *bufio.Reader) ([]byte, error) {
	n, err := getUint(r, 1<<30)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("live: snapshot: %w", err)
	}
	return b, nil
}
