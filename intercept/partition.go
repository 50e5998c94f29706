package intercept

import (
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/planner"
)

// findParent is the target of a statement on a partitioned table: its leaves' twins searched as
// one (live.Parent), the rewrite run on the parent. Its session check is the parent's (its
// privileges and row-level security are what Postgres applies through it) and requires its leaves
// to be those searched (planner.Target.Leaves).
func (s searcher) findParent(schema, table, column string, m ann.Metric) (planner.Target, bool) {
	p, _, err := s.set.LookupParent(schema, table, column, m)
	if err != nil {
		return planner.Target{}, false
	}
	return planner.Target{Index: p, Schema: p.Schema, Table: p.Table, RelOID: p.RelOID, DatabaseOID: s.dbOID,
		Key: p.Key, KeyType: p.KeyType, KeyColumns: p.KeyColumns, KeyTypes: p.KeyTypes, Name: p.Name(),
		Exact: p.Exact(), Oversample: p.Oversample(), Kind: p.Kind(), Lists: p.Lists(), Probes: p.Probes(), Halfvec: p.Halfvec(), Leaves: p.Leaves, LeafBounds: p.Bounds}, true
}
