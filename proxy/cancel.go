package proxy

import (
	"bufio"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Cancel and statement_timeout during an intercepted statement. Postgres ends a statement that
// is cancelled, or that runs past statement_timeout, with 57014 at once; an intercepted statement
// is several statements upstream (checks, rounds) with vecgate's own work between them, so:
//
//   - a cancel request that arrives while a round (or check) runs upstream is sent on to
//     Postgres, which ends that round with 57014; one that arrives while vecgate works in memory
//     (searching, waiting for replication) or between rounds is not (Postgres would ignore it,
//     or worse, apply it to the session's next statement). Either way the session is marked
//     and the interception ends at its next step with 57014, "canceling statement due to user
//     request", as Postgres' own answer would be. A cancel that arrives when nothing runs is
//     ignored, as by Postgres.
//   - statement_timeout (read with the session's table check) bounds the whole statement from
//     when vecgate starts it, not each round: when it elapses the interception ends with 57014,
//     "canceling statement due to statement timeout" (a round running then is cancelled).
//   - a round that Postgres ends with 57014 (its own statement_timeout, or a cancel) is the
//     statement's answer, as Postgres sent it: the original is not forwarded and run again.
//
// In a transaction block the interrupted statement fails the block, as it would directly.

var (
	errUserCancel  = errors.New("canceling statement due to user request")
	errStmtTimeout = errors.New("canceling statement due to statement timeout")
	// errInterrupted ends an interception that was cancelled or timed out.
	errInterrupted = errors.New("interrupted")
)

// interruption is a session's state of its running interception (guarded by mu).
type interruption struct {
	mu           sync.Mutex
	intercepting bool                    // an interception runs (beginIntercept … its end)
	exchanging   bool                    // one of its statements runs upstream
	cause        error                   // errUserCancel or errStmtTimeout once marked
	pgErr        []byte                  // a 57014 ErrorResponse Postgres sent during it
	stop         context.CancelCauseFunc // cancels the interception's context
	timer        *time.Timer             // statement_timeout
	began        time.Time
	armed        bool // the timer was set (once per interception)
}

// beginIntercept starts an interception: cancel requests and statement_timeout now end it (see
// above). The returned function ends it.
func (s *session) beginIntercept() (context.Context, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), interceptTimeout)
	ctx, stop := context.WithCancelCause(ctx)
	in := &s.intr
	in.mu.Lock()
	in.intercepting, in.exchanging, in.cause, in.pgErr, in.stop = true, false, nil, nil, stop
	in.began, in.armed = time.Now(), false
	in.mu.Unlock()
	return ctx, func() {
		in.mu.Lock()
		in.intercepting, in.cause, in.pgErr, in.stop = false, nil, nil, nil
		if in.timer != nil {
			in.timer.Stop()
			in.timer = nil
		}
		in.mu.Unlock()
		stop(nil)
		cancel()
	}
}

// armTimeout bounds the running interception by the session's statement_timeout (0: none),
// counted from its start.
func (s *session) armTimeout(timeout time.Duration) {
	in := &s.intr
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.intercepting || in.armed || timeout <= 0 {
		return
	}
	in.armed = true
	left := timeout - time.Since(in.began)
	if left <= 0 {
		in.markLocked(errStmtTimeout)
		return
	}
	in.timer = time.AfterFunc(left, func() { s.interrupt(errStmtTimeout) })
}

// interrupt marks the running interception with cause, and sends a cancel upstream when one of
// its statements runs there. Without an interception running, the request goes to Postgres
// (which ignores it when the session is idle).
func (s *session) interrupt(cause error) {
	in := &s.intr
	in.mu.Lock()
	if !in.intercepting {
		in.mu.Unlock()
		if cause == errUserCancel {
			s.cancelUpstream()
		}
		return
	}
	in.markLocked(cause)
	upstream := in.exchanging
	in.mu.Unlock()
	if upstream {
		s.cancelUpstream()
	}
}

func (in *interruption) markLocked(cause error) {
	if in.cause == nil {
		in.cause = cause
		if in.stop != nil {
			in.stop(cause)
		}
	}
}

// interrupted reports whether the running interception was cancelled or timed out, by a mark
// or by a 57014 from Postgres.
func (s *session) interrupted() bool {
	in := &s.intr
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cause != nil || in.pgErr != nil
}

// startExchange is called before one of the interception's statements goes upstream: it reports
// false when the interception was marked (the statement must not start).
func (s *session) startExchange(force bool) bool {
	in := &s.intr
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cause != nil && !force {
		return false
	}
	in.exchanging = in.intercepting
	return true
}

// endExchange is called when the statement's ReadyForQuery came; failure is its error, if any.
func (s *session) endExchange(failure []byte) {
	in := &s.intr
	in.mu.Lock()
	defer in.mu.Unlock()
	in.exchanging = false
	if in.intercepting && failure != nil && in.pgErr == nil && errorCode(failure) == "57014" {
		in.pgErr = failure
	}
}

// interruptError is the error the client gets for its interrupted statement: Postgres' own
// 57014 when a round got one (but for a cancel vecgate sent because statement_timeout elapsed,
// which Postgres reports as a user's), else vecgate's in Postgres' words.
func (s *session) interruptError() []byte {
	in := &s.intr
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.pgErr != nil && in.cause != errStmtTimeout {
		return in.pgErr
	}
	cause := in.cause
	if cause == nil {
		cause = errUserCancel
	}
	return errorResponse("ERROR", "57014", cause.Error())
}

// endInterrupted ends an interrupted interception: in a transaction block that Postgres has not
// failed yet, vecgate fails it (its savepoint rolled back and released first), as the
// statement's error would directly; the client gets before (messages its request was already
// answered with: ParseComplete, BindComplete, …), the error and ReadyForQuery.
func (s *session) endInterrupted(w *bufio.Writer, before ...[]byte) error {
	errMsg := s.interruptError()
	if s.State().TxStatus == 'T' {
		sql := "SELECT 1/0"
		if s.blockOpen {
			sql = "ROLLBACK TO SAVEPOINT " + blockSavepoint + "; RELEASE SAVEPOINT " + blockSavepoint + "; " + sql
		}
		s.blockOpen = false
		q, _ := (&pgproto3.Query{String: sql}).Encode(nil)
		if _, _, _, ok := s.sendRecv(w, true, q); !ok {
			return errors.New("upstream connection lost")
		}
	}
	s.blockOpen = false
	s.endCapture()
	s.canceled()
	return s.deliver(append(before, errMsg, readyFor(s.State().TxStatus))...)
}

// errorCode returns the SQLSTATE of an ErrorResponse message ("" if it has none).
func errorCode(msg []byte) string {
	if len(msg) < 5 || msg[0] != 'E' {
		return ""
	}
	b := msg[5:]
	for len(b) > 0 && b[0] != 0 {
		typ := b[0]
		end := 1
		for end < len(b) && b[end] != 0 {
			end++
		}
		if typ == 'C' {
			return string(b[1:end])
		}
		if end >= len(b) {
			break
		}
		b = b[end+1:]
	}
	return ""
}

// answerBefore is what an interrupted round sent before its error (BindComplete, a
// RowDescription): the client gets it, then the statement's error and ReadyForQuery.
func answerBefore(msgs [][]byte) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		if m[0] == 'E' || m[0] == 'Z' {
			break
		}
		out = append(out, m)
	}
	return out
}

// failureOf returns the ErrorResponse among msgs, or nil.
func failureOf(msgs [][]byte) []byte {
	for _, m := range msgs {
		if m[0] == 'E' {
			return m
		}
	}
	return nil
}
