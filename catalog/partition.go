package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Leaf is a leaf partition of a partitioned table: an ordinary table (or a foreign one, which
// nothing replicates) holding some of its parent's rows.
type Leaf struct {
	OID          uint32
	Schema, Name string
}

// discoverLeaves fills the Leaves of every partitioned table among tables: pg_partition_tree's
// leaves, through every level of sub-partitioning, ordered by OID.
func discoverLeaves(ctx context.Context, q Querier, tables []*Table) error {
	byOID := map[uint32]*Table{}
	var parents []uint32
	for _, t := range tables {
		if t.Partitioned {
			byOID[t.OID] = t
			parents = append(parents, t.OID)
		}
	}
	if len(parents) == 0 {
		return nil
	}
	rows, err := q.Query(ctx, `
		SELECT p.oid, c.oid, n.nspname, c.relname
		FROM unnest($1::oid[]) p(oid)
		CROSS JOIN LATERAL pg_partition_tree(p.oid) tr
		JOIN pg_class c ON c.oid = tr.relid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE tr.isleaf
		ORDER BY p.oid, c.oid`, parents)
	if err != nil {
		return fmt.Errorf("catalog: list partitions: %w", err)
	}
	var (
		parent uint32
		l      Leaf
	)
	_, err = pgx.ForEachRow(rows, []any{&parent, &l.OID, &l.Schema, &l.Name}, func() error {
		if t := byOID[parent]; t != nil {
			t.Leaves = append(t.Leaves, l)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: list partitions: %w", err)
	}
	return nil
}
