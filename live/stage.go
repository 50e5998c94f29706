package live

import (
	"slices"

	"github.com/vecgate/vecgate/replication"
)

// One table's twins changed alone (replication.TableLoader): Stage builds them apart, in a Set of
// their own that queries never see, and Publish moves its entries into this Set under mu; Narrow
// retires the twins of dropped indexes. Twins die in one place, Index.retire (a replaced entry's,
// a retired target's, a narrowed index's, a discarded stage's).

var _ replication.TableLoader = (*Set)(nil)

// staged is one table's twins loaded apart. Only one goroutine at a time writes it
// (replication.Staged): no lock of the Set's is taken until Publish.
type staged struct {
	parent  *Set
	child   *Set
	targets []replication.TargetInfo
}

// Stage implements replication.TableLoader: empty twins for targets, built from the definitions
// held now, that queries do not see until Publish.
func (s *Set) Stage(targets []replication.TargetInfo) (replication.Staged, error) {
	opts := s.opts
	opts.MaxMemory = 0 // the budget is the Set's, checked at its Commits once published
	child := NewWith(s.log, opts)
	child.SetDefinitions(s.Definitions())
	child.noRetrain.Store(true) // retrains belong to the Set the twins end in
	if err := child.Reset(targets); err != nil {
		return nil, err
	}
	st := &staged{parent: s, child: child, targets: slices.Clone(targets)}
	s.setLoading(st, true)
	return st, nil
}

// setLoading records (or forgets) st's tables as loading.
func (s *Set) setLoading(st *staged, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range st.targets {
		tbl := [2]string{t.Schema, t.Table}
		if on {
			if s.loading == nil {
				s.loading = map[[2]string]int{}
			}
			s.loading[tbl]++
		} else if s.loading[tbl]--; s.loading[tbl] <= 0 {
			delete(s.loading, tbl)
		}
	}
}

// Loading reports whether schema.table (an empty schema means public) has twins being loaded
// alone (Stage, until Publish or Discard): its statements that no twin answers yet wait for them,
// not for an index.
func (s *Set) Loading(schema, table string) bool {
	if schema == "" {
		schema = "public"
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.loading[[2]string{schema, table}] > 0 {
		return true
	}
	// A partitioned table: one of its leaves is loading (partition.go).
	for _, l := range s.parents[[2]string{schema, table}].leaves {
		if s.loading[[2]string{l.Schema, l.Name}] > 0 {
			return true
		}
	}
	return false
}

func (st *staged) Upsert(t replication.Target, r replication.Row) error { return st.child.Upsert(t, r) }
func (st *staged) Delete(t replication.Target, k replication.Key) error { return st.child.Delete(t, k) }
func (st *staged) Truncate(t replication.Target) error                  { return st.child.Truncate(t) }

// Publish implements replication.Staged: the staged twins take in their pending rows (a bulk
// load ends as at a Commit) and replace the targets' twins in the parent Set.
func (st *staged) Publish() error {
	if err := st.child.Commit(0); err != nil {
		return err
	}
	st.parent.rejected.Add(st.child.rejected.Load())
	st.child.mu.Lock()
	fresh := st.child.entries
	st.child.entries = map[replication.Target]*entry{}
	st.child.mu.Unlock()
	var old []*entry
	st.parent.mu.Lock()
	for _, t := range st.targets {
		if e := st.parent.entries[t.Target]; e != nil {
			old = append(old, e)
		}
		if e := fresh[t.Target]; e != nil {
			st.parent.entries[t.Target] = e
		} else {
			delete(st.parent.entries, t.Target)
		}
	}
	st.parent.mu.Unlock()
	st.parent.setLoading(st, false)
	for _, e := range old {
		for _, ix := range e.indexes {
			ix.retire()
		}
	}
	for t, e := range fresh {
		for _, ix := range e.indexes {
			st.parent.log.Info("live: index loaded alone", "target", t.String(), "metric", ix.Metric.String(), "mirrors", ix.Source, "rows", ix.Len())
		}
	}
	return nil
}

// Empty implements replication.Staged.
func (st *staged) Empty() bool { return len(st.child.Indexes()) == 0 }

// Discard implements replication.Staged.
func (st *staged) Discard() {
	st.child.replaceEntries(map[replication.Target]*entry{})
	st.parent.setLoading(st, false)
}

// Narrow implements replication.TableLoader: each target keeps the twins of the indexes its info
// still lists (and of the definitions held), and the others are retired.
func (s *Set) Narrow(targets []replication.TargetInfo) {
	defs := s.Definitions()
	var gone []*Index
	s.mu.Lock()
	for _, t := range targets {
		e := s.entries[t.Target]
		if e == nil {
			continue
		}
		want, err := newEntry(t, defs, s.opts)
		var keep []*Index
		for _, ix := range e.indexes {
			if err == nil && slices.ContainsFunc(want.indexes, func(w *Index) bool { return w.Source == ix.Source && w.Metric == ix.Metric }) {
				keep = append(keep, ix)
			} else {
				gone = append(gone, ix)
			}
		}
		if len(keep) == 0 {
			delete(s.entries, t.Target)
			continue
		}
		ne := *e
		ne.info, ne.indexes = t, keep
		if ne.inc != nil && !slices.Contains(keep, ne.inc.owner.Load()) {
			ne.inc.owner.Store(keep[0]) // its memory was counted with a retired index
		}
		s.entries[t.Target] = &ne
	}
	s.mu.Unlock()
	for _, ix := range gone {
		s.log.Info("live: index retired: dropped upstream", "table", ix.Schema+"."+ix.Table, "column", ix.Column, "mirrors", ix.Source)
		ix.retire()
	}
}
