package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Extended protocol. At Parse the interceptor classifies the statement and the session remembers
// it by name; the client's Parse is forwarded unchanged, so Describe and parameter types stay
// Postgres'. An execution is intercepted when it arrives as one complete group already buffered:
//
//	[Parse] Bind [Describe portal] Execute(all rows) [Sync]
//
// vecgate then (after every earlier request was answered; in a transaction block see block.go) sends
// the client's Parse if there was one, prepares its rewrite under an internal name once per
// session, and runs Bind(rewrite, params + candidate keys) [Describe] Execute Sync, widening as
// for simple queries; the client receives ParseComplete (if it parsed), BindComplete, the
// description, the rows and ReadyForQuery — the messages its own group asked for.
//
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

type group struct {
	parse    []byte // the client's Parse, if the group starts with one
	bind     *pgproto3.Bind
	describe []byte // the client's Describe of the portal, if any
	execute  []byte
	maxRows  uint32   // the Execute's row limit (0: all rows)
	sync     []byte   // nil: the execution is one of a pipeline whose Sync comes later
	raws     [][]byte // every message of the group, for forwarding it unchanged
}

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

// trackParse records which client statements the interceptor wants to see at Bind.
func (s *session) trackParse(body []byte) {
	var p pgproto3.Parse
	if p.Decode(body) != nil {
		return
	}
	if s.dropped.Swap(false) { // statements prepared before a DISCARD ALL or DEALLOCATE ALL are gone
		s.forgetPrepared()
	}
	// Statements that SET knobs, or call set_config() (which may change the role or search_path
	// the table checks depend on), are followed to their executions.
	if ks := s.srv.cfg.Interceptor.Knobs(p.Query); len(ks) > 0 || containsFold(p.Query, "set_config") {
		if s.setStmts == nil {
			s.setStmts = map[string][]Knob{}
		}
		s.setStmts[p.Name] = append([]Knob{}, ks...)
	} else {
		delete(s.setStmts, p.Name)
	}
	if s.stmts == nil {
		s.stmts = map[string]*stmtInfo{}
	}
	st, reason := s.srv.cfg.Interceptor.Prepare(p.Query, p.ParameterOIDs)
	s.parseSeq++
	if st == nil {
		if reason == "" || reason == ReasonNotVector {
			delete(s.stmts, p.Name) // the common case: kept small
			return
		}
		s.stmts[p.Name] = &stmtInfo{reason: reason, sql: p.Query, oids: append([]uint32(nil), p.ParameterOIDs...),
			ascii: isASCII(p.Query), encEpoch: s.encodingEpoch(),
			noBackslash: !strings.Contains(p.Query, `\`), stdEpoch: s.stdStringsEpoch(), seq: s.parseSeq}
		return
	}
	s.stmts[p.Name] = &stmtInfo{st: st, oids: append([]uint32(nil), p.ParameterOIDs...),
		ascii: isASCII(p.Query), encEpoch: s.encodingEpoch(),
		noBackslash: !strings.Contains(p.Query, `\`), stdEpoch: s.stdStringsEpoch(), seq: s.parseSeq}
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

// stmtInfo is a client statement vecgate follows to its executions: st when it may intercept
// them, otherwise the reason they are forwarded.
type stmtInfo struct {
	st     Statement
	oids   []uint32
	reason Reason
	sql    string // when st is nil: the statement, offered again at Bind while indexes load
	// ascii: the statement's text is all ASCII, so it means the same in every client encoding.
	// Otherwise its text was read as UTF8 only if the session's encoding was UTF8 when the Parse
	// arrived and no other was reported since: encEpoch is encodingEpoch() then. (A SET
	// client_encoding still in flight at the Parse reports after it, and so moves the epoch.)
	ascii    bool
	encEpoch int64
	// noBackslash: the statement's text has no backslash, so its string literals mean the same
	// whatever standard_conforming_strings is. Otherwise they were read as the planner reads
	// them only if the setting was on when the Parse arrived and never off since: stdEpoch is
	// stdStringsEpoch() then.
	noBackslash bool
	stdEpoch    int64
	seq         uint64 // the session's count of Parses when this one came (parseRef)
}

// isASCII reports whether s is all 7-bit bytes (the same text in every client encoding Postgres
// supports).
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// bindReason is the reason a Bind (body) forwarded outside an interceptable group is counted
// under.
func (s *session) bindReason(body []byte) Reason {
	_, rest, ok := cString(body)
	if !ok {
		return ReasonNotVector
	}
	name, _, _ := cString(rest)
	switch info := s.stmts[name]; {
	case info == nil:
		return ReasonNotVector
	case info.st == nil:
		return info.reason
	}
	return ReasonPipeline
}

func (s *session) trackClose(body []byte) {
	var c pgproto3.Close
	if c.Decode(body) != nil {
		return
	}
	switch c.ObjectType {
	case 'S':
		delete(s.stmts, c.Name)
		delete(s.setStmts, c.Name)
	case 'P':
		delete(s.setPorts, c.Name)
	}
}

// trackSetExec follows SETs (and set_config calls) sent with the extended protocol (JDBC and
// others send every statement so): a Bind of such a prepared statement names its portal, and
// each Execute of that portal runs it.
func (s *session) trackSetExec(typ byte, body []byte) {
	if len(s.setStmts) == 0 && len(s.setPorts) == 0 {
		return
	}
	portal, rest, ok := cString(body)
	if !ok {
		return
	}
	switch typ {
	case 'B':
		stmt, _, ok := cString(rest)
		if ks, found := s.setStmts[stmt]; ok && found {
			if s.setPorts == nil {
				s.setPorts = map[string][]Knob{}
			}
			s.setPorts[portal] = ks
		} else {
			delete(s.setPorts, portal)
		}
	case 'E':
		if ks, ok := s.setPorts[portal]; ok {
			s.changes.Add(1)
			s.addKnobs(ks)
		}
	}
}

// cString splits a NUL-terminated string off the front of b.
func cString(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// readGroup returns the group starting with the message just read (typ, raw, body) when the
// rest of it is already buffered and has the interceptable form; it consumes nothing.
func (s *session) readGroup(cr *reader, typ byte, raw, body []byte) (*group, int) {
	g := &group{raws: [][]byte{raw}}
	next := cr.peek(5)
	i := 0
	take := func(want byte) ([]byte, bool) {
		if i < len(next) && next[i][0] == want {
			i++
			return next[i-1], true
		}
		return nil, false
	}
	bindRaw := raw
	if typ == 'P' {
		g.parse = raw
		var ok bool
		if bindRaw, ok = take('B'); !ok {
			return nil, 0
		}
		g.raws = append(g.raws, bindRaw)
	}
	var b pgproto3.Bind
	if b.Decode(bindRaw[5:]) != nil {
		return nil, 0
	}
	g.bind = &b
	if typ == 'P' {
		var p pgproto3.Parse
		if p.Decode(body) != nil || p.Name != b.PreparedStatement {
			return nil, 0
		}
	}
	if d, ok := take('D'); ok {
		if len(d) < 6 || d[5] != 'P' {
			return nil, 0
		}
		g.describe = d
		g.raws = append(g.raws, d)
	}
	e, ok := take('E')
	if !ok {
		return nil, 0
	}
	var ex pgproto3.Execute
	if ex.Decode(e[5:]) != nil || ex.Portal != b.DestinationPortal {
		return nil, 0
	}
	g.execute, g.maxRows = e, ex.MaxRows
	g.raws = append(g.raws, e)
	if g.sync, ok = take('S'); ok {
		g.raws = append(g.raws, g.sync)
	}
	return g, i
}

// interceptGroup runs an interceptable group through the pipeline (pipeline.go). It reports
// false when the group must be forwarded as it came (then nothing of it has been sent, or only
// the client's Parse, whose answer was already delivered — reported by parsed).
func (s *session) interceptGroup(w *bufio.Writer, g *group) (handled, parsed bool, err error) {
	e := &execution{g: g, batched: g.sync == nil || s.batch.members > 0}
	s.batch.member, s.batch.limit = g.sync == nil, g.maxRows
	defer func() { s.batch.member, s.batch.limit, s.batch.hold = false, 0, "" }()
	handled, err = s.guarded(w, func() (bool, error) {
		job, reason := e.plan(s)
		if job == nil {
			s.forwarded(reason)
			return false, nil
		}
		return s.intercept(w, job, e)
	})
	return handled, e.parsed, err
}

// execution is the extended protocol's side of an interception: the client's Parse (if the
// group has one) is sent first, vecgate's rewrite is prepared once per session under a name of
// its own, and each round is Bind(rewrite, params + candidate keys) [Describe] Execute Sync.
type execution struct {
	g      *group
	info   *stmtInfo // the client's statement, as trackParse recorded it
	name   string    // vecgate's prepared rewrite
	parsed bool      // the client's Parse was sent and its answer is the client's
	// batched: the execution shares its pipeline (up to a Sync) with others.
	batched bool
	rounds  int // rounds sent
}

// plan plans the group's execution: nil, with the reason, when it is forwarded.
func (e *execution) plan(s *session) (Job, Reason) {
	stmt := e.g.bind.PreparedStatement
	info := s.stmts[stmt] // trackParse ran for the group's Parse already
	if info == nil {
		return nil, ReasonNotVector
	}
	if info.st == nil && (info.reason == ReasonLoading || info.reason == ReasonNoIndex) {
		// Prepared while the indexes loaded (or before this one was built): offered again.
		if st, reason := s.srv.cfg.Interceptor.Prepare(info.sql, info.oids); st != nil {
			info = &stmtInfo{st: st, oids: info.oids, ascii: info.ascii, encEpoch: info.encEpoch,
				noBackslash: info.noBackslash, stdEpoch: info.stdEpoch, seq: info.seq}
			s.stmts[stmt] = info
		} else {
			info.reason = reason
		}
	}
	if info.st == nil {
		return nil, info.reason
	}
	e.info = info
	return info.st.Bind(e.g.bind.Parameters, e.g.bind.ParameterFormatCodes, s.knobValues())
}

func (e *execution) current(s *session) Reason {
	g, info := e.g, e.info
	// The rewrite and the answer are UTF8, and so must the statement's text have been read
	// (a Parse in this group is sent now, in the current encoding).
	if !s.utf8Now() || g.parse == nil && !info.ascii && info.encEpoch != s.encodingEpoch() {
		return ReasonClientEncoding
	}
	// Likewise its string literals, as the planner reads them: standard_conforming_strings on.
	if !s.stdStringsNow() || g.parse == nil && !info.noBackslash && info.stdEpoch != s.stdStringsEpoch() {
		return ReasonStdStrings
	}
	if s.dropped.Swap(false) { // a DISCARD ALL or DEALLOCATE ALL before this group completed
		s.forgetPrepared()
		if g.parse == nil { // the statement is gone: Postgres answers the Bind
			return ReasonNotVector
		}
		s.trackParse(g.parse[5:])
	}
	if g.parse == nil {
		// Its Parse may have been skipped (an error before it in its pipeline) or have failed:
		// then the name means something else to Postgres, which answers the Bind.
		s.dropUnparsed()
		if s.stmts[g.bind.PreparedStatement] != info {
			return ReasonNotVector
		}
	}
	return ""
}

// prepare sends the client's Parse (its answer is delivered first, whatever follows) and
// prepares vecgate's rewrite, when either is needed. (They run after the checks: read-your-writes'
// statements would destroy the unnamed statement, and the client's is needed if the group is
// forwarded after all.)
func (e *execution) prepare(p *interception) *outcome {
	s, g := p.s, e.g
	if e.batched && !p.block && !s.readCommittedDefault(p.job) {
		return p.forward(ReasonTransaction) // one snapshot for the pipeline's statements
	}
	if g.sync == nil && !p.block && g.bind.DestinationPortal != "" {
		// Postgres' portal would live on to the pipeline's Sync (a later Bind of its name fails,
		// an Execute finds it consumed); the rounds' ends with theirs.
		return p.forward(ReasonPortal)
	}
	if portal := g.bind.DestinationPortal; g.maxRows > 0 {
		if g.sync == nil || p.block && portal == "" {
			return p.forward(ReasonPortal) // its portal lives on, for the next Execute
		}
		if p.block {
			s.batch.hold = portal
		}
	}
	e.name = internalName(e.info)
	needParse := !s.internal[e.name]
	if g.parse == nil && !needParse {
		return nil
	}
	var out [][]byte
	if g.parse != nil {
		out = append(out, g.parse)
	}
	if needParse {
		out = append(out, encodeParse(e.name, e.info))
	}
	msgs, _, failed, ok := s.exchangeRaw(p.w, append(out, syncMsg)...)
	if !ok {
		return &outcome{err: errors.New("upstream connection lost")}
	}
	if len(msgs) == 0 || (failed && s.interrupted()) { // cancelled before or during the Parse
		return p.interrupted(nil)
	}
	if g.parse != nil {
		e.parsed = true
		if msgs[0][0] != '1' { // the client's own Parse failed: that error is its answer
			delete(s.stmts, g.bind.PreparedStatement) // Postgres has no such statement
			if s.blockOpen {
				// It failed vecgate's savepoint, not the client's (sub)transaction, as it would
				// have directly: that one fails instead, vecgate's savepoint gone.
				q, _ := (&pgproto3.Query{String: "ROLLBACK TO SAVEPOINT " + blockSavepoint +
					"; RELEASE SAVEPOINT " + blockSavepoint + "; SELECT 1/0"}).Encode(nil)
				if _, _, _, ok := s.sendRecv(p.w, true, q); !ok {
					return &outcome{err: errors.New("upstream connection lost")}
				}
			}
			s.blockOpen = false
			s.endCapture()
			s.forwarded(ReasonError)
			return &outcome{true, s.deliver(msgs[0], readyFor(s.State().TxStatus))}
		}
		p.pre = append(p.pre, msgs[0])
	}
	if failed { // vecgate's rewrite did not prepare: forward this statement from now on
		s.log.Warn("intercept: rewrite did not prepare; forwarding", "statement", g.bind.PreparedStatement)
		delete(s.stmts, g.bind.PreparedStatement)
		return p.forward(ReasonRewriteError)
	}
	if needParse {
		if s.internal == nil {
			s.internal = map[string]bool{}
		}
		s.internal[e.name] = true
	}
	return nil
}

func (e *execution) shape() (bool, []int16) { return e.g.describe != nil, e.g.bind.ResultFormatCodes }
func (e *execution) fastHead() [][]byte     { return [][]byte{bindComplete} }

func (e *execution) round(p *interception, ids string) ([][]byte, int, bool, bool) {
	var out [][]byte
	portal := e.g.bind.DestinationPortal
	// In a block a named portal outlives its round: the next round closes it first.
	reopen := p.block && portal != "" && e.rounds > 0
	if reopen {
		c, _ := (&pgproto3.Close{ObjectType: 'P', Name: portal}).Encode(nil)
		out = append(out, c)
	}
	e.rounds++
	out = append(out, encodeBind(e.g.bind, e.name, ids))
	if e.g.describe != nil {
		out = append(out, e.g.describe)
	}
	execute := e.g.execute
	if e.g.maxRows > 0 { // every row: the rounds count them (the client's limit: limitAnswer)
		execute, _ = (&pgproto3.Execute{Portal: portal}).Encode(nil)
	}
	msgs, rows, failed, ok := p.s.exchangeRaw(p.w, append(out, execute, syncMsg)...)
	if reopen && len(msgs) > 0 && msgs[0][0] == '3' { // CloseComplete: vecgate's own
		msgs = msgs[1:]
	}
	return msgs, rows, failed, ok
}

// interrupted ends an interrupted execution group (cancel.go) with what Postgres would have
// answered: pre (what the client's Parse got), then the Bind's answer and the description —
// from the interrupted round when one ran, else from Postgres, which binds and describes the
// client's own statement (an error there is the group's answer, as directly) — and 57014.
func (e *execution) interrupted(p *interception, round [][]byte) error {
	s, g := p.s, e.g
	if before := answerBefore(round); len(before) > 0 {
		return s.endInterrupted(p.w, slices.Concat(p.pre, before)...)
	}
	var out [][]byte
	if g.parse != nil && !e.parsed {
		out, e.parsed = append(out, g.parse), true
	}
	for _, r := range g.raws {
		if r[0] == 'B' {
			out = append(out, r)
		}
	}
	if g.describe != nil {
		out = append(out, g.describe)
	}
	msgs, _, _, ok := s.sendRecv(p.w, true, append(out, syncMsg)...)
	if !ok {
		return errors.New("upstream connection lost")
	}
	before := slices.Concat(p.pre, answerBefore(msgs))
	if f := failureOf(msgs); f != nil {
		s.blockOpen = false
		s.endCapture()
		s.forwarded(ReasonError)
		return s.deliver(append(before, f, readyFor(s.State().TxStatus))...)
	}
	return s.endInterrupted(p.w, before...)
}

// deliver writes messages to the client in one write (one system call, one TCP segment for a
// typical answer).
func (s *session) deliver(msgs ...[]byte) error {
	if s.batch.limit > 0 {
		var rest [][]byte
		msgs, rest = limitAnswer(msgs, s.batch.limit)
		if s.batch.hold != "" && len(rest) > 0 && failureOf(msgs) == nil {
			s.hold(s.batch.hold, rest)
		}
	}
	if s.batch.member {
		msgs = s.memberAnswer(msgs)
	}
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	if n == 0 {
		return nil
	}
	buf := make([]byte, 0, n)
	for _, m := range msgs {
		buf = append(buf, m...)
	}
	_, err := (clientWriter{s}).Write(buf)
	return err
}

var (
	syncMsg      = []byte{'S', 0, 0, 0, 4}
	bindComplete = []byte{'2', 0, 0, 0, 4}
)

func internalName(info *stmtInfo) string {
	h := fnv.New64a()
	h.Write([]byte(info.st.Rewrite()))
	for _, o := range info.oids {
		_ = binary.Write(h, binary.BigEndian, o)
	}
	return fmt.Sprintf("vecgate_%016x", h.Sum64())
}

func encodeParse(name string, info *stmtInfo) []byte {
	oids := make([]uint32, info.st.Params())
	copy(oids, info.oids) // the client's types where it gave them; the key array's type is in the SQL
	b, _ := (&pgproto3.Parse{Name: name, Query: info.st.Rewrite(), ParameterOIDs: oids}).Encode(nil)
	return b
}

// encodeBind binds vecgate's rewrite with the client's parameters plus the candidate keys (text).
func encodeBind(b *pgproto3.Bind, stmt, ids string) []byte {
	n := len(b.Parameters)
	formats := b.ParameterFormatCodes
	switch {
	case len(formats) == 1 && formats[0] != 0:
		expanded := make([]int16, n+1)
		for i := range n {
			expanded[i] = formats[0]
		}
		formats = expanded
	case len(formats) == n && n > 0:
		formats = append(append([]int16(nil), formats...), 0)
	}
	params := append(append([][]byte(nil), b.Parameters...), []byte(ids))
	out, _ := (&pgproto3.Bind{
		DestinationPortal: b.DestinationPortal, PreparedStatement: stmt,
		ParameterFormatCodes: formats, Parameters: params, ResultFormatCodes: b.ResultFormatCodes,
	}).Encode(nil)
	return out
}

// copyGroup points the group's messages at copies (raws, in the order of g.raws).
func (s *session) copyGroup(g *group, raws [][]byte) *group {
	c := &group{bind: g.bind, raws: raws, maxRows: g.maxRows}
	i := 0
	if g.parse != nil {
		c.parse = raws[i]
		i++
	}
	i++ // the Bind: decode it again from the copy, as Decode keeps slices of its input
	var b pgproto3.Bind
	_ = b.Decode(raws[i-1][5:])
	c.bind = &b
	if g.describe != nil {
		c.describe = raws[i]
		i++
	}
	c.execute = raws[i]
	if g.sync != nil {
		c.sync = raws[i+1]
	}
	return c
}

// forgetPrepared drops what the session knew of prepared statements and portals after a
// DISCARD ALL or DEALLOCATE ALL deallocated them upstream (vecgate's rewrites with the
// client's): a Bind of a dropped name then goes to Postgres, which answers it.
func (s *session) forgetPrepared() {
	clear(s.internal)
	clear(s.stmts)
	clear(s.setStmts)
	clear(s.setPorts)
}
