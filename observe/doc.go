// Package observe is what vecgate shows about a running gateway: the Status served as JSON at
// /status, printed by `vecgate status` and answered to SHOW vecgate.status (Status.Rows); the
// status page at / (page.go, page.html: the Status, latency quantiles and the last warnings and
// errors an ErrorLog kept, as HTML); the Prometheus collector at /metrics; /healthz and /readyz;
// the statement counters (Counts, Stats); and the initial load's progress (rows indexed, rate,
// ETA).
//
// Everything it reports is read from the gateway's live state when asked (a scrape, a request, a
// SHOW), through Source. Its only state of its own is a cache of catalog facts the live set does
// not carry (pgvector index parameters, table row estimates) and of the replication slot's WAL
// (retained, safe before invalidation; read every 10 s), refreshed in the background from the
// upstream database, and the start of the current initial load (for its rate and ETA).
//
// One definition of each figure shown to users: "rows indexed" is IndexedRows (each table once,
// whatever the number of its twins) in status, metrics, the progress bar and bench sql.
//
// Lifetimes: New builds an Observer; Start runs the catalog refresher; Serve adds HTTP listeners;
// Close stops the refresher and the listeners and waits for their goroutines. Lock order: mu and
// srvMu are never held together.
//
// This package does not import gateway (the gateway builds an Observer from its parts) and does
// not read flags or environment variables.
package observe
