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
	oids := make([]string, len(t.Leaves))
	for i, o := range t.Leaves {
		oids[i] = strconv.FormatUint(uint64(o), 10)
	}
	return fmt.Sprintf(`c.relkind OPERATOR(pg_catalog.=) 'p'::pg_catalog."char"
    AND ARRAY(SELECT tr.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree(c.oid) tr WHERE tr.isleaf ORDER BY 1) OPERATOR(pg_catalog.=) '{%s}'::pg_catalog.oid[]`,
		strings.Join(oids, ","))
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
	oids := make([]string, len(t.Leaves))
	for i, o := range t.Leaves {
		oids[i] = strconv.FormatUint(uint64(o), 10)
	}
	guard := fmt.Sprintf(`SELECT WHERE (SELECT CASE WHEN vecgate_l.leaves OPERATOR(pg_catalog.=) '{%s}'::pg_catalog.oid[] THEN true
		ELSE (%s OPERATOR(pg_catalog.||) vecgate_l.leaves::pg_catalog.text)::pg_catalog.int4 OPERATOR(pg_catalog.>) 0 END
		FROM (SELECT ARRAY(SELECT tr.relid::pg_catalog.oid FROM pg_catalog.pg_partition_tree('%d'::pg_catalog.oid::pg_catalog.regclass) tr
			WHERE tr.isleaf ORDER BY 1) AS leaves) vecgate_l)`,
		strings.Join(oids, ","), sqltext.QuoteLiteral(LeavesMarker), t.RelOID)
	tree, err := pg.Parse(guard)
	if err != nil {
		return nil, fmt.Errorf("planner: partitions guard: %w", err)
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().WhereClause, nil
}
