package proxy

import "time"

// Observer is told how each client statement that reaches the interceptor was handled (a Query
// message, or an execution: Bind … Sync), exactly once per statement: intercepted (by path, with
// its duration), cancelled, or forwarded with the reason. Its methods are called from session
// goroutines and must not block.
type Observer interface {
	// Forwarded: the statement went to Postgres unchanged (or Postgres answered it, as for a
	// client Parse that failed), for reason r.
	Forwarded(r Reason)
	// Intercepted: vecgate answered the statement by path p, in d (from when the proxy took the
	// statement to its answer).
	Intercepted(p Path, d time.Duration)
	// Canceled: vecgate took the statement, and it ended with 57014 (a cancel request or
	// statement_timeout), as Postgres would have ended it. It is an intercepted statement.
	Canceled()
}

// Path is how vecgate answered an intercepted statement.
type Path string

// Paths of intercepted statements (the path label of vecgate_intercept_duration_seconds).
const (
	PathFast    Path = "fast"    // from memory, without a round trip to Postgres
	PathRewrite Path = "rewrite" // through the id-list rewrite, run by Postgres
)

// Reason is why a client statement went to Postgres unchanged: the reason label of
// vecgate_forwarded_total. The interceptor returns the planner's reasons; the proxy adds its own.
type Reason string

// Reasons decided by the planner and the interceptor (Interceptor.Simple, Prepare, Bind).
const (
	ReasonNotVector Reason = "not_vector" // no distance operator: most statements a proxy sees
	ReasonNotShape  Reason = "not_shape"  // a distance operator, but not the top-k shape (or invalid SQL)
	ReasonNoIndex   Reason = "no_index"   // no live index for the table, column and metric
	ReasonDesc      Reason = "desc"       // ORDER BY … DESC
	ReasonHalfvec   Reason = "halfvec"    // a halfvec query vector
	ReasonPlanner   Reason = "planner"    // another reason of the planner's (LIMIT, a vector it cannot read, …)
	ReasonLoading   Reason = "loading"    // the indexes are loading
	ReasonDisabled  Reason = "disabled"   // vecgate.enabled is off in the session
)

// Reasons decided by the proxy.
const (
	ReasonTransaction    Reason = "transaction"                 // a failed or writing block, or one vecgate cannot read in
	ReasonLagging        Reason = "lagging"                     // the indexes did not reach the session's writes in time
	ReasonTableCheck     Reason = "table_check"                 // the session's table check says the index does not answer it
	ReasonWidening       Reason = "widening"                    // the rounds did not complete the answer
	ReasonRewriteError   Reason = "rewrite_error"               // the rewrite failed in Postgres
	ReasonPipeline       Reason = "pipeline"                    // an execution after one of its pipeline that went to Postgres (or failed)
	ReasonPortal         Reason = "portal"                      // a portal that would outlive the execution: see batch.go
	ReasonOtherDatabase  Reason = "other_database"              // a session on another database than the followed one
	ReasonExplain        Reason = "explain"                     // EXPLAIN, with vecgate's lines
	ReasonStatus         Reason = "status"                      // SHOW vecgate.status, answered by vecgate
	ReasonStatusDenied   Reason = "status_denied"               // SHOW vecgate.status for a session not allowed it
	ReasonDDL            Reason = "ddl"                         // CREATE or DROP INDEX vecgate takes part in
	ReasonCopy           Reason = "copy"                        // sent while a COPY FROM STDIN is open
	ReasonClientEncoding Reason = "client_encoding"             // client_encoding is not UTF8
	ReasonStdStrings     Reason = "standard_conforming_strings" // standard_conforming_strings is off
	ReasonError          Reason = "error"                       // Postgres answered the client's own statement with an error
	ReasonPanic          Reason = "panic"                       // a bug in vecgate (logged)
	ReasonUpstreamLost   Reason = "upstream_lost"               // the upstream connection failed during the statement
	ReasonOther          Reason = "other"                       // a path that did not say (a bug; should stay 0)
)

// nopObserver observes nothing (Config.Observer unset).
type nopObserver struct{}

func (nopObserver) Forwarded(Reason)                {}
func (nopObserver) Intercepted(Path, time.Duration) {}
func (nopObserver) Canceled()                       {}

// beginStatement starts the handling of a client statement that is counted (Observer).
func (s *session) beginStatement() {
	s.tallied = false
	s.began = time.Now()
}

// forwarded counts the client statement being handled as forwarded for r, unless it was
// counted already (each is counted once).
func (s *session) forwarded(r Reason) {
	if !s.tallied {
		s.tallied = true
		s.srv.obs.Forwarded(r)
	}
}

// intercepted counts the statement being handled as answered by vecgate, by path p.
func (s *session) intercepted(p Path) {
	if !s.tallied {
		s.tallied = true
		s.srv.obs.Intercepted(p, time.Since(s.began))
	}
}

// canceled counts the statement being handled as intercepted and ended with 57014.
func (s *session) canceled() {
	if !s.tallied {
		s.tallied = true
		s.srv.obs.Canceled()
	}
}
