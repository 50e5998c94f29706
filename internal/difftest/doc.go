// Package difftest is vecgate's randomized differential tester: it generates schemas, data,
// roles, session states and vector top-k queries from a seed, runs each query through a running
// vecgate and directly against Postgres (forced to an exact sequential scan), and reports every
// difference in rows, order, distances, errors or SQLSTATE, with a shrunk, self-contained SQL
// reproduction.
//
// It owns nothing of vecgate's: vecgate runs as a separate process (started from a binary, or
// already listening), observed only through the wire protocol and its HTTP endpoints (/status,
// /metrics). The engine never compares while replication lags, except for a session's own
// writes, which vecgate promises to see at once.
//
// Differences are classed as hard (a rule broken: a row that fails the WHERE, row-level security
// or privileges, wrong order, a distance off by more than 1e-6 relative, another error or
// SQLSTATE, a row from another table or database) or recall (a farther row in place of a nearer
// one, every rule kept). Ties at a LIMIT or OFFSET boundary are not differences. See
// docs/difftest.md.
package difftest
