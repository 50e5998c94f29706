// Package indexdef owns the definition of an index made through vecgate (`CREATE INDEX … USING
// hnsw|ivfflat WITH (quantizer = …, dims = …, include = …, oversample = …, mode = …)`): the typed
// Spec, the JSON encoding of its options, and its rows in the upstream table vecgate.indexes
// (migrations/sql/000001_indexes.up.sql). It is also the one reader of pgvector's own options (m,
// ef_construction, lists) as Postgres reads them (SetPgvectorOption), for the planner's WITH (…)
// and catalog's reloptions alike.
//
// It is the only place that reads or writes vecgate.indexes and the only place that encodes or
// decodes its options column. The planner parses CREATE INDEX into a Spec; the DDL path stores
// it (Insert, Delete); startup and every DDL read them back (Load) and hand them to live.Set,
// which holds them and from which replication takes the INCLUDE columns (Includes).
//
// A row Load cannot decode (bad options JSON, an unknown metric) is left out and reported by
// name (RowError), never dropped silently: the index then has no twin of vecgate's definition,
// which is correct — its queries are forwarded, or served by the twin of pgvector's own index
// when the definition was a mirror.
//
// This package does not import live, replication, planner or proxy; it does no I/O other than
// the statements its store functions run on the connection they are given.
package indexdef
