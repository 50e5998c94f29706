// Package planner decides, for one SQL statement, whether vecgate answers it and how.
//
// It parses with Postgres' own grammar (pg_query_go) — never with regular expressions — and
// recognises the vector top-k shape
//
//	SELECT <projection> FROM <one table> [WHERE <filter>]
//	ORDER BY <column> <op> <vector> [ASC|DESC] LIMIT <k> [OFFSET <o>]
//
// with pgvector's operators <-> (L2), <#> (negative inner product), <=> (cosine distance), <+>
// (L1) and <~> (Hamming, over bits: bits.go); the column may be written through the expression of
// an expression index, `col::halfvec(n)` (expression.go) or `binary_quantize(col)::bit(n)`; the
// vector is a literal or a bound parameter, optionally cast to vector, halfvec or sparsevec
// (sparse.go) as the column's twin allows (else forwarded at planning), its text read exactly as
// pgvector's vector_in reads it
// (internal/vectext; a text pgvector rejects forwards the statement); the distance may also be named through a select-list
// alias or ordinal, and is the only sort key (a second key breaks ties among rows the candidates
// need not hold). Function calls are limited to a list of built-in and pgvector functions that
// change nothing when called again, since a statement runs once per widening round. Anything
// else is forwarded, with the reason (ErrNotShape).
//
// The table may also be one side of a two-table join (the distance's column qualified; Shape.Join),
// and a statement that is not itself the shape may hold one such node — a CTE, a FROM subquery,
// LATERAL, a set operation's arm — which is rewritten in place, its completeness proven by probe
// rounds and by a guard in the statement itself (nested.go).
//
// For a statement it intercepts it builds the id-list rewrite (Shape.Rewrite): the same statement
// with `AND <key> = ANY(<candidate ids>)` and the distance sort wrapped as `(<distance>) + 0`, which
// no pgvector index can serve, so Postgres ranks exactly the candidates vecgate found and keeps
// every other semantic (projection, filters, privileges, row-level security, visibility).
// Column-equality conjuncts on columns the index keeps (INCLUDE columns, filter.go) also restrict
// which candidates the index returns; Postgres still applies the whole WHERE.
//
// The planner does no I/O and holds no index: searching is the caller's, through the small
// Searcher interface it declares. Classify recovers from its own panics and reports them as errors
// so that a planner bug forwards the statement instead of ending the session.
package planner
