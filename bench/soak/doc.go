// Package soak is `vecgate bench soak`: many clients for a long time on a mixed load through an
// in-process vecgate whose upstream connections (client sessions and replication alike) pass
// through a fault relay that cuts and stalls them at random, checking continuously that vecgate
// stays right and bounded.
//
// The load (load.go): vector top-k queries of several intercepted shapes (answers from memory and
// id-list rewrites, three metrics, OFFSET, similarity, filtered, literal and bound vectors, simple
// and extended protocol), inserts, updates with and without the vector, deletes, transaction
// blocks (committed and rolled back), cancels (real CancelRequests through vecgate), and now and
// then DDL (side tables with their own index created and dropped, a column added and dropped).
//
// The checks (check.go), at quiet points (clients and faults paused, replication caught up):
// every twin holds exactly the table's rows (count, and the set of keys: none lost, none stale,
// none twice); the same statements through vecgate and directly to Postgres (exact scans) return
// the same rows in the same order, distances within 1e-6 relative; goroutines, file descriptors
// and RSS of the process are sampled. Latency (p50/p99) of the vector queries is reported per
// minute; at the end, goroutines are compared with their count before the load.
//
// The relay (relay.go) listens on loopback only and relays to a loopback upstream: it never
// touches another machine. Postgres restarts happen only when Options.RestartCmd is given.
//
// The vecgate soaked is started through Options.Start (cmd/vecgate wires the gateway), as
// bench/sqlbench does, so this package does not depend on how the command builds one.
package soak
