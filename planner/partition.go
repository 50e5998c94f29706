package planner

import (
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/vecgate/vecgate/internal/sqltext"
)

// A partitioned table as the statement's table (Target.Leaves): the live set searches its leaf
// partitions' twins and merges their candidates (live.Parent), and the rewrite runs on the table
// as the statement names it, so Postgres applies the partitioned table's privileges and
// row-level security (not the partitions': through the parent they do not apply), prunes the
// partitions itself and finds the candidate keys through each partition's index. The key is
// unique across the table (the partitioned table's own primary key includes the partition key).

// childrenCheck is the table check's condition on the relation's children (c: its pg_class
// row). An ordinary table must have no inheritance children, whose rows the statement would read
// too and no twin holds; a partitioned table must be one and have exactly the leaves whose twins
// are searched, at every level of sub-partitioning (a partition attached or detached since
// vecgate last read the catalog makes the statement forwarded until it has).
func (t Target) childrenCheck() string {
	if len(t.Leaves) == 0 {
		return `NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) c.oid)`
	}
	return fmt.Sprintf(`c.relkind OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
    AND %s OPERATOR(pg_catalog.=) %s`, leavesNow("c.oid"), t.leavesSearched())
}

// leavesNow is the SQL array of rel's leaf partitions, each as its OID and partition bound
// ("16402 FOR VALUES IN (1)"), by OID: what leavesSearched must equal.
func leavesNow(rel string) string {
	return `ARRAY(SELECT tr.relid::pg_catalog.oid::pg_catalog.text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||)
        COALESCE(pg_catalog.pg_get_expr(lc.relpartbound, lc.oid), '')
      FROM pg_catalog.pg_partition_tree(` + rel + `) tr JOIN pg_catalog.pg_class lc ON lc.oid OPERATOR(pg_catalog.=) tr.relid
      WHERE tr.isleaf ORDER BY tr.relid::pg_catalog.oid)`
}

// leavesSearched is the array literal of t's leaves as leavesNow prints them.
func (t Target) leavesSearched() string {
	parts := make([]string, len(t.Leaves))
	for i, o := range t.Leaves {
		b := ""
		if i < len(t.LeafBounds) {
			b = t.LeafBounds[i]
		}
		parts[i] = sqltext.QuoteLiteral(strconv.FormatUint(uint64(o), 10) + " " + b)
	}
	return "ARRAY[" + strings.Join(parts, ", ") + "]::pg_catalog.text[]"
}

// LeavesMarker is in the error a rewrite on a partitioned table fails with when the table's
// leaves are no longer those searched.
const LeavesMarker = "vecgate: not the partitions searched"

// leavesGuard is the rewrite's check, when it runs, that the partitioned table's leaves are
// still those whose twins were searched (nil for an ordinary table). The session check asks the
// same before the statement, but a partition attached since (by another session, seen by
// vecgate only when replication passes it) would leave its rows out of the candidates, and
// Postgres would return the others: the rewrite fails instead, and the original is forwarded.
// An uncorrelated scalar subquery, it runs once per execution; its failing arm depends on the
// leaves found, so the planner cannot fold it.
func (t Target) leavesGuard() (*pg.Node, error) {
	if len(t.Leaves) == 0 {
		return nil, nil
	}
	guard := fmt.Sprintf(`SELECT WHERE (SELECT CASE WHEN vecgate_l.leaves OPERATOR(pg_catalog.=) %s THEN true
		ELSE (%s OPERATOR(pg_catalog.||) vecgate_l.leaves::pg_catalog.text)::pg_catalog.int4 OPERATOR(pg_catalog.>) 0 END
		FROM (SELECT %s AS leaves) vecgate_l)`,
		t.leavesSearched(), sqltext.QuoteLiteral(LeavesMarker), leavesNow(fmt.Sprintf("'%d'::pg_catalog.oid::pg_catalog.regclass", t.RelOID)))
	tree, err := pg.Parse(guard)
	if err != nil {
		return nil, fmt.Errorf("planner: partitions guard: %w", err)
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().WhereClause, nil
}

// partitionPruner is a partitioned table's search (live.Parent) that can leave out the leaves
// whose bounds exclude every value an equality filter on the partition key allows.
type partitionPruner interface {
	PartitionKey() (column string, isInt, ok bool)
	PruneTo(values []string) (any, string, bool)
}

// prunedFor returns t searching only the leaves sh's filter on the partition key may select
// (`key = v`, `key IN (…)`: a conjunct, so every row returned has one of those values), or t.
// The statement's check and guard still name every leaf with its bound.
func (t Target) prunedFor(sh *Shape, filterArg func(Arg) (filterValue, bool)) Target {
	pr, ok := t.Index.(partitionPruner)
	if !ok || filterArg == nil || !sh.HasWhere {
		return t
	}
	column, isInt, ok := pr.PartitionKey()
	if !ok {
		return t
	}
	fam := familyText
	if isInt {
		fam = familyInt
	}
	for _, f := range sh.Filters {
		if f.Column != column || f.Key != "" {
			continue
		}
		var values []string
		for _, a := range f.Values {
			fv, present := sh.certainValue(a, filterArg)
			if !present {
				return t
			}
			if fv.null {
				continue // `key = NULL` selects no row
			}
			v, ok := canonical(fam, fv)
			if !ok {
				return t
			}
			values = append(values, v)
		}
		if len(values) == 0 {
			return t
		}
		ix, name, pruned := pr.PruneTo(values)
		if idx, ok := ix.(Index); ok && pruned {
			t.Index, t.Name = idx, name
		}
		return t
	}
	return t
}
