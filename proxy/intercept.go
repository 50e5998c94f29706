package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Interceptor decides which statements vecgate answers itself. The proxy declares what it needs;
// the planner (through a small adapter in cmd/vecgate) provides it.
type Interceptor interface {
	// Simple is called with the text of a simple Query message that vecgate may intercept, and
	// the session's knobs (see Knobs). It returns nil to forward the message unchanged, with the
	// reason counted (Config.Observer).
	Simple(sql string, knobs map[string]string) (job Job, reason Reason)
	// Knobs returns the SET/RESET statements in sql that change knobs vecgate follows.
	Knobs(sql string) []Knob
	// Explain is offered `EXPLAIN …` statements: ok with the lines vecgate puts first and the
	// statement to send upstream instead, and check, the table check (Job.TableCheck) of the
	// statement the lines say vecgate would intercept ("" when they say it forwards): if the
	// session's check says the index does not hold what the statement reads, the proxy says
	// so and sends the client's EXPLAIN instead, as executing the statement would forward it.
	Explain(sql string, knobs map[string]string) (lines []string, send, check string, ok bool)
	// Status recognises `SHOW vecgate.status` (ok). check is a statement (no parameters)
	// returning one boolean: whether the session may see the status (a monitoring role, in the
	// database vecgate follows); answer gives the columns and rows. When check says no, or does
	// not run, the statement goes to Postgres, which answers in its own words.
	Status(sql string) (check string, answer func() (columns []string, rows [][]string), ok bool)
	// DDL is offered CREATE and DROP INDEX statements; nil leaves them to Postgres alone.
	DDL(sql string) *DDL
	// Prepare is called with the text of each Parse message and the parameter types it declares
	// (0: left to Postgres); it returns nil when vecgate will not intercept executions of that
	// statement, and the reason its executions are counted under.
	Prepare(sql string, paramOIDs []uint32) (st Statement, reason Reason)
	// WaitApplied waits until the live indexes have applied the upstream WAL position lsn (as
	// pg_current_wal_lsn() prints it), or ctx ends.
	WaitApplied(ctx context.Context, lsn string) error
}

// Statement is a prepared statement vecgate may intercept at Bind.
type Statement interface {
	// Rewrite is the statement vecgate prepares upstream under a name of its own: it takes the
	// client's parameters and one more, the candidate keys, as a text array value.
	Rewrite() string
	// Params is the rewrite's parameter count (the client's plus one).
	Params() int
	// Bind plans one execution from the client's Bind (parameter values and format codes) with
	// the session's knobs; it returns nil to forward the Bind unchanged, with the reason.
	Bind(params [][]byte, formats []int16, knobs map[string]string) (job Job, reason Reason)
}

// Job is one intercepted statement. The proxy asks it for the statement to send for each round,
// reporting how many rows the previous round returned, until it is done (the last round's answer
// goes to the client) or says to forward the original statement.
type Job interface {
	Next(ctx context.Context, prevRows int) (sql string, done, forward bool, err error)
	// TableCheck is a statement (no parameters) returning two booleans for the session: whether
	// the index holds every row the statement can read and ranks them as it would (the session's
	// database is the followed one, its table name resolves to the indexed relation, which has no
	// inheritance children, its operator to pgvector's), and whether the session may be answered
	// from memory (privileges, no row-level security, output settings). vecgate prepares it once
	// per session and keeps the answer a while (accessTTL).
	TableCheck() string
}

// readyIdle is ReadyForQuery, idle: the end of an answer vecgate gives from memory.
var readyIdle = []byte{'Z', 0, 0, 0, 5, 'I'}

// Knob is one SET or RESET of a session knob vecgate follows.
type Knob struct {
	Name, Value string
	Local       bool // SET LOCAL: until the end of the transaction block
	Block       bool // sent after a BEGIN in the same Query: inside that block
	Reset       bool // RESET name, or RESET ALL when Name is ""
}

// Consistent is a Job that says how fresh its answer must be.
type Consistent interface {
	// Consistency is "session" (see the session's own committed writes), "eventual" (no wait)
	// or "strong" (wait for the upstream's current position), and the longest wait before the
	// statement is forwarded instead.
	Consistency() (mode string, maxWait time.Duration)
}

// applyKnobs records the knob changes in sql (a simple Query about to be forwarded).
func (s *session) applyKnobs(sql string) {
	s.addKnobs(s.srv.cfg.Interceptor.Knobs(sql))
}

// addKnobs records knob changes about to be sent upstream.
func (s *session) addKnobs(ks []Knob) {
	if len(ks) == 0 {
		return
	}
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	for _, k := range ks {
		s.knobs.add(k, s.state)
	}
}

// knobValues returns the knobs in force for a statement sent now.
func (s *session) knobValues() map[string]string {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.knobs.values()
}

// recovered handles a panic of an interception (a planner or proxy bug): it is logged with its
// stack and counted, and the statement forwarded.
func (s *session) recovered(w *bufio.Writer, r any) {
	s.log.Error("intercept panic; forwarding", "panic", r, "stack", string(debug.Stack()))
	s.forwarded(ReasonPanic)
	if s.blockOpen { // leave the client's transaction as it was (best effort)
		func() {
			defer func() { _ = recover() }()
			_ = s.abandonBlock(w, true)
		}()
	}
	s.endCapture()
}

// interceptTimeout bounds one intercepted statement's rounds before vecgate gives up and forwards.
const interceptTimeout = 30 * time.Second

// maxWait is the default bound on how long an intercepted read waits for the indexes to catch up with the
// session's own committed writes before it is forwarded instead (vecgate.max_wait).
const maxWait = 100 * time.Millisecond

// interceptQuery handles a simple Query vecgate may intercept: DDL vecgate takes part in,
// SHOW vecgate.status and EXPLAIN (special), and statements the planner plans, which run through
// the pipeline (pipeline.go), each round a Query whose answer vecgate collects itself (capture);
// the final answer goes to the client as Postgres sent it. It reports false when the original
// message must be forwarded instead (which is always correct).
func (s *session) interceptQuery(w *bufio.Writer, body []byte) (handled bool, err error) {
	return s.guarded(w, func() (bool, error) {
		sql := string(bytes.TrimSuffix(body, []byte{0}))
		s.applyKnobs(sql)
		if d := s.srv.cfg.Interceptor.DDL(sql); d != nil {
			s.forwarded(ReasonDDL)
			return s.runDDL(w, sql, d)
		}
		if handled, err := s.special(w, sql); handled || err != nil {
			return handled, err
		}
		job, reason := s.srv.cfg.Interceptor.Simple(sql, s.knobValues())
		if job == nil {
			s.forwarded(reason)
			return false, nil
		}
		return s.intercept(w, job, simpleQuery{})
	})
}

// rounds runs an intercepted statement's rounds while capturing: each round's statement (or key
// array) goes upstream through send, until the job says the last answer is complete, which
// rounds returns. It returns nil when the client's original must be forwarded instead (the
// reason counted), errInterrupted (with the failed round's answer, if one failed) when the
// statement was cancelled or timed out, and another error when the upstream connection is gone.
func (s *session) rounds(ctx context.Context, job Job, send func(next string) (msgs [][]byte, rows int, failed, ok bool)) ([][]byte, error) {
	var last [][]byte
	rows := 0
	for {
		next, done, fwd, err := job.Next(ctx, rows)
		if s.interrupted() {
			return nil, errInterrupted
		}
		if err != nil {
			s.log.Warn("intercept: planner error; forwarding", "err", err)
		}
		if err != nil || fwd {
			s.forwarded(ReasonWidening)
			return nil, nil
		}
		if done {
			return last, nil
		}
		msgs, n, failed, ok := send(next)
		if !ok {
			return nil, errors.New("upstream connection lost")
		}
		if failed && s.interrupted() {
			// Cancelled or timed out: Postgres' 57014 (in msgs) or vecgate's is the answer.
			return msgs, errInterrupted
		}
		if failed {
			// Let Postgres answer the original in its own words (error positions and all).
			s.forwarded(ReasonRewriteError)
			return nil, nil
		}
		last, rows = msgs, n
	}
}

// exchange sends one simple Query upstream while capturing, and collects the answer up to its
// ReadyForQuery: the raw messages, the number of DataRows, and whether it was an error.
func (s *session) exchange(w *bufio.Writer, sql string) (msgs [][]byte, rows int, failed, ok bool) {
	q, err := (&pgproto3.Query{String: sql}).Encode(nil)
	if err != nil {
		return nil, 0, true, true
	}
	return s.exchangeRaw(w, q)
}

// exchangeRaw sends encoded messages, the last of which ends the exchange with a ReadyForQuery
// (a Query or a Sync), and collects the answer like exchange. In an interception that was
// cancelled or timed out (cancel.go) nothing is sent: it reports failed, with no messages.
func (s *session) exchangeRaw(w *bufio.Writer, out ...[]byte) (msgs [][]byte, rows int, failed, ok bool) {
	return s.sendRecv(w, false, out...)
}

// sendRecv is exchangeRaw; force sends even in an interrupted interception (statements that
// restore the client's transaction).
func (s *session) sendRecv(w *bufio.Writer, force bool, out ...[]byte) (msgs [][]byte, rows int, failed, ok bool) {
	if !s.startExchange(force) {
		return nil, 0, true, true
	}
	defer func() { s.endExchange(failureOf(msgs)) }()
	s.srv.ownTrips.Add(1)
	s.addPending()
	for _, m := range out {
		if _, err := w.Write(m); err != nil {
			return nil, 0, false, false
		}
	}
	if w.Flush() != nil {
		return nil, 0, false, false
	}
	for {
		var m []byte
		select {
		case m = <-s.capture:
		case <-s.upDone:
			return nil, 0, false, false
		}
		msgs = append(msgs, m)
		switch m[0] {
		case 'D':
			rows++
		case 'E':
			failed = true
		case 'Z':
			return msgs, rows, failed, true
		}
	}
}

// writesPending reports whether an intercepted read of job must first wait for the indexes to
// reach the upstream's WAL position: the session committed a write since its last intercepted
// read — one its command tags showed, or a statement that may have written under a read tag
// (State.MaybeWrote) — or the session asked for strong consistency.
func (s *session) writesPending(job Job) (pending bool, wait time.Duration) {
	mode, wait := "session", maxWait
	if c, ok := job.(Consistent); ok {
		mode, wait = c.Consistency()
	}
	st := s.State()
	switch {
	case mode == "eventual":
		return false, 0
	case mode == "session" && st.CommittedWrites == s.seenWrite && st.MaybeWrites == s.seenMaybe:
		return false, 0
	}
	return true, wait
}

// positionWithCheck runs the session's table check for job now, with the upstream's WAL
// position in the same round trip, when read-your-writes will want the position and the check
// is due anyway (checkCached: none made since the session's last statement in Postgres, which is
// also what may have written). It returns the position, or "".
func (s *session) positionWithCheck(w *bufio.Writer, job Job) string {
	if pending, _ := s.writesPending(job); !pending {
		return ""
	}
	if _, cached := s.checkCached(job); cached {
		return ""
	}
	_, lsn := s.runTableCheck(w, job, true)
	return lsn
}

// readYourWrites makes an intercepted read see the session's own committed writes
// (writesPending): it waits (bounded) until the indexes have applied the upstream's WAL
// position — lsn when positionWithCheck read it, else asked for now. It reports false when they
// did not catch up in time.
func (s *session) readYourWrites(ctx context.Context, w *bufio.Writer, job Job, lsn string) bool {
	pending, wait := s.writesPending(job)
	if !pending {
		return true
	}
	st := s.State()
	if lsn == "" {
		msgs, _, failed, ok := s.exchangeRaw(w, s.ownStatements("SELECT pg_catalog.pg_current_wal_lsn()")...)
		if !ok || failed {
			return false
		}
		for _, m := range msgs {
			if m[0] == 'D' {
				var d pgproto3.DataRow
				if d.Decode(m[5:]) == nil && len(d.Values) == 1 {
					lsn = string(d.Values[0])
				}
			}
		}
	}
	if lsn == "" || strings.ContainsAny(lsn, " \x00") {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := s.srv.cfg.Interceptor.WaitApplied(wctx, lsn); err != nil {
		return false
	}
	s.seenWrite, s.seenMaybe = st.CommittedWrites, st.MaybeWrites
	return true
}

// reported is a setting Postgres reports in ParameterStatus (at startup and after every change)
// that vecgate intercepts under only while it has the value want; epoch counts the reports of
// another value. Guarded by the session's stateMu.
type reported struct {
	want, value string
	epoch       uint64
}

func (r *reported) report(v string) {
	r.value = v
	if v != r.want {
		r.epoch++
	}
}

// setting reports whether r has its wanted value now, and r's epoch then (-1 when it has not).
func (s *session) setting(r *reported) (ok bool, epoch int64) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if r.value != r.want {
		return false, -1
	}
	return true, int64(r.epoch)
}

// utf8Now reports whether the session's client_encoding is UTF8, the encoding of every byte
// vecgate adds to a statement or prints in an answer (candidate keys, distances, its EXPLAIN
// lines). Another encoding forwards the statement: Postgres converts what it sends and
// receives, and raises its own errors (22P05, 22021) where a character does not convert.
// Called after waitIdle: every request sent before has been answered, so a SET client_encoding
// among them has reported its value (Postgres sends ParameterStatus before ReadyForQuery).
func (s *session) utf8Now() bool { ok, _ := s.setting(&s.clientEnc); return ok }

// encodingEpoch is the session's count of client_encoding reports other than UTF8, and -1
// while the encoding is not UTF8 (see stmtInfo.encEpoch).
func (s *session) encodingEpoch() int64 { _, e := s.setting(&s.clientEnc); return e }

// stdStringsNow reports whether the session's standard_conforming_strings is on, as the planner
// reads the statement's string literals (a backslash is an ordinary character in '…') and as
// vecgate writes its rewrite and candidate keys. Off, Postgres reads backslashes in '…' as
// escapes (and may warn of them, 22P06): the statement is forwarded. Called after waitIdle, as
// utf8Now (the setting is reported in ParameterStatus like client_encoding).
func (s *session) stdStringsNow() bool { ok, _ := s.setting(&s.stdStrings); return ok }

// stdStringsEpoch is the session's count of standard_conforming_strings reports other than on,
// and -1 while it is not on (see stmtInfo.stdEpoch).
func (s *session) stdStringsEpoch() int64 { _, e := s.setting(&s.stdStrings); return e }

// waitIdle blocks until every request sent upstream has been answered. It reports false if the
// session closed meanwhile.
//
// A client that sends a query while a COPY FROM STDIN it started is still open breaks the
// protocol; Postgres will say so. waitIdle reports false then instead of waiting for an answer
// that cannot come before the COPY ends.
func (s *session) waitIdle() bool {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	for s.state.Pending > 0 && !s.closed.Load() && !s.inCopyIn {
		s.idle.Wait()
	}
	return !s.closed.Load() && !s.inCopyIn
}

func (s *session) beginCapture() {
	s.stateMu.Lock()
	s.capture = make(chan []byte, 64)
	s.stateMu.Unlock()
}

// endCapture returns the upstream side to plain forwarding. Nothing is in flight when it is
// called: every exchange ran to its ReadyForQuery.
func (s *session) endCapture() {
	s.stateMu.Lock()
	s.capture = nil
	s.stateMu.Unlock()
}
