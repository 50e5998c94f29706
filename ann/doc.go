// Package ann defines the contract of vecgate's in-memory vector indexes: the
// [Index] interface, the [Metric] enum with pgvector's operator names and
// distance definitions, the [Key] type that carries a table's primary key, and
// the sentinel errors a caller maps to pgvector's SQLSTATEs.
//
// Implementations live in subpackages: ann/flat (exact, blocked, multithreaded),
// ann/hnsw (graph), ann/ivf (inverted lists). Distance kernels live in the
// leaf package vecmath. This package and its subpackages know nothing about SQL or
// Postgres; the only Postgres-specific knowledge is the set of metric
// definitions, which must match pgvector bit for bit in meaning (not in
// summation order, see GOTCHAS.md).
//
// Invariants every implementation keeps:
//   - Search returns at most k results ordered by ascending Distance (ties in
//     unspecified order), never a deleted key, and only keys for which the
//     filter (if any) returned true.
//   - A Key is present at most once; Add on an existing key replaces its vector
//     (upsert).
//   - Bad input (wrong dimension, NaN/Inf, zero vector under cosine, k <= 0,
//     a corrupt saved file) is reported as an error wrapping one of the
//     sentinels below, never as a panic.
//   - Distances are reported as float64 in pgvector's units: L2 is the
//     Euclidean distance (not squared), InnerProduct is the negative inner
//     product, Cosine is 1 - cos (clamped to [0, 2]), L1 is the Manhattan
//     distance, Hamming is the number of differing bits.
package ann
