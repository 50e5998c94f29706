package planner

import (
	"fmt"
	"strconv"
	"strings"
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
