package planner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/canon"
	"github.com/vecgate/vecgate/internal/pgout"
)

// Held filters: a WHERE made only of column-equality conjuncts (`col = v`, `col IN (…)`, ANDed)
// on columns a covering twin holds and compares bytewise is evaluated by vecgate itself, row by
// row on the held values, so the statement can be answered from memory: the search keeps the
// rows that pass, and the answer is complete when it has LIMIT + OFFSET of them or the search
// scanned every row.

// heldFilter is such a WHERE, its values in canonical form.
type heldFilter struct {
	src     heldSource
	pos     []int      // held column positions, one per conjunct
	keys    []string   // the jsonb member a conjunct tests (`col->>'key'`), "" for the column
	fams    []string   // their canonical families
	allowed [][]string // the values each conjunct allows (none: no row passes)
	columns []string   // the columns tested, for the session check's privileges
}

// canonFamily is the canonical family a held column's values are compared in ("": not compared:
// bpchar ignores trailing blanks, floats and numerics compare by value, json not at all).
func canonFamily(f pgout.Family) string {
	switch f {
	case pgout.Int2, pgout.Int4, pgout.Int8:
		return canon.Int
	case pgout.Text:
		return canon.Text
	case pgout.UUID:
		return canon.UUID
	case pgout.Bool:
		return canon.Bool
	}
	return ""
}

// buildHeldFilter returns sh's WHERE as a held filter, or nil when vecgate cannot evaluate it
// exactly over idx's held values. value gives each Arg's value (literal or parameter).
func buildHeldFilter(sh *Shape, idx Index, value func(Arg) (filterValue, bool)) *heldFilter {
	src, ok := idx.(heldSource)
	if !ok || !sh.HasWhere || !sh.FiltersExact || len(sh.Filters) == 0 {
		return nil
	}
	h := &heldFilter{src: src}
	for _, c := range sh.Filters {
		hc, ok := src.HeldColumn(c.Column)
		pos, f, compared := hc.Pos, hc.Family, hc.Compared
		fam := canonFamily(f)
		if c.Key != "" && f == pgout.JSONB {
			fam, compared = canon.Text, true // `->>` gives text, compared bytewise
		} else if c.Key != "" {
			return nil
		}
		if !ok || !compared || fam == "" {
			return nil
		}
		vals := []string{}
		for _, a := range c.Values {
			fv, present := value(a)
			if !present || a.IsParam() && fv.oid == 0 && sh.paramUses[a.Param] > 1 {
				return nil // see buildFilter
			}
			if fv.null {
				continue // `col = NULL` is never true
			}
			v, ok := canonical(fam, fv)
			if !ok {
				return nil
			}
			vals = append(vals, v)
		}
		h.pos, h.keys, h.fams, h.allowed = append(h.pos, pos), append(h.keys, c.Key), append(h.fams, fam), append(h.allowed, vals)
		if !slices.Contains(h.columns, c.Column) {
			h.columns = append(h.columns, c.Column)
		}
	}
	return h
}

// matcher returns the row test for one search, and a flag it raises when it met a row it could
// not decide (values not held, or unreadable): the search's answer then proves nothing.
func (h *heldFilter) matcher() (func(ann.Key) bool, *atomic.Bool) {
	var undecided atomic.Bool
	return func(k ann.Key) bool {
		vals, ok := h.src.HeldValues(k, h.pos)
		if !ok {
			undecided.Store(true)
			return false
		}
		for i, v := range vals {
			if v.Null {
				return false
			}
			if h.keys[i] != "" {
				doc := v.V
				if !v.Text {
					if len(doc) == 0 || doc[0] != 1 {
						undecided.Store(true)
						return false
					}
					doc = doc[1:]
				}
				m, present, complex, ok := jsonMember(doc, h.keys[i])
				if !ok || complex {
					undecided.Store(true)
					return false
				}
				if !present || !slices.Contains(h.allowed[i], m) {
					return false
				}
				continue
			}
			c, ok := canon.Value(h.fams[i], v.V, v.Text)
			if !ok {
				undecided.Store(true)
				return false
			}
			if !slices.Contains(h.allowed[i], c) {
				return false
			}
		}
		return true
	}, &undecided
}

// errUndecided: a held filter met a row it could not evaluate.
var errUndecided = errors.New("planner: a row's held values could not be tested")

// HeldScanRows: a table of at most this many rows is scanned whole for a held filter (exact, and
// a few milliseconds at most); a larger one is searched through the graph first.
const HeldScanRows = 20000

// searchHeld finds the n nearest rows that pass the held filter: a graph search, and when it
// returns fewer, or the table is small, a scan of every row (a search whose ef reaches the row
// count scans), whose answer is exact and complete (seenAll). (Filtered walks of an
// inner-product graph missed rows in the differential tester.)
func (q *Query) searchHeld(ctx context.Context, n int) (res []ann.Result, seenAll bool, err error) {
	if q.Target.Lists > 0 {
		return nil, false, fmt.Errorf("planner: %s: held filters are evaluated over graph twins only", q.Target.Name)
	}
	efs := []int{q.ef(n), q.Target.Index.Len() + 1}
	if q.Target.Index.Len() <= HeldScanRows {
		efs = efs[1:]
	}
	for _, ef := range efs {
		match, undecided := q.held.matcher()
		res, err = q.Target.Index.Search(ctx, q.vec, n, ann.SearchOptions{EF: ef, Filter: match})
		if errors.Is(err, ann.ErrEmpty) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("planner: search %s: %w", q.Target.Name, err)
		}
		if undecided.Load() {
			return nil, false, errUndecided
		}
		if len(res) >= n {
			return res, false, nil
		}
		seenAll = ef > q.Target.Index.Len()
	}
	return res, seenAll, nil
}
