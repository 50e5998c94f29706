// Package catalog discovers what vecgate can index in one upstream database: tables with pgvector
// columns (vector, halfvec, bit, sparsevec), their dimensions, the key that identifies a row in
// logical replication (primary key or replica identity index), and the pgvector indexes already
// defined on them (access method, opclass → Metric, m, ef_construction, lists), including the
// expression indexes `(col::halfvec(n))` and `(binary_quantize(col)::bit(n))` of a vector column
// (expression.go: Index.Expr).
//
// Ownership: catalog only reads the system catalogs through a Querier it is given; it holds no
// index data, opens no connections and keeps no state between calls. Callers refresh by calling
// Discover again (replication does so on every (re)connect; a Relation message that disagrees with
// the catalog makes replication resynchronise).
//
// Invariants:
//   - pgvector's type OIDs differ per database; they are looked up by name on every Discover,
//     restricted to types that belong to the "vector" extension (bit is the built-in type).
//   - A Table with a non-empty Skip is never replicated; Skip says why in words fit for a log
//     line and a status page. A VectorColumn with a non-empty Skip likewise. What a publication
//     cannot hold is skipped: unlogged and temporary tables, partitioned parents, generated
//     columns (Column.Generated; Postgres 17 publishes none).
//   - Table.Key is ordered by key position and non-empty whenever Skip is empty.
package catalog
