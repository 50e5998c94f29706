package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// State is what the proxy knows of a session's upstream transaction, from the messages it relays.
type State struct {
	// TxStatus is the last ReadyForQuery status: 'I' idle, 'T' in a transaction, 'E' in a failed
	// transaction; 0 before the first.
	TxStatus byte
	// WroteInTxn is set when the current transaction (or the autocommit statement running) has
	// run a command that writes: any command tag outside the read-only set (SELECT, SHOW, SET,
	// BEGIN, FETCH, …) or a COPY FROM. A SELECT that calls a writing function is not seen; the
	// planner confirms with Postgres (pg_current_xact_id_if_assigned) before trusting it.
	WroteInTxn bool
	// CommittedWrites counts transactions that wrote and then ended while idle: the session's
	// next read must see those writes (read-your-writes).
	CommittedWrites uint64
	// MaybeWrote is set when the current transaction (or autocommit statement) ran a client
	// statement that may have written whatever its tag says: any but a read-only utility
	// command (a SELECT calling a function that inserts, a data-modifying CTE, FETCH of such a
	// cursor, EXPLAIN ANALYZE, COPY (query) TO, CALL, DO). vecgate's own statements do not count.
	MaybeWrote bool
	// MaybeWrites counts transactions that ended while idle after MaybeWrote: the next
	// intercepted read waits for the upstream's WAL position, as after CommittedWrites.
	MaybeWrites uint64
	// Pending counts Query and Sync messages sent upstream whose ReadyForQuery has not come back.
	Pending int
	// Idles counts ReadyForQuery messages with status idle: each ends a transaction (a block or
	// an autocommit statement).
	Idles uint64
}

type session struct {
	srv    *Server
	id     uint64
	log    *slog.Logger
	client net.Conn
	start  time.Time

	// Set during startup, read-only afterwards.
	params    map[string]string
	pid       uint32
	secret    []byte
	upPID     uint32
	upSecret  []byte
	upConn    net.Conn
	connMu    sync.Mutex // guards replacing client (TLS) and setting upConn against close
	closeOnce sync.Once
	clientMu  sync.Mutex // serialises writes to client
	stateMu   sync.Mutex
	state     State // guarded by stateMu
	inCopyIn  bool  // guarded by stateMu: CopyInResponse seen, CommandComplete will be COPY FROM
	// commitTag: a COMMIT tag since the last idle ReadyForQuery (a COMMIT that fails, on a
	// deferred constraint, answers with an error and no tag; COMMIT of a failed block answers
	// ROLLBACK). Guarded by stateMu.
	commitTag bool
	failedReq bool                 // guarded by stateMu: an error or a ROLLBACK since the last ReadyForQuery
	idle      *sync.Cond           // on stateMu: broadcast when Pending drops to 0 and at close
	capture   chan []byte          // guarded by stateMu: non-nil while an intercepted statement runs
	upDone    chan struct{}        // closed when upstreamToClient ends
	seenWrite uint64               // CommittedWrites already made visible to intercepted reads (client goroutine)
	seenMaybe uint64               // MaybeWrites likewise (client goroutine)
	stmts     map[string]*stmtInfo // client statements the interceptor wants at Bind (client goroutine)
	internal  map[string]bool      // vecgate's rewrites prepared upstream in this session (client goroutine)
	ownSeq    uint64               // names vecgate's one-off statements (ownStatements; client goroutine)
	// dropped: a DISCARD ALL or DEALLOCATE ALL completed upstream, which deallocated vecgate's
	// rewrites too (set by the upstream reader; the client goroutine then forgets internal).
	dropped atomic.Bool
	knobs   knobState // guarded by stateMu: session knobs vecgate follows
	// clientEnc is the session's client_encoding as Postgres last reported it: vecgate
	// intercepts only while it is UTF8 (the bytes its rewrites and answers hold); see utf8Now.
	// stdStrings is its standard_conforming_strings: intercepted only while on; see
	// stdStringsNow. Both guarded by stateMu.
	clientEnc  reported
	stdStrings reported
	setStmts   map[string][]Knob // prepared statements that SET knobs (client goroutine)
	setPorts   map[string][]Knob // portals bound to those statements (client goroutine)
	batch      batchState        // the client's current pipeline (batch.go; client goroutine)
	parseSeq   uint64            // counts the client's Parses (stmtInfo.seq; client goroutine)
	// parseQ: relayed Parses awaiting their answer; unparsed: those Postgres never ran, for the
	// client goroutine to forget (batch.go). Guarded by stateMu.
	parseQ   []parseRef
	unparsed []parseRef
	held     map[string]*heldPortal // row-limited portals vecgate answered in a block (batch.go; client goroutine)
	// Reads in transaction blocks (block.go; client goroutine): blockOpen while vecgate's
	// savepoint is set, blockForward = State.Idles+1 of a block found unfit for interception.
	blockOpen    bool
	blockForward uint64
	descs        map[string][]byte      // RowDescriptions of intercepted statements, for fast answers (client goroutine)
	accessCache  map[string]accessEntry // fast-path access checks (client goroutine)
	// changes counts what may have changed the session's table checks (fast.go): commands that
	// completed upstream and are not plain reading and writing (counted by the upstream reader,
	// see plainTags), and statements calling set_config() (counted by the client goroutine).
	changes atomic.Uint64
	// ran counts client requests run in Postgres (not answered by vecgate), and answered marks
	// the one being handled as answered by vecgate, from memory or through its rewrite (client
	// goroutine; fast.go).
	ran      uint64
	answered bool
	// tallied: the client statement being handled was counted (Config.Observer), as intercepted
	// or forwarded with a reason; each is counted once. began: when its handling began (client
	// goroutine).
	tallied bool
	began   time.Time
	intr    interruption // cancel and statement_timeout of the running interception (cancel.go)
	closed  atomic.Bool
}

func newSession(srv *Server, c net.Conn) *session {
	id := srv.nextID.Add(1)
	s := &session{
		srv:    srv,
		id:     id,
		log:    srv.log.With("session", id, "remote", c.RemoteAddr().String()),
		client: c,
		start:  time.Now(),
		upDone: make(chan struct{}),

		clientEnc:  reported{want: "UTF8"},
		stdStrings: reported{want: "on"},
	}
	s.idle = sync.NewCond(&s.stateMu)
	return s
}

func (s *session) info() SessionInfo {
	s.stateMu.Lock()
	st := s.state
	s.stateMu.Unlock()
	return SessionInfo{
		ID: s.id, RemoteAddr: s.client.RemoteAddr().String(), Started: s.start, State: st,
		User: s.params["user"], Database: s.params["database"], ApplicationName: s.params["application_name"],
	}
}

// State returns a copy of the session's transaction state.
func (s *session) State() State {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.state
}

func (s *session) close() {
	s.closeOnce.Do(func() {
		s.connMu.Lock()
		defer s.connMu.Unlock()
		s.closed.Store(true)
		s.stateMu.Lock()
		s.idle.Broadcast()
		s.stateMu.Unlock()
		_ = s.client.Close()
		if s.upConn != nil {
			_ = s.upConn.Close()
		}
	})
}

func (s *session) writeClient(b []byte) error {
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	_, err := s.client.Write(b)
	return err
}

// fail sends the client an error and ends the session.
func (s *session) fail(code, msg string) {
	_ = s.client.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = s.writeClient(errorResponse("FATAL", code, msg))
}

func (s *session) run() {
	defer s.close()
	defer func() {
		if r := recover(); r != nil { // a bug, never input: keep the process up
			s.log.Error("session panic", "panic", r)
			s.fail("XX000", "vecgate: internal error")
		}
	}()
	cr := newReader(s.client, s.srv.cfg.MaxMessageSize)
	_ = s.client.SetDeadline(time.Now().Add(s.srv.cfg.StartupTimeout))
	ur, ok := s.startup(cr)
	if !ok {
		return
	}
	_ = s.client.SetDeadline(time.Time{})
	s.log.Debug("session started", "user", s.params["user"], "database", s.params["database"])
	s.relay(cr, ur)
}

// startup handles the startup phase: SSL/GSS negotiation, cancel requests, the startup packet, the
// upstream connection and the relayed authentication exchange, up to the first ReadyForQuery.
func (s *session) startup(cr *reader) (*reader, bool) {
	pkt, ok := s.negotiate(cr)
	if !ok {
		return nil, false
	}
	params, err := decodeStartupParams(pkt)
	if err != nil {
		s.fail("08P01", "invalid startup packet layout: "+err.Error())
		return nil, false
	}
	s.params = params
	if v, ok := params["replication"]; ok && !isFalse(v) {
		s.fail("0A000", "vecgate: replication connections are not proxied; connect to Postgres directly for replication")
		return nil, false
	}

	up, ok := s.connectUpstream(pkt)
	if !ok {
		return nil, false
	}
	return s.authenticate(cr, up)
}

// negotiate reads startup-phase packets up to the startup packet, which it returns: it answers
// SSL and GSSAPI encryption requests (switching to TLS when configured) and passes cancel requests
// on (then, and on any failure, it reports false).
func (s *session) negotiate(cr *reader) ([]byte, bool) {
	tlsDone := false
	for {
		pkt, err := cr.startup()
		if err != nil {
			s.startupError(err)
			return nil, false
		}
		code := binary.BigEndian.Uint32(pkt)
		switch code {
		case codeSSLRequest:
			if cr.buffered() > 0 {
				s.fail("08P01", "received unencrypted data after SSL request")
				return nil, false
			}
			if s.srv.cfg.TLS == nil || tlsDone {
				if _, err := s.client.Write([]byte{'N'}); err != nil {
					return nil, false
				}
				continue
			}
			if _, err := s.client.Write([]byte{'S'}); err != nil {
				return nil, false
			}
			tc := tls.Server(s.client, s.srv.cfg.TLS)
			if err := tc.Handshake(); err != nil {
				s.log.Info("client tls handshake failed", "err", err)
				return nil, false
			}
			s.connMu.Lock()
			s.client, tlsDone = tc, true
			s.connMu.Unlock()
			cr.src = tc
			continue
		case codeGSSRequest:
			if cr.buffered() > 0 {
				s.fail("08P01", "received unencrypted data after GSSAPI encryption request")
				return nil, false
			}
			if _, err := s.client.Write([]byte{'N'}); err != nil {
				return nil, false
			}
			continue
		case codeCancel:
			var req pgproto3.CancelRequest
			if err := req.Decode(pkt); err != nil {
				s.log.Info("malformed cancel request", "err", err)
				return nil, false
			}
			s.srv.cancel(req.ProcessID, req.SecretKey)
			return nil, false
		}
		if code>>16 != 3 {
			// What Postgres answers for a protocol it does not speak.
			s.fail("0A000", fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0 to 3.0", code>>16, code&0xffff))
			return nil, false
		}
		return pkt, true
	}
}

// connectUpstream connects to Postgres for the session and sends it the client's startup
// packet as it came (the server negotiates the protocol version).
func (s *session) connectUpstream(pkt []byte) (net.Conn, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.DialTimeout)
	up, err := s.srv.up.dial(ctx)
	cancel()
	if err != nil {
		s.log.Warn("upstream connect failed", "err", err)
		s.fail("08001", "vecgate: could not connect to upstream server: "+err.Error())
		return nil, false
	}
	s.connMu.Lock()
	s.upConn = up
	closed := s.closed.Load()
	s.connMu.Unlock()
	if closed { // Shutdown raced with us
		_ = up.Close()
		return nil, false
	}
	// Forward the client's startup packet as it came: the server negotiates the protocol version.
	raw := make([]byte, 4+len(pkt))
	binary.BigEndian.PutUint32(raw, uint32(len(raw)))
	copy(raw[4:], pkt)
	if _, err := up.Write(raw); err != nil {
		s.fail("08006", "vecgate: upstream connection lost during startup: "+err.Error())
		return nil, false
	}
	return up, true
}

// authenticate relays the authentication exchange between the client and up, up to the first
// ReadyForQuery, and returns the upstream reader.
func (s *session) authenticate(cr *reader, up net.Conn) (*reader, bool) {
	_ = up.SetDeadline(time.Now().Add(s.srv.cfg.StartupTimeout))
	ur := newReader(up, 1<<30)
	for {
		typ, msg, body, err := ur.next()
		if err != nil {
			s.fail("08006", "vecgate: upstream connection lost during startup: "+err.Error())
			return nil, false
		}
		switch typ {
		case 'R':
			if len(body) < 4 {
				s.fail("08P01", "vecgate: malformed authentication request from upstream")
				return nil, false
			}
			if err := s.writeClient(msg); err != nil {
				return nil, false
			}
			switch binary.BigEndian.Uint32(body) {
			case pgproto3.AuthTypeOk, pgproto3.AuthTypeSASLFinal:
				continue
			}
			// Every other request expects one password-type ('p') message from the client.
			ctyp, cmsg, _, err := cr.next()
			if err != nil {
				s.startupError(err)
				return nil, false
			}
			if ctyp != 'p' {
				s.fail("08P01", fmt.Sprintf("expected password response, got message type %q", ctyp))
				return nil, false
			}
			if _, err := up.Write(cmsg); err != nil {
				return nil, false
			}
		case 'K':
			var k pgproto3.BackendKeyData
			if err := k.Decode(body); err != nil {
				s.fail("08P01", "vecgate: malformed BackendKeyData from upstream")
				return nil, false
			}
			s.upPID, s.upSecret = k.ProcessID, k.SecretKey
			s.srv.register(s, len(k.SecretKey))
			own, _ := (&pgproto3.BackendKeyData{ProcessID: s.pid, SecretKey: s.secret}).Encode(nil)
			if err := s.writeClient(own); err != nil {
				return nil, false
			}
		case 'E':
			_ = s.writeClient(msg) // the server's own error (bad password, no such database, …)
			return nil, false
		case 'Z':
			s.observe('Z', body)
			if err := s.writeClient(msg); err != nil {
				return nil, false
			}
			_ = up.SetDeadline(time.Time{})
			return ur, true
		default: // ParameterStatus, NegotiateProtocolVersion, NoticeResponse
			if typ == 'S' {
				s.observe(typ, body)
			}
			if err := s.writeClient(msg); err != nil {
				return nil, false
			}
		}
	}
}

func (s *session) startupError(err error) {
	switch {
	case errors.Is(err, errProtocol):
		s.fail("08P01", err.Error())
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		// The client went away (psql probes with SSLRequest then reconnects, port scanners, …).
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.log.Info("client closed mid-message during startup")
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.fail("08P01", "vecgate: startup timed out")
			return
		}
		s.log.Info("startup read failed", "err", err)
	}
}

// decodeStartupParams reads the name/value pairs of a protocol 3.x startup packet (pkt starts with
// the version word).
func decodeStartupParams(pkt []byte) (map[string]string, error) {
	params := make(map[string]string)
	b := pkt[4:]
	for {
		i := indexZero(b)
		if i < 0 {
			return nil, errors.New("missing terminator")
		}
		if i == 0 {
			if len(b) != 1 {
				return nil, errors.New("data after terminator")
			}
			break
		}
		name := string(b[:i])
		b = b[i+1:]
		j := indexZero(b)
		if j < 0 {
			return nil, fmt.Errorf("missing value for parameter %q", name)
		}
		params[name] = string(b[:j])
		b = b[j+1:]
	}
	if params["user"] == "" {
		return nil, errors.New("no PostgreSQL user name specified in startup packet")
	}
	if params["database"] == "" {
		params["database"] = params["user"]
	}
	return params, nil
}

func indexZero(b []byte) int { return bytes.IndexByte(b, 0) }

func isFalse(v string) bool {
	switch strings.ToLower(v) {
	case "false", "off", "no", "0", "f", "n":
		return true
	}
	return false
}

// relay runs both directions until either side ends. Client messages are framed and checked
// (size, type) and forwarded in batches; upstream messages are framed too, for the session state
// and for interception, and written to the client in batches.
func (s *session) relay(cr, ur *reader) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.upstreamToClient(ur)
	}()
	err := s.clientToUpstream(cr)
	switch {
	case errors.Is(err, errTerminate):
		// The server finishes what was queued before the Terminate, sends the results, and closes;
		// the client may still be reading them.
		<-done
		s.close()
		return
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.Is(err, errProtocol):
		s.log.Info("client protocol violation", "err", err)
		s.fail("08P01", err.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.log.Info("client closed mid-message")
	default:
		if !s.closed.Load() {
			s.log.Info("client read failed", "err", err)
		}
	}
	// A client that leaves while a query runs must not leave it running upstream.
	if !s.closed.Load() && s.State().Pending > 0 {
		s.cancelUpstream()
	}
	s.close()
	<-done
}

// errTerminate ends the client side after a Terminate message was forwarded.
var errTerminate = errors.New("client sent Terminate")

func (s *session) clientToUpstream(cr *reader) error {
	w := bufio.NewWriterSize(s.upConn, 64<<10)
	unsynced := false // extended-protocol messages sent since the last Sync
	ic := s.srv.cfg.Interceptor
	relayReason := ReasonPipeline // why a statement the interceptor is not offered is forwarded
	if db := s.srv.cfg.Database; db != "" && s.params["database"] != db {
		ic = nil // another database than the one the indexes follow: relay only
		relayReason = ReasonOtherDatabase
	}
	for {
		if cr.buffered() < 5 {
			if err := w.Flush(); err != nil {
				return nil // upstream gone: the other direction reports it
			}
		}
		typ, n, err := cr.header()
		if err != nil {
			return err
		}
		if s.batch.skip && typ != 'S' && typ != 'X' {
			// An execution of this pipeline vecgate answered failed: Postgres would skip the
			// rest up to the Sync, unread (batch.go).
			if typ == 'B' {
				s.beginStatement()
				s.forwarded(ReasonPipeline)
			}
			if err := cr.stream(io.Discard, n); err != nil {
				return err
			}
			continue
		}
		if typ == 'd' && n > readerChunk {
			if err := cr.stream(w, n); err != nil {
				return err
			}
			continue
		}
		typ, raw, body, err := cr.next()
		if err != nil {
			return err
		}
		if ic != nil {
			switch typ {
			case 'P':
				s.trackParse(body)
			case 'C':
				s.trackClose(body)
			case 'B', 'E':
				s.trackSetExec(typ, body)
			}
			if len(s.held) > 0 {
				if typ == 'E' {
					fetch := s.fetchHeld
					if unsynced {
						fetch = s.fetchHeldInline
					}
					if handled, err := fetch(w, raw, body); err != nil || handled {
						if err != nil {
							return err
						}
						continue
					}
				}
				s.releaseHeld(typ, body)
			}
			if (typ == 'P' || typ == 'B') && !unsynced {
				if g, n := s.readGroup(cr, typ, raw, body); g != nil {
					up, open, err := s.relayGroup(w, cr, g, n)
					if !up || err != nil {
						return err
					}
					unsynced = open
					continue
				}
			}
		}
		if s.batch.unnamed != nil && !unsynced && strings.IndexByte("PBEDCF", typ) >= 0 {
			// The first message of the pipeline to go to Postgres: the unnamed portal it may use
			// must be there first, unless it binds (or parses then binds) another.
			next := cr.peek(1)
			if !bindsUnnamed(typ, body) && !(typ == 'P' && len(next) == 1 && bindsUnnamed(next[0][0], next[0][5:])) {
				if err := s.restoreUnnamed(w); err != nil {
					return err
				}
			}
			s.batch.unnamed = nil
		}
		switch typ {
		case 'Q':
			// A Query ends the pipeline's own answers (its ReadyForQuery); in a pipeline vecgate
			// relayed, its answers are not followed (fetchHeldInline).
			s.batch = batchState{odd: unsynced}
			s.mayChangeChecks(body)
			handled := false
			s.beginStatement()
			if ic != nil && !unsynced {
				var err error
				if handled, err = s.interceptQuery(w, body); err != nil {
					s.forwarded(ReasonUpstreamLost)
					return err
				}
				s.forwarded(ReasonOther) // every path counts; this catches one that did not
			} else if s.srv.cfg.Interceptor != nil {
				s.forwarded(relayReason)
			}
			s.ranUpstream()
			if handled {
				continue
			}
			s.addPending()
		case 'S':
			own := !unsynced && (s.batch.members > 0 || s.batch.skip) && s.State().Pending == 0
			unsynced, s.batch = false, batchState{}
			if own { // the pipeline's executions were all vecgate's: Postgres has nothing to sync
				if err := s.deliver(readyFor(s.State().TxStatus)); err != nil {
					return err
				}
				continue
			}
			s.addPending()
		case 'P', 'B', 'E', 'D', 'C', 'H', 'F':
			if typ != 'H' { // a Flush asks nothing of Postgres: the pipeline stays vecgate's
				unsynced = true
			}
			if typ == 'B' && s.srv.cfg.Interceptor != nil { // an execution not sent as one group
				s.beginStatement()
				if ic == nil {
					s.forwarded(relayReason)
				} else {
					s.forwarded(s.bindReason(body))
				}
			}
			if typ == 'F' { // a function call may call set_config
				s.changes.Add(1)
			}
			if typ == 'D' {
				// Postgres describes the statement as the catalog is now (a column added since
				// the session's table check): the next answer from memory must agree with what
				// the client now holds, so the check runs again (TestDescribedAfterAddColumn).
				s.ran++
			}
			if typ == 'E' || typ == 'F' {
				s.ranUpstream()
			}
		case 'X':
			_, _ = w.Write(raw)
			if w.Flush() != nil {
				return nil
			}
			return errTerminate
		}
		if ic != nil {
			switch typ {
			case 'P':
				s.relayedParse(body)
			case 'S', 'Q', 'F':
				s.relayedSync()
			}
			if typ == 'E' || typ == 'F' {
				s.batch.execs++
			}
		}
		if _, err := w.Write(raw); err != nil {
			return nil
		}
	}
}

// relayGroup handles an interceptable execution group (readGroup; n its messages past the
// first, still buffered in cr): intercepted, or forwarded as it came. It reports up false when
// the upstream connection is gone, and open when the group went to Postgres without a Sync (the
// rest of its pipeline goes there too).
func (s *session) relayGroup(w *bufio.Writer, cr *reader, g *group, n int) (up, open bool, err error) {
	raws := make([][]byte, len(g.raws)) // the reader may reuse its buffer
	for i, r := range g.raws {
		raws[i] = append([]byte(nil), r...)
	}
	g = s.copyGroup(g, raws)
	cr.skip(n)
	s.beginStatement()
	handled, parsed, err := s.interceptGroup(w, g)
	if err != nil {
		s.forwarded(ReasonUpstreamLost) // not a path vecgate chose: the connection went
	}
	s.forwarded(ReasonOther) // every path counts; this catches one that did not
	s.ranUpstream()
	if err != nil {
		return false, false, err
	}
	if handled {
		if g.sync == nil {
			s.batch.members++
			if g.bind.DestinationPortal == "" && s.State().TxStatus == 'I' {
				for _, r := range raws {
					if r[0] == 'B' {
						s.batch.unnamed = r
					}
				}
			}
		} else {
			s.batch = batchState{}
		}
		return true, false, nil
	}
	for _, r := range raws[1:] { // the first was tracked by the caller
		s.trackSetExec(r[0], r[5:])
	}
	if s.batch.unnamed != nil {
		if g.bind.DestinationPortal != "" { // the unnamed portal stays: it must be there (restoreUnnamed)
			if err := s.restoreUnnamed(w); err != nil {
				return false, false, err
			}
		}
		s.batch.unnamed = nil
	}
	if parsed {
		raws = raws[1:]
	}
	for _, r := range raws {
		switch r[0] {
		case 'P':
			s.relayedParse(r[5:])
		case 'S':
			s.relayedSync()
		case 'E':
			s.batch.execs++
		}
	}
	if g.sync != nil {
		s.batch = batchState{}
		s.addPending()
	}
	for _, r := range raws {
		if _, err := w.Write(r); err != nil {
			return false, false, nil
		}
	}
	return true, g.sync == nil, nil
}

// bindsUnnamed reports whether a client message (typ, body) is a Bind to the unnamed portal.
func bindsUnnamed(typ byte, body []byte) bool {
	return typ == 'B' && len(body) > 0 && body[0] == 0
}

func (s *session) addPending() {
	s.stateMu.Lock()
	s.state.Pending++
	s.stateMu.Unlock()
}

// clientWriter writes to the client under clientMu.
type clientWriter struct{ s *session }

func (c clientWriter) Write(p []byte) (int, error) {
	c.s.clientMu.Lock()
	defer c.s.clientMu.Unlock()
	return c.s.client.Write(p)
}

// upstreamToClient forwards what the server sends. Messages are framed so the session state can
// follow them and so that, while the client side runs an intercepted statement, the server's
// answers go to it (capture) instead of to the client. Writes are batched until no further
// message is already buffered; messages larger than a read chunk are streamed through.
func (s *session) upstreamToClient(ur *reader) {
	defer close(s.upDone)
	w := bufio.NewWriterSize(clientWriter{s}, 64<<10)
	defer s.close()
	for {
		if ur.buffered() < 5 {
			if w.Flush() != nil {
				return
			}
		}
		typ, n, err := ur.header()
		if err != nil {
			_ = w.Flush()
			if !s.closed.Load() && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Info("upstream read failed", "err", err)
			}
			return
		}
		capture := s.capturing()
		if typ == 'A' { // notifications are the client's even while vecgate runs a statement
			capture = nil
		}
		if n > readerChunk && capture == nil {
			if wantState(typ) { // state messages are small; a large one is observed without its body
				s.observe(typ, nil)
			}
			if w.Flush() != nil || ur.stream(w, n) != nil {
				return
			}
			continue
		}
		typ, raw, body, err := ur.next()
		if err != nil {
			return
		}
		if wantState(typ) {
			s.observe(typ, body)
		}
		if capture != nil {
			// Everything the client should see before the intercepted statement's answer is out.
			if w.Flush() != nil {
				return
			}
			capture <- append([]byte(nil), raw...)
			continue
		}
		if _, err := w.Write(raw); err != nil {
			return
		}
	}
}

func (s *session) capturing() chan []byte {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	return s.capture
}

func wantState(typ byte) bool {
	return typ == 'Z' || typ == 'C' || typ == 'G' || typ == 'E' || typ == 'S' || typ == 's' || typ == '1'
}

// observe updates the session state from an upstream message (body truncated to a prefix).
func (s *session) observe(typ byte, body []byte) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if s.capture == nil && (typ == '1' || typ == 'Z') {
		s.parseAnswered(typ)
	}
	switch typ {
	case 'S': // ParameterStatus
		var ps pgproto3.ParameterStatus
		if body == nil || ps.Decode(body) != nil {
			return
		}
		switch ps.Name {
		case "client_encoding":
			s.clientEnc.report(ps.Value)
		case "standard_conforming_strings":
			s.stdStrings.report(ps.Value)
		}
	case 'G': // CopyInResponse: the COPY that completes next wrote rows
		s.inCopyIn = true
		s.idle.Broadcast() // an interception waiting for idle must give up: see waitIdle
	case 's': // PortalSuspended: some rows of a portal ran (a SELECT calling a writing function)
		if s.capture == nil {
			s.state.MaybeWrote = true
		}
	case 'C':
		if !plainTags[firstWord(body)] {
			s.changes.Add(1)
		}
		if s.capture == nil && (!utilityTags[firstWord(body)] || bytes.HasPrefix(body, []byte("COMMIT PREPARED"))) {
			s.state.MaybeWrote = true
		}
		if s.inCopyIn || writes(body) {
			s.state.WroteInTxn = true
		}
		switch {
		case bytes.HasPrefix(body, []byte("DISCARD ALL")), bytes.HasPrefix(body, []byte("DEALLOCATE ALL")):
			s.dropped.Store(true)
		case bytes.HasPrefix(body, []byte("COMMIT")):
			s.commitTag = true
		case bytes.HasPrefix(body, []byte("ROLLBACK")):
			s.commitTag, s.failedReq = false, true
		case bytes.HasPrefix(body, []byte("PREPARE")):
			s.commitTag = false
		}
		s.inCopyIn = false
	case 'E':
		s.failedReq = true
	case 'Z':
		if len(body) < 1 {
			return
		}
		st := body[0]
		if s.state.Pending > 0 {
			s.state.Pending--
		}
		if s.state.Pending == 0 {
			s.idle.Broadcast()
		}
		s.knobs.resolve(st, st == 'I' && s.commitTag, s.failedReq)
		s.failedReq = false
		if st == 'I' && s.state.TxStatus != 'I' && s.state.TxStatus != 0 {
			// A block ended: what it set LOCAL, or rolled back, no longer holds, and a table
			// check made inside it may not either.
			s.changes.Add(1)
		}
		if st == 'I' {
			// A transaction block that ended without a COMMIT tag (ROLLBACK, a failed block)
			// committed nothing.
			committed := s.commitTag || s.state.TxStatus != 'T' && s.state.TxStatus != 'E'
			if s.state.WroteInTxn && committed {
				s.state.CommittedWrites++
			}
			if s.state.MaybeWrote && committed {
				s.state.MaybeWrites++
			}
			s.state.WroteInTxn, s.state.MaybeWrote = false, false
			s.state.Idles++
			s.commitTag = false
		}
		s.inCopyIn = false
		s.state.TxStatus = st
	}
}

// readOnlyTags are the command tags (first word) of commands that do not write table data.
var readOnlyTags = map[string]bool{
	"SELECT": true, "SHOW": true, "SET": true, "RESET": true, "BEGIN": true, "START": true,
	"SAVEPOINT": true, "RELEASE": true, "ROLLBACK": true, "COMMIT": true, "FETCH": true, "MOVE": true,
	"DECLARE": true, "CLOSE": true, "PREPARE": true, "DEALLOCATE": true, "EXPLAIN": true,
	"LISTEN": true, "UNLISTEN": true, "NOTIFY": true, "DISCARD": true, "COPY": true, "LOCK": true,
}

// utilityTags are the command tags (first word) of commands that run no query: they cannot
// write table data whatever they call. Any other command may (MaybeWrote).
var utilityTags = map[string]bool{
	"SHOW": true, "SET": true, "RESET": true, "BEGIN": true, "START": true, "SAVEPOINT": true,
	"RELEASE": true, "ROLLBACK": true, "COMMIT": true, "PREPARE": true, "DEALLOCATE": true,
	"LISTEN": true, "UNLISTEN": true, "NOTIFY": true, "DISCARD": true, "CLOSE": true, "LOCK": true,
}

// plainTags are the command tags (first word) of commands that change neither the session's
// settings nor the schema: anything else (SET, RESET, DISCARD, DDL) may change which table a name
// stands for, and the tables whose rewrite guard failed are tried again.
var plainTags = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "COPY": true,
	"FETCH": true, "MOVE": true, "BEGIN": true, "START": true, "COMMIT": true,
	"SAVEPOINT": true, "RELEASE": true, "SHOW": true, "EXPLAIN": true, "LISTEN": true,
	"UNLISTEN": true, "NOTIFY": true, "DECLARE": true, "CLOSE": true, "PREPARE": true,
	"EXECUTE": true, "DEALLOCATE": true, "LOCK": true,
}

func firstWord(tag []byte) string {
	if i := bytes.IndexAny(tag, " \x00"); i >= 0 {
		tag = tag[:i]
	}
	return string(tag)
}

func writes(tag []byte) bool { return !readOnlyTags[firstWord(tag)] }

// cancelUpstream asks the upstream server to cancel what the session's backend is running.
func (s *session) cancelUpstream() {
	if s.upPID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.DialTimeout)
	defer cancel()
	if err := s.srv.up.cancel(ctx, s.upPID, s.upSecret); err != nil {
		s.log.Warn("cancel upstream", "err", err)
	}
}
