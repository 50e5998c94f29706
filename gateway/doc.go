// Package gateway assembles a running vecgate from its parts: vecgate's schema upstream
// (migrations), the live indexes (live) kept in sync by logical replication (replication), the
// interceptor (intercept) that answers vector top-k from them, the wire proxy (proxy) in front of
// Postgres, and the observer (observe) that reports on all of them.
//
// Start builds and starts them in that order and Close stops them in reverse: the proxy first
// (sessions get until the context ends), then replication, then the observer. Without
// Config.Intercept only the proxy and the observer run and every statement is forwarded.
//
// Stats and Status are what tests and operators read of a running gateway; Set, Stream and
// Observer give cmd/vecgate (the progress bar, the HTTP listener, bench sql) the parts it shows.
//
// This package reads no flags, environment variables or files: cmd/vecgate does and fills Config.
// Nothing below it imports it.
package gateway
