// Package proxy is vecgate's Postgres wire-protocol front end.
//
// It owns the listener, client TLS, the startup and authentication exchange, one upstream
// connection per client session, the relay of messages both ways, cancel-request routing, the
// maximum message size, and per-session state (transaction status, whether the transaction has
// written, committed writes, queries in flight). It must not parse SQL: deciding what a statement
// is belongs to the planner.
//
// Relay. Client messages are framed (type and length checked against Config.MaxMessageSize) and
// forwarded in batches: the upstream writer is flushed only when no further complete message is
// already buffered, so pipelined extended-protocol traffic costs one write. CopyData larger than a
// read chunk is streamed without being held in memory. Upstream messages are framed the same way,
// to observe ReadyForQuery, CommandComplete and CopyInResponse and to let an intercepted statement
// take its answers (capture), and written unchanged in batches; nothing from Postgres is
// re-encoded, so what clients see is byte for byte what Postgres sent (but for BackendKeyData).
//
// Interception. A statement the Interceptor plans — a simple Query, or an extended-protocol
// execution sent as one [Parse] Bind [Describe] Execute group, followed by its Sync or leading a
// pipeline of several (pgx's Batch; the rest of a pipeline goes to Postgres from its first
// statement that does, and an Execute with a row limit is cut as Postgres cuts it, the rest of a
// named portal's rows held for its later Executes in a block: batch.go) — runs through one
// pipeline for both protocols
// (pipeline.go: wait idle, session checks, capture, block, table check, read-your-writes, fast
// answer or rounds, finish); the protocol differences sit behind a small interface. How each
// statement went (intercepted by path with its duration, cancelled, or forwarded with a typed
// Reason) is reported once to Config.Observer.
//
// Authentication is relayed end to end (trust, cleartext, MD5, SCRAM-SHA-256): vecgate never sees a
// stored password and never needs one. Each client gets cancel key data of vecgate's own; a
// CancelRequest carrying it is sent on to the session's upstream backend, and ends an intercepted
// statement the session runs with 57014 as Postgres would (cancel.go; statement_timeout alike).
// A client that disconnects while a query runs has that query cancelled upstream.
//
// Errors. A client that breaks the protocol (garbage, a bad length, a message over the limit, an
// unsupported protocol version) gets an ErrorResponse — 08P01, or what Postgres itself answers —
// and only its session ends. An unreachable upstream gives 08001 with the reason; an upstream that
// refuses gives the client Postgres' own error.
//
// Concurrency: each session runs two goroutines (client→upstream, upstream→client) owned by the
// Server; Shutdown waits for them. Lock order: Server.mu, then a session's locks.
package proxy
