package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Leaf is a leaf partition of a partitioned table: an ordinary table (or a foreign one, which
// nothing replicates) holding some of its parent's rows.
type Leaf struct {
	OID          uint32
	Schema, Name string
	// Bound is the leaf's partition bound as Postgres prints it (pg_get_expr of relpartbound:
	// "FOR VALUES IN (1, 2)", "FOR VALUES FROM (MINVALUE) TO (10)", "DEFAULT"); Direct is set for
	// a leaf whose bound is against the table itself (not a sub-partition's).
	Bound  string
	Direct bool
}

// PartKey is a partitioned table's partition key when it is one plain column: the strategy
// ('l' list, 'r' range, 'h' hash), the column, its type as format_type prints it, and whether
// its collation compares bytewise (deterministic, or none).
type PartKey struct {
	Strategy      byte
	Column, Type  string
	Deterministic bool
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
		SELECT p.oid, c.oid, n.nspname, c.relname, coalesce(pg_get_expr(c.relpartbound, c.oid), ''), tr.level = 1
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
	_, err = pgx.ForEachRow(rows, []any{&parent, &l.OID, &l.Schema, &l.Name, &l.Bound, &l.Direct}, func() error {
		if t := byOID[parent]; t != nil {
			t.Leaves = append(t.Leaves, l)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: list partitions: %w", err)
	}
	// The partition key, when it is one plain column (no expression).
	rows, err = q.Query(ctx, `
		SELECT pt.partrelid, pt.partstrat::text, a.attname, format_type(a.atttypid, a.atttypmod),
			coalesce((SELECT co.collisdeterministic FROM pg_collation co WHERE co.oid = pt.partcollation[0]), true)
		FROM pg_partitioned_table pt
		JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
		WHERE pt.partrelid = ANY($1::oid[]) AND pt.partnatts = 1 AND pt.partexprs IS NULL`, parents)
	if err != nil {
		return fmt.Errorf("catalog: partition keys: %w", err)
	}
	var (
		strat string
		k     PartKey
	)
	_, err = pgx.ForEachRow(rows, []any{&parent, &strat, &k.Column, &k.Type, &k.Deterministic}, func() error {
		if t := byOID[parent]; t != nil && len(strat) == 1 {
			k.Strategy = strat[0]
			key := k
			t.PartKey = &key
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: partition keys: %w", err)
	}
	return nil
}

// Bound is a leaf's partition bound read for pruning (ReadBound): the default partition, a
// list partition's values, or a range partition's bounds (From inclusive, To exclusive; nil
// for MINVALUE and MAXVALUE). Values are the literals as written, unquoted; NULL is left out of
// a list (an equality never selects it).
type Bound struct {
	Default  bool
	List     []string
	From, To *string
	IsRange  bool
}

// ReadBound reads Leaf.Bound for a one-column key, or reports false (a hash partition, several
// columns, a literal it does not read): such a leaf is never pruned.
func ReadBound(s string) (Bound, bool) {
	if s == "DEFAULT" {
		return Bound{Default: true}, true
	}
	if rest, ok := strings.CutPrefix(s, "FOR VALUES IN ("); ok && strings.HasSuffix(rest, ")") {
		vals, ok := boundLiterals(strings.TrimSuffix(rest, ")"))
		if !ok {
			return Bound{}, false
		}
		var b Bound
		for _, v := range vals {
			if v != nil {
				b.List = append(b.List, *v)
			}
		}
		return b, true
	}
	if rest, ok := strings.CutPrefix(s, "FOR VALUES FROM ("); ok {
		from, to, ok := strings.Cut(rest, ") TO (")
		if !ok || !strings.HasSuffix(to, ")") {
			return Bound{}, false
		}
		lo, ok1 := boundLiterals(from)
		hi, ok2 := boundLiterals(strings.TrimSuffix(to, ")"))
		if !ok1 || !ok2 || len(lo) != 1 || len(hi) != 1 {
			return Bound{}, false
		}
		return Bound{IsRange: true, From: lo[0], To: hi[0]}, true
	}
	return Bound{}, false
}

// boundLiterals splits a bound's list, such as "1, 'x y', NULL", into its values (nil for NULL,
// MINVALUE and MAXVALUE; a quote inside a quoted value is doubled).
func boundLiterals(s string) ([]*string, bool) {
	var out []*string
	i := 0
	for {
		var v *string
		if i < len(s) && s[i] == '\'' {
			var b strings.Builder
			for i++; ; i++ {
				if i >= len(s) {
					return nil, false
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i++
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
			}
			str := b.String()
			v = &str
		} else {
			j := i
			for j < len(s) && s[j] != ',' {
				j++
			}
			switch word := s[i:j]; {
			case word == "NULL" || word == "MINVALUE" || word == "MAXVALUE":
			case word != "" && strings.Trim(word, "-0123456789") == "":
				v = &word
			default:
				return nil, false
			}
			i = j
		}
		out = append(out, v)
		if i == len(s) {
			return out, true
		}
		if !strings.HasPrefix(s[i:], ", ") {
			return nil, false
		}
		i += 2
	}
}
