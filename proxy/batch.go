package proxy

import (
	"bufio"
	"errors"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Pipelines (pgx's Batch: several executions, one Sync). Postgres runs the executions up to a
// Sync in one implicit transaction: a write early in it is visible to the statements after it,
// and after an error it skips every message up to the Sync. vecgate intercepts an execution of a
// pipeline only while nothing of that pipeline has gone to Postgres yet (batchState): the
// leading vector reads are answered one by one, each without ReadyForQuery, and from the first
// statement that goes to Postgres (a write, any other statement, a vector query vecgate
// forwards) the rest of the pipeline, up to and with its Sync, goes there as it came. So a
// vector query after an INSERT of the same pipeline is Postgres' (it sees the row). An
// intercepted execution answered with an error (its Parse failed, a cancel) makes vecgate drop
// the client's messages up to the Sync, as Postgres would have skipped them; a Sync after
// executions vecgate answered alone is answered by vecgate with the session's status. Outside a
// transaction block the implicit transaction has the session's default isolation: under
// REPEATABLE READ or SERIALIZABLE its statements share one snapshot, which answers taken one by
// one cannot give, so such pipelines are forwarded (the table check reads the level).
// Portals: Postgres keeps a portal an execution bound, consumed, to the pipeline's Sync; outside a
// block vecgate's rounds end theirs at their own Sync, so an execution there on a named portal
// is forwarded (ReasonPortal), and the unnamed portal of one vecgate answered is bound and run
// again before the pipeline's first message that goes to Postgres (restoreUnnamed). In a block
// the rewrite's portal is the client's, kept (vecgate's own statements use portals of their own).
//
// Row limits (Execute with max rows > 0, JDBC's fetchSize). vecgate answers such an execution
// whole (the rounds run without the limit, as the widening needs every row) and gives the client
// what Postgres would have sent: the first max rows rows then PortalSuspended — even when exactly
// max rows rows were all there are — or, with fewer rows, all of them and their CommandComplete.
// Outside a transaction block the portal ends with the implicit transaction at the Sync. In a
// block a named portal lives on (JDBC fetches the rest with further Executes): Postgres holds the
// rewrite's portal under the client's name, consumed, created where the client's would have been
// (so it ends when the client's would: the block's end, a ROLLBACK TO an earlier savepoint, a
// Close), and vecgate holds the rows not yet delivered (heldPortal). A later Execute of that
// portal runs on Postgres' consumed portal: when it completes (the portal is still there),
// vecgate answers with the next held rows, cut alike; otherwise Postgres' answer (34000, 25P02)
// is the client's. Unnamed portals in a block, and a portal with more Executes before its Sync,
// are forwarded, limit and all (ReasonPortal); so are cursors.

// batchState follows the client's current pipeline (the messages since its last Sync) for the
// interception of its executions (client goroutine).
type batchState struct {
	members int  // executions of the pipeline vecgate answered (nothing of it went to Postgres)
	member  bool // the running interception is of an execution whose Sync comes later
	skip    bool // such an execution was answered with an error: drop the rest up to the Sync
	// limit is the running interception's row limit (Execute max rows; 0: none), and hold the
	// portal whose rows past it vecgate keeps for later Executes ("": none).
	limit uint32
	hold  string
	// execs counts the Executes and FunctionCalls of the pipeline relayed to Postgres (each
	// completes once, or an error skips the rest); odd: it also relayed a Query, whose answers
	// are not counted so (fetchHeldInline).
	execs int
	odd   bool
	// unnamed is the Bind of the last execution vecgate answered outside a block on the unnamed
	// portal, while no Bind has replaced that portal since: Postgres' would be there, consumed,
	// until the Sync; the rounds' ended with theirs (restoreUnnamed).
	unnamed []byte
}

// restoreUnnamed gives Postgres the unnamed portal a pipeline's execution vecgate answered
// would have left there, consumed, before the first message of the pipeline that goes to
// Postgres, when that does not bind the unnamed portal again (a later Execute must find it
// consumed, a Describe describe it): the client's Bind again and an Execute, their answers
// vecgate's own. (It runs the client's statement in Postgres: a cost only for pipelines that mix
// vector executions vecgate answers with others that leave the unnamed portal alone.)
func (s *session) restoreUnnamed(w *bufio.Writer) error {
	bind := s.batch.unnamed
	s.batch.unnamed = nil
	if err := w.Flush(); err != nil {
		return err
	}
	if !s.waitIdle() {
		return nil
	}
	s.beginCapture()
	defer s.endCapture()
	for _, m := range [][]byte{bind, executeAll, flushMsg} {
		if _, err := w.Write(m); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for {
		select {
		case m := <-s.capture:
			switch m[0] {
			case 'C', 's', 'I', 'E':
				return nil
			}
		case <-s.upDone:
			return errors.New("upstream connection lost")
		}
	}
}

var executeAll = []byte{'E', 0, 0, 0, 9, 0, 0, 0, 0, 0}

// limitAnswer cuts an answer to an Execute with a row limit as Postgres does: past max DataRows
// (or at exactly max: Postgres cannot tell the portal is done before it asks for one more row),
// the first max rows and PortalSuspended instead of the CommandComplete. rest is the rows cut.
func limitAnswer(msgs [][]byte, max uint32) (out, rest [][]byte) {
	rows := 0
	for _, m := range msgs {
		if m[0] == 'D' {
			rows++
		}
	}
	if rows < int(max) {
		return msgs, nil
	}
	out = make([][]byte, 0, len(msgs))
	kept := 0
	for _, m := range msgs {
		switch {
		case m[0] == 'D' && kept == int(max):
			rest = append(rest, m)
			continue
		case m[0] == 'D':
			kept++
		case m[0] == 'C':
			m = portalSuspended
		}
		out = append(out, m)
	}
	return out, rest
}

// heldPortal is what vecgate holds of a row-limited portal it answered in a transaction block:
// the rows not yet delivered (see Row limits above).
type heldPortal struct {
	rows  [][]byte
	idles uint64 // State.Idles when held: a later count means its block ended
}

// hold keeps rows for later Executes of portal.
func (s *session) hold(portal string, rows [][]byte) {
	idles := s.State().Idles
	if s.held == nil {
		s.held = map[string]*heldPortal{}
	}
	for name, h := range s.held {
		if h.idles != idles { // its block ended: Postgres has no such portal either
			delete(s.held, name)
		}
	}
	s.held[portal] = &heldPortal{rows: rows, idles: idles}
}

// releaseHeld forgets a held portal the client binds again or closes (typ, body: its Bind or
// Close): from then on Postgres answers for that name.
func (s *session) releaseHeld(typ byte, body []byte) {
	switch typ {
	case 'B':
		if name, _, ok := cString(body); ok {
			delete(s.held, name)
		}
	case 'C':
		if len(body) > 0 && body[0] == 'P' {
			if name, _, ok := cString(body[1:]); ok {
				delete(s.held, name)
			}
		}
	}
}

// fetchHeldInline answers an Execute (body) of a portal vecgate holds rows of that comes after
// messages of its pipeline relayed to Postgres (JDBC sends the Close of statements it no longer
// needs before a fetch): the Execute goes on to Postgres with a Flush, and vecgate reads the
// answers to the relayed messages (passed on to the client) up to the Execute's own — the one
// completing after the pipeline's relayed Executes (batchState.execs) — which, as in fetchHeld,
// says whether the client's portal is still there. An error before it means Postgres skipped it,
// as it would have skipped the client's. Past a Query in the pipeline (odd) vecgate cannot tell
// the answers apart: the portal's rows are dropped and the Execute relayed — a wrong answer
// (its rows missing) in a case no client library was seen to send, logged.
func (s *session) fetchHeldInline(w *bufio.Writer, raw, body []byte) (bool, error) {
	ex, h, err := s.heldExecute(w, body)
	if h == nil || err != nil {
		return false, err
	}
	defer s.endCapture()
	s.batch.execs++ // the Execute goes upstream, as relayed
	if _, err := w.Write(raw); err != nil {
		return false, err
	}
	if _, err := w.Write(flushMsg); err != nil {
		return false, err
	}
	if err := w.Flush(); err != nil {
		return false, err
	}
	var out [][]byte
	for done := 0; ; {
		var m []byte
		select {
		case m = <-s.capture:
		case <-s.upDone:
			return true, errors.New("upstream connection lost")
		}
		switch m[0] {
		case '1': // a relayed Parse's answer, read here instead of by the upstream reader
			s.stateMu.Lock()
			s.parseAnswered('1')
			s.stateMu.Unlock()
		case 'C', 's', 'I', 'V':
			done++
		case 'E':
			delete(s.held, ex.Portal) // whatever it was, Postgres answers for the portal from now on
			return true, s.deliver(append(out, m)...)
		}
		if done < s.batch.execs {
			out = append(out, m)
			continue
		}
		if m[0] == 'C' {
			return true, s.deliver(append(out, s.nextHeld(ex, h)...)...)
		}
		delete(s.held, ex.Portal)
		return true, s.deliver(append(out, m)...)
	}
}

// nextHeld is the answer to an Execute ex of held portal h that Postgres found still there: the
// next held rows, cut as Postgres cuts them, and when none are left past them, their
// CommandComplete (the portal is then forgotten: Postgres' consumed one answers for it).
func (s *session) nextHeld(ex pgproto3.Execute, h *heldPortal) [][]byte {
	cc, _ := (&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.Itoa(len(h.rows)))}).Encode(nil)
	answer := append(slices.Clip(h.rows), cc)
	if ex.MaxRows > 0 && len(h.rows) >= int(ex.MaxRows) {
		answer, h.rows = limitAnswer(answer, ex.MaxRows)
		return answer
	}
	delete(s.held, ex.Portal)
	return answer
}

var flushMsg = []byte{'H', 0, 0, 0, 4}

// heldExecute starts the answer to an Execute (body) of a held portal: once every earlier
// request was answered, capturing the upstream side. h is nil when the Execute is not one vecgate
// answers (it is relayed then).
func (s *session) heldExecute(w *bufio.Writer, body []byte) (ex pgproto3.Execute, h *heldPortal, err error) {
	if ex.Decode(body) != nil || s.held[ex.Portal] == nil {
		return ex, nil, nil
	}
	if s.batch.odd {
		s.log.Warn("intercept: a held portal's Execute after a Query in its pipeline; relayed", "portal", ex.Portal)
		delete(s.held, ex.Portal)
		return ex, nil, nil
	}
	if err := w.Flush(); err != nil {
		return ex, nil, err
	}
	if !s.waitIdle() {
		delete(s.held, ex.Portal)
		return ex, nil, nil
	}
	s.beginCapture()
	return ex, s.held[ex.Portal], nil
}

// fetchHeld answers an Execute (body) of a portal vecgate holds rows of, when nothing of the
// client's pipeline has gone to Postgres before it. Postgres runs the Execute on the consumed
// portal it holds under that name: an answer that completes says the client's portal is still
// there, and vecgate gives the next held rows instead, cut as Postgres cuts them; any other
// answer (the portal is gone: 34000; the block failed: 25P02) is the client's. The answer ends
// without ReadyForQuery, as an execution of a pipeline (batchState): the client's Sync follows.
func (s *session) fetchHeld(w *bufio.Writer, raw, body []byte) (bool, error) {
	ex, h, err := s.heldExecute(w, body)
	if h == nil || err != nil {
		return false, err
	}
	msgs, _, _, ok := s.exchangeRaw(w, raw, syncMsg)
	s.endCapture()
	if !ok {
		return false, errors.New("upstream connection lost")
	}
	if len(msgs) == 0 {
		return false, errors.New("upstream: no answer")
	}
	answer := msgs
	if msgs[0][0] == 'C' {
		answer = s.nextHeld(ex, h)
	} else {
		delete(s.held, ex.Portal) // gone, or the block failed: Postgres answers for it from now on
	}
	s.batch.member = true
	defer func() { s.batch.member = false }()
	s.batch.members++
	return true, s.deliver(answer...)
}

var portalSuspended = []byte{'s', 0, 0, 0, 4}

// memberAnswer is the answer to an execution whose pipeline's Sync comes later: without the
// ReadyForQuery (the Sync's own answer), and when it is an error, the rest of the pipeline is
// skipped, as Postgres skips it.
func (s *session) memberAnswer(msgs [][]byte) [][]byte {
	if n := len(msgs); n > 0 && msgs[n-1][0] == 'Z' {
		msgs = msgs[:n-1]
	}
	if failureOf(msgs) != nil {
		s.batch.skip = true
	}
	return msgs
}

// readCommittedDefault reports whether the session's table check for job found the implicit
// transactions of its pipelines READ COMMITTED (each statement its own snapshot).
func (s *session) readCommittedDefault(job Job) bool {
	return s.accessCache[job.TableCheck()].isolation == "read committed"
}

// Parses that Postgres never ran. trackParse records a statement when its Parse goes upstream,
// but Postgres skips a Parse after an error of its pipeline (and a Parse may fail itself): a
// later execution of that name must reach Postgres, which answers it (26000, or the statement the
// name still means), not vecgate. Each relayed Parse is queued, in order, with a marker for each
// relayed message that ends with ReadyForQuery (Sync, Query, FunctionCall); the upstream reader
// takes the next Parse off the queue at each ParseComplete, and at each ReadyForQuery the Parses
// left before its marker — never parsed — to unparsed; the client goroutine then forgets them
// (dropUnparsed), if their name still means that Parse (seq).

// parseRef is a relayed Parse (name, and stmtInfo.seq, 0 for one not tracked), or a marker.
type parseRef struct {
	name   string
	seq    uint64
	marker bool
}

// relayedParse queues a client Parse (body) about to be relayed upstream.
func (s *session) relayedParse(body []byte) {
	name, _, ok := cString(body)
	if !ok {
		return
	}
	var seq uint64
	if info := s.stmts[name]; info != nil {
		seq = info.seq
	}
	s.stateMu.Lock()
	s.parseQ = append(s.parseQ, parseRef{name: name, seq: seq})
	s.stateMu.Unlock()
}

// relayedSync queues the marker of a relayed message that ends with ReadyForQuery.
func (s *session) relayedSync() {
	s.stateMu.Lock()
	s.parseQ = append(s.parseQ, parseRef{marker: true})
	s.stateMu.Unlock()
}

// parseAnswered follows a ParseComplete ('1') or ReadyForQuery ('Z') of a relayed request in
// the queue (see above). Called with stateMu held.
func (s *session) parseAnswered(typ byte) {
	switch typ {
	case '1':
		if len(s.parseQ) > 0 && !s.parseQ[0].marker {
			s.parseQ = s.parseQ[1:]
		}
	case 'Z':
		for len(s.parseQ) > 0 {
			r := s.parseQ[0]
			s.parseQ = s.parseQ[1:]
			if r.marker {
				break
			}
			if r.seq != 0 {
				s.unparsed = append(s.unparsed, r)
			}
		}
	}
}

// dropUnparsed forgets the statements whose Parse Postgres never ran (see above).
func (s *session) dropUnparsed() {
	s.stateMu.Lock()
	refs := s.unparsed
	s.unparsed = nil
	s.stateMu.Unlock()
	for _, r := range refs {
		if info := s.stmts[r.name]; info != nil && info.seq == r.seq {
			delete(s.stmts, r.name)
		}
	}
}
