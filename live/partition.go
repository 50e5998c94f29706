package live

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/pgout"
	"github.com/vecgate/vecgate/replication"
)

// Partitioned tables. Postgres publishes a partitioned table's rows as its leaf partitions'
// (each an ordinary table with the pgvector index built on it when the index was created on the
// parent), so each leaf has twins of its own. A statement on the parent — what applications
// send — is answered from the leaves' twins: each leaf's twin is searched and their candidates
// merged by distance, as one index over the parent would rank them, and the rewrite runs on the
// parent (Postgres applies the parent's privileges and row-level security). The candidate keys
// name rows of the parent only when the key is unique across the parent, which it is for the
// parent's own primary key (or replica identity index): Postgres requires it to include the
// partition key. So a parent is searched only when it has such a key and every leaf's twins
// are keyed by the same columns.

// parentInfo is what the set knows of a partitioned table (SetParents).
type parentInfo struct {
	oid     uint32
	key     keyFields
	keyErr  error // the parent has no key twins can answer in
	leaves  []catalog.Leaf
	partKey *catalog.PartKey
}

// SetParents implements replication.ParentFollower: the partitioned tables and their leaves as
// the catalog lists them now.
func (s *Set) SetParents(parents []catalog.Table) {
	m := make(map[[2]string]parentInfo, len(parents))
	for _, t := range parents {
		p := parentInfo{oid: t.OID, leaves: slices.Clone(t.Leaves), partKey: t.PartKey}
		p.key, p.keyErr = keyFieldsOf(t.Key)
		m[[2]string{t.Schema, t.Name}] = p
	}
	s.mu.Lock()
	s.parents = m
	s.mu.Unlock()
}

var _ replication.ParentFollower = (*Set)(nil)

// Parent is a partitioned table's leaves' twins for one column and metric, searched as one index
// over the parent (it implements what the planner needs of an index). It is a view made for one
// statement: the leaves' twins as they were then.
type Parent struct {
	Schema, Table string
	RelOID        uint32 // the partitioned table's OID
	Metric        ann.Metric
	// The parent's key, in Index's terms (Key, KeyType or KeyColumns, KeyTypes).
	Key, KeyType         string
	KeyColumns, KeyTypes []string
	// Leaves are the leaf partitions' OIDs, ascending, and Bounds their partition bounds as
	// Postgres prints them: the session check requires the parent's leaves to be these.
	Leaves []uint32
	Bounds []string
	leaves []*Index
	set    *Set
	// The partition key and each searched leaf's bound, for pruning (Pruned).
	partKey *catalog.PartKey
	of      []catalog.Leaf // parallel to leaves
	pruned  int            // leaves left out by Pruned
}

// LookupParent returns the partitioned table schema.table searched through its leaves' twins of
// column and metric m. It fails, saying why, when the table is not a partitioned one vecgate
// knows (notParent), has no leaves, has no key unique across it, or a leaf has no such twin
// keyed alike (loading: that leaf's twins are being loaded).
func (s *Set) LookupParent(schema, table, column string, m ann.Metric) (p *Parent, loading bool, err error) {
	if schema == "" {
		schema = "public"
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	info, ok := s.parents[[2]string{schema, table}]
	switch {
	case !ok:
		return nil, false, errNotParent
	case info.keyErr != nil:
		return nil, false, fmt.Errorf("partitioned table %s.%s: %w", schema, table, info.keyErr)
	case len(info.leaves) == 0:
		return nil, false, fmt.Errorf("partitioned table %s.%s has no partitions", schema, table)
	}
	p = &Parent{Schema: schema, Table: table, RelOID: info.oid, Metric: m, set: s, partKey: info.partKey}
	pk := &Index{}
	info.key.set(pk)
	p.Key, p.KeyType, p.KeyColumns, p.KeyTypes = pk.Key, pk.KeyType, pk.KeyColumns, pk.KeyTypes
	for _, l := range info.leaves {
		e := s.entries[replication.Target{Schema: l.Schema, Table: l.Name, Column: column}]
		var ix *Index
		if e != nil && e.info.OID == l.OID {
			for _, x := range e.indexes {
				if x.Metric == m {
					ix = x
					break
				}
			}
		}
		if ix == nil {
			return nil, s.loading[[2]string{l.Schema, l.Name}] > 0,
				fmt.Errorf("partition %s.%s of %s.%s has no live index on %s for %s", l.Schema, l.Name, schema, table, column, m)
		}
		if ix.Key != p.Key || ix.KeyType != p.KeyType || !slices.Equal(ix.KeyColumns, p.KeyColumns) || !slices.Equal(ix.KeyTypes, p.KeyTypes) {
			return nil, false, fmt.Errorf("partition %s.%s is keyed otherwise than %s.%s", l.Schema, l.Name, schema, table)
		}
		p.leaves, p.of = append(p.leaves, ix), append(p.of, l)
	}
	byOID := slices.Clone(info.leaves)
	slices.SortFunc(byOID, func(a, b catalog.Leaf) int { return cmp.Compare(a.OID, b.OID) })
	for _, l := range byOID {
		p.Leaves, p.Bounds = append(p.Leaves, l.OID), append(p.Bounds, l.Bound)
	}
	// IVF leaves are searched with the session's probes (the planner's, for a target with
	// lists), and a search of every list is complete: the leaves must then all be IVF twins
	// with the same lists. Graph leaves, or IVF ones alike, or the parent is not searched.
	for _, ix := range p.leaves[1:] {
		if (ix.Lists() > 0 || p.leaves[0].Lists() > 0) && (ix.Lists() != p.leaves[0].Lists() || ix.Probes() != p.leaves[0].Probes()) {
			return nil, false, fmt.Errorf("the partitions of %s.%s have IVF twins of different lists, or IVF and graph twins", schema, table)
		}
	}
	return p, false, nil
}

// PartitionKey names the column a statement's equality filter may prune the leaves by
// (Pruned), and whether its values are integers (else text): the partition key when it is one
// plain integer, text or varchar column (text of a deterministic collation, partitioned by
// list), partitioned by list or range.
func (p *Parent) PartitionKey() (column string, isInt, ok bool) {
	k := p.partKey
	if k == nil || k.Strategy != 'l' && k.Strategy != 'r' {
		return "", false, false
	}
	switch pgout.FamilyOf(k.Type) {
	case pgout.Int2, pgout.Int4, pgout.Int8:
		return k.Column, true, true
	case pgout.Text:
		return k.Column, false, k.Strategy == 'l' && k.Deterministic
	}
	return "", false, false
}

// Pruned returns p searching only the leaves that may hold rows whose partition key equals
// one of values (canonical: an integer's digits, or text), or p itself when none can be left
// out. A leaf is left out only when its bound, read exactly, excludes every value: a default
// partition, a sub-partitioned leaf or a bound not read is searched. The session check still
// names every leaf with its bound (Leaves, Bounds), so a partition whose bound changed since
// makes the statement go to Postgres.
func (p *Parent) Pruned(values []string) *Parent {
	column, isInt, ok := p.PartitionKey()
	if !ok || column == "" || len(values) == 0 {
		return p
	}
	q := *p
	q.leaves, q.of = nil, nil
	for i, ix := range p.leaves {
		if mayHold(p.of[i], values, isInt) {
			q.leaves, q.of = append(q.leaves, ix), append(q.of, p.of[i])
		}
	}
	if len(q.leaves) == 0 || len(q.leaves) == len(p.leaves) {
		return p
	}
	q.pruned = len(p.leaves) - len(q.leaves)
	return &q
}

// mayHold reports whether leaf l may hold a row whose partition key equals one of values.
func mayHold(l catalog.Leaf, values []string, isInt bool) bool {
	b, ok := catalog.ReadBound(l.Bound)
	if !ok || !l.Direct || b.Default {
		return true
	}
	num := func(s string) (int64, bool) {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	for _, v := range values {
		if !isInt {
			if b.IsRange || slices.Contains(b.List, v) {
				return true
			}
			continue
		}
		x, ok := num(v)
		if !ok {
			return true
		}
		if !b.IsRange {
			for _, e := range b.List {
				if n, ok := num(e); !ok || n == x {
					return true
				}
			}
			continue
		}
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if b.From != nil {
			if lo, ok = num(*b.From); !ok {
				return true
			}
		}
		if b.To != nil {
			if hi, ok = num(*b.To); !ok {
				return true
			}
		}
		if x >= lo && (x < hi || b.To == nil) {
			return true
		}
	}
	return false
}

// Lists is the IVF leaves' lists (0: graph leaves).
func (p *Parent) Lists() int { return p.leaves[0].Lists() }

// Probes is the IVF leaves' probes when the session sets none (0: graph leaves).
func (p *Parent) Probes() int { return p.leaves[0].Probes() }

// errNotParent: the table is not a partitioned table the set knows.
var errNotParent = errors.New("not a partitioned table")

// IsNotParent reports whether LookupParent's error says the table is no partitioned table.
func IsNotParent(err error) bool { return errors.Is(err, errNotParent) }

// Search searches every leaf for k rows and merges them by distance (the farthest first with
// opts.Farthest), keeping k: the k nearest of the parent's rows as the leaves' twins find them.
// A leaf with no rows (ann.ErrEmpty) adds none; every leaf empty is ErrEmpty.
func (p *Parent) Search(ctx context.Context, q []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	if !p.current() {
		return nil, fmt.Errorf("live: %w", ErrPartitionsChanged)
	}
	var all []ann.Result
	empty := 0
	for _, ix := range p.leaves {
		res, err := ix.Search(ctx, q, k, opts)
		if errors.Is(err, ann.ErrEmpty) {
			empty++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("live: search partition %s.%s: %w", ix.Schema, ix.Table, err)
		}
		all = append(all, res...)
	}
	if empty == len(p.leaves) {
		return nil, ann.ErrEmpty
	}
	slices.SortStableFunc(all, func(a, b ann.Result) int {
		if opts.Farthest {
			return cmp.Compare(b.Distance, a.Distance)
		}
		return cmp.Compare(a.Distance, b.Distance)
	})
	return all[:min(k, len(all))], nil
}

// ErrPartitionsChanged: the partitioned table's leaves are no longer those of the Parent (the
// catalog changed since the statement was planned, e.g. while it waited for replication).
var ErrPartitionsChanged = errors.New("the partitions changed since the statement was planned")

// current reports whether the table's leaves, as the set knows them now, are still p's: a
// statement planned before a catalog change that it then waited for (read-your-writes, strong
// consistency) must not be answered from the leaves it was planned with.
func (p *Parent) current() bool {
	p.set.mu.RLock()
	defer p.set.mu.RUnlock()
	info, ok := p.set.parents[[2]string{p.Schema, p.Table}]
	if !ok || info.oid != p.RelOID || len(info.leaves) != len(p.Leaves) {
		return false
	}
	for _, l := range info.leaves {
		i, found := slices.BinarySearch(p.Leaves, l.OID)
		if !found || p.Bounds[i] != l.Bound {
			return false
		}
	}
	return true
}

// Dims is the leaves' dimensions (they share the parent's column).
func (p *Parent) Dims() int { return p.leaves[0].Dims() }

// Len is the rows the leaves' twins hold.
func (p *Parent) Len() int {
	n := 0
	for _, ix := range p.leaves {
		n += ix.Len()
	}
	return n
}

// Complete reports whether every leaf's twin holds every row of its leaf.
func (p *Parent) Complete() bool {
	for _, ix := range p.leaves {
		if !ix.Complete() {
			return false
		}
	}
	return true
}

// Exact reports whether every leaf's distances are pgvector's.
func (p *Parent) Exact() bool {
	for _, ix := range p.leaves {
		if !ix.Exact {
			return false
		}
	}
	return true
}

// Oversample is the largest candidates-per-row factor a leaf's definition asks for.
func (p *Parent) Oversample() float64 {
	o := 0.0
	for _, ix := range p.leaves {
		o = max(o, ix.Oversample)
	}
	return o
}

// Halfvec reports whether the column is halfvec.
func (p *Parent) Halfvec() bool { return p.leaves[0].Halfvec() }

// Name names the parent's search for EXPLAIN and logs: its leaves' twins.
func (p *Parent) Name() string {
	names := make([]string, len(p.leaves))
	for i, ix := range p.leaves {
		names[i] = ix.Source
	}
	if p.pruned > 0 {
		return fmt.Sprintf("partitions of %s (%s; %d pruned)", p.Table, strings.Join(names, ", "), p.pruned)
	}
	return "partitions of " + p.Table + " (" + strings.Join(names, ", ") + ")"
}

// Kind names the leaves' structures: one kind, or "mixed".
func (p *Parent) Kind() string {
	k := p.leaves[0].Kind()
	for _, ix := range p.leaves[1:] {
		if ix.Kind() != k {
			return "partitions: mixed"
		}
	}
	return "partitions: " + k
}

// Answers from memory. A row's held values and vector are its leaf's; the key, unique across the
// parent, is in one leaf only. A column is held for the parent when every leaf holds it alike
// (the same position, type and family: partitions attached with their columns in another order
// hold them elsewhere), and the parent's columns (`*`) are its leaves' when all agree; the
// session check compares them with the parent's own.

// HeldColumn implements the planner's heldSource.
func (p *Parent) HeldColumn(name string) (pgout.Column, bool) {
	c, ok := p.leaves[0].HeldColumn(name)
	if !ok {
		return pgout.Column{}, false
	}
	for _, ix := range p.leaves[1:] {
		if d, ok := ix.HeldColumn(name); !ok || d != c {
			return pgout.Column{}, false
		}
	}
	return c, true
}

// TableColumns is the leaves' columns when every leaf has the same (nil otherwise).
func (p *Parent) TableColumns() []string {
	cols := p.leaves[0].TableColumns()
	for _, ix := range p.leaves[1:] {
		if !slices.Equal(ix.TableColumns(), cols) {
			return nil
		}
	}
	return cols
}

// HeldValues returns the values of key's row from the leaf that holds it.
func (p *Parent) HeldValues(key ann.Key, pos []int) ([]pgout.Value, bool) {
	for _, ix := range p.leaves {
		if v, ok := ix.HeldValues(key, pos); ok {
			return v, true
		}
	}
	return nil, false
}

// Vector returns key's vector from the leaf that holds it.
func (p *Parent) Vector(key ann.Key) ([]float32, bool) {
	for _, ix := range p.leaves {
		if v, ok := ix.Vector(key); ok {
			return v, true
		}
	}
	return nil, false
}

// Originals reports whether every leaf's vectors are the rows' as Postgres holds them.
func (p *Parent) Originals() bool {
	for _, ix := range p.leaves {
		if !ix.Originals() {
			return false
		}
	}
	return true
}

// PruneTo is Pruned for the planner, which names no live type: the pruned search, its name,
// and whether any leaf was left out.
func (p *Parent) PruneTo(values []string) (any, string, bool) {
	q := p.Pruned(values)
	return q, q.Name(), q != p
}
