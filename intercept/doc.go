// Package intercept is vecgate's proxy.Interceptor: it joins the proxy (which owns the wire and
// the session) to the planner (which decides and rewrites) and to the live indexes.
//
// For each client statement the proxy offers, it plans the statement (planner.PlanSimple, or
// Prepare then Bind), decides whether the session may be answered by vecgate (vecgate.enabled,
// the indexes loaded) and hands the proxy a Job: the rounds of the id-list rewrite and, when
// eligible, the answer from memory. It also answers EXPLAIN (vecgate's decision before Postgres'
// plan), SHOW vecgate.status (to pg_monitor members of the followed database) and decides CREATE
// and DROP INDEX with vecgate's options (recorded in vecgate.indexes, then the live set and the
// replication include list are reloaded).
//
// It owns no goroutine and no state beyond its Config: every method may run concurrently from
// many sessions. It reaches replication only through the Stream interface (the gateway adapts
// replication.Stream), and it never writes to the client: the proxy does.
package intercept
