package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
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
// description, the rows and ReadyForQuery — the messages its own group asked for. Pipelines of
// several executions and row limits: batch.go.

type group struct {
	parse    []byte // the client's Parse, if the group starts with one
	bind     *pgproto3.Bind
	describe []byte // the client's Describe of the portal, if any
	execute  []byte
	maxRows  uint32   // the Execute's row limit (0: all rows)
	sync     []byte   // nil: the execution is one of a pipeline whose Sync comes later
	raws     [][]byte // every message of the group, for forwarding it unchanged
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
		noBackslash: !strings.Contains(p.Query, `\`), stdEpoch: s.stdStringsEpoch(), seq: s.parseSeq,
		typeEpoch: s.srv.catalogEpoch()}
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
	// typeEpoch is the catalog epoch (Config.Catalog) at which the statement's result type, fixed
	// by Postgres at its Parse, was last seen to be its tables' current one: at the Parse, or by
	// a Describe of the statement (verifyType). Past it, an execution describes it again first.
	typeEpoch uint64
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
				noBackslash: info.noBackslash, stdEpoch: info.stdEpoch, seq: info.seq, typeEpoch: info.typeEpoch}
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
	if o := e.verifyType(p); o != nil {
		return o
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

// verifyType makes sure that the client's statement, parsed before this group, still has the
// result type Postgres fixed at its Parse. After its table gained or lost a column (or a column
// changed type), Postgres refuses to run it (0A000, cached plan must not change result type),
// while an answer from the twin, or from vecgate's rewrite prepared later, would carry the
// table's columns as they are now: a client that kept the statement's description (pgx's
// statement cache) then read rows of another width than it holds (found by the soak:
// TestPreparedStarAfterColumnDDL). Postgres answers a Describe of such a statement with that
// error, so vecgate describes the statement once per catalog epoch (the DDL moves it), and
// forwards the group when Postgres refuses: it then gets Postgres' own error.
func (e *execution) verifyType(p *interception) *outcome {
	s, g := p.s, e.g
	epoch := s.srv.catalogEpoch() // read before describing: a change seen meanwhile describes again
	if g.parse != nil || e.info.typeEpoch == epoch {
		return nil
	}
	d, _ := (&pgproto3.Describe{ObjectType: 'S', Name: g.bind.PreparedStatement}).Encode(nil)
	msgs, _, failed, ok := s.exchangeRaw(p.w, d, syncMsg)
	switch {
	case !ok:
		return &outcome{err: errors.New("upstream connection lost")}
	case failed && s.interrupted():
		return p.interrupted(nil)
	case failed || len(msgs) == 0:
		return p.forward(ReasonError)
	}
	e.info.typeEpoch = epoch
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
	if e.g.parse == nil {
		// The client's statement first: its result type is checked again (verifyType) in the
		// same round trip. Between a column's DDL and the stream's seeing it, the epoch has not
		// moved, and vecgate's rewrite would return the table's new columns where Postgres
		// refuses the statement (0A000): the round then fails and the group is forwarded.
		d, _ := (&pgproto3.Describe{ObjectType: 'S', Name: e.g.bind.PreparedStatement}).Encode(nil)
		out = append(out, d)
	}
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
	if e.g.parse == nil && ok {
		// The statement's description is vecgate's to read, not the client's (nor part of an
		// interrupted round's answer): ParameterDescription and RowDescription (or NoData).
		for len(msgs) > 0 && (msgs[0][0] == 't' || msgs[0][0] == 'n' || msgs[0][0] == 'T') {
			kind := msgs[0][0]
			msgs = msgs[1:]
			if kind != 't' {
				break
			}
		}
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
