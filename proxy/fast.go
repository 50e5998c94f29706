package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FastJob is a Job that vecgate may answer from memory, without a round trip to Postgres.
type FastJob interface {
	Job
	// Fast reports whether the statement can be answered from memory.
	Fast() bool
	// FastKey names the answer's description: statements with the same key are described alike.
	FastKey() string
	// Width is the number of columns an answer from memory has.
	Width() int
	// Answer returns the rows, each column as Postgres sends it in the result format asked for
	// (formats as in a Bind), nil for NULL.
	Answer(ctx context.Context, formats []int16) ([][][]byte, error)
}

// accessTTL is how long a session trusts a table check (Job.TableCheck). A change made by
// another session lapses it sooner when Config.Catalog's epoch moves (vecgate's event trigger:
// GRANT, REVOKE, row-level security, policies, an inheritance child, a renamed or dropped table,
// seen in the replication stream within replication lag); what fires no event trigger (GRANT
// role TO user, ALTER ROLE: shared objects) or a database without the trigger takes at most
// this long to be seen.
//
// Within that time a check holds only until the session itself may have changed what it found:
// a command of its own completes that is not plain reading and writing (SET ROLE, SET
// search_path, SET SESSION AUTHORIZATION, DISCARD ALL, GRANT, REVOKE, DDL, ROLLBACK: see
// plainTags), a transaction block ends, or it sends a statement that may change it under a
// plain tag (mayChangeChecks, trackSetExec). Each starts a new check epoch. And it holds only
// while the session has run no statement in Postgres since (ranUpstream): a function it calls
// may change its role or search_path with no sign in the protocol, and with the search_path the
// operator its next statement's `<->` names, which the rewrite's table guard does not see. Both
// paths (from memory and the rewrite) want such a check; statements vecgate answered itself do
// not count, so a session sending only vector queries keeps its check. (A check that forwards
// holds across them: at worst the session is forwarded a while longer.)
const accessTTL = 10 * time.Second

type accessEntry struct {
	whole, readable bool // Job.TableCheck's answers
	at              time.Time
	epoch           uint64 // the session's check epoch when checked
	catalog         uint64 // the catalog epoch (Config.Catalog) when checked
	ran             uint64 // the session's ran count when checked
	// timeout is the session's statement_timeout, read with the check (0: none). A SET of it
	// starts a new check epoch, as any SET does.
	timeout time.Duration
	// isolation is transaction_isolation as the check read it: outside a block, the level of
	// the session's implicit transactions (pipelines; batch.go). A SET starts a new epoch.
	isolation string
}

// ranUpstream ends the handling of a client request that may run a statement (Query, Execute,
// FunctionCall): unless vecgate answered it itself — from memory, or through its rewrite, which
// runs only functions the planner allows — it ran in Postgres and may have changed the role or
// search_path in ways no command tag shows (a function calling set_config, an UPDATE of
// pg_settings), so the session's table checks are made again before its next interception.
func (s *session) ranUpstream() {
	if !s.answered {
		s.ran++
	}
	s.answered = false
}

// checkEpoch is the session's check epoch: it moves on whenever the table checks it holds may
// no longer hold (see accessTTL).
func (s *session) checkEpoch() uint64 { return s.changes.Load() }

// mayChangeChecks notes a client statement about to run that may change what the table checks
// found although its command tag looks plain: one that calls set_config() (the role or
// search_path), runs a prepared statement (EXECUTE, whose tag is the inner statement's) or
// creates a table from a query (CREATE TABLE … AS and SELECT … INTO report SELECT; a temporary
// table shadows the indexed one).
func (s *session) mayChangeChecks(sql []byte) {
	if containsFold(sql, "set_config") || containsFold(sql, "execute") || containsFold(sql, "create") ||
		containsFold(sql, "into") && !startsFold(sql, "insert") {
		s.changes.Add(1)
	}
}

// startsFold reports whether sql, past leading white space, starts with the lower-case word w.
func startsFold(sql []byte, w string) bool {
	sql = bytes.TrimLeft(sql, " \t\r\n(")
	return len(sql) >= len(w) && containsFold(sql[:len(w)], w)
}

// containsFold reports whether s contains the lower-case ASCII word w in any case, without
// allocating.
func containsFold[T string | []byte](s T, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// fastAnswer answers job from memory when it can: the statement's description is known from an
// earlier rewritten run of the same shape (when the client asked for one), the session may read
// the columns, and the index answers. It returns the messages for the client (without the
// ReadyForQuery, added by the caller) and whether it did.
func (s *session) fastAnswer(ctx context.Context, w *bufio.Writer, job Job, needDesc bool, formats []int16) ([][]byte, bool) {
	fj, ok := job.(FastJob)
	if !ok {
		return nil, false
	}
	if !s.fastWanted(job, needDesc, formats) {
		return nil, false
	}
	desc := s.desc(descKey(job, formats))
	if _, readable := s.tableCheck(w, job); !readable {
		return nil, false
	}
	if desc != nil && descWidth(desc) != fj.Width() {
		// A description Postgres gave for the statement's columns as they are now (a column
		// added since the twin loaded them): rows from memory would not match it.
		return nil, false
	}
	rows, err := fj.Answer(ctx, formats)
	if err != nil {
		s.log.Debug("fast path: no answer from memory; using the rewrite", "err", err)
		return nil, false
	}
	var out [][]byte
	if needDesc {
		out = append(out, desc)
	}
	buf := make([]byte, 0, 64*len(rows)+32)
	for _, r := range rows {
		start := len(buf)
		buf, _ = (&pgproto3.DataRow{Values: r}).Encode(buf)
		out = append(out, buf[start:])
	}
	cc, _ := (&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.Itoa(len(rows)))}).Encode(nil)
	s.answered = true
	return append(out, cc), true
}

// fastWanted reports whether fastAnswer may answer job, before its table check: the job can be
// answered from memory and its description is known when the client asked for one.
func (s *session) fastWanted(job Job, needDesc bool, formats []int16) bool {
	fj, ok := job.(FastJob)
	if !ok || !fj.Fast() {
		return false
	}
	return !needDesc || s.desc(descKey(job, formats)) != nil
}

// tableCheck runs (or recalls) job's table check for this session: whether the index holds
// every row the statement can read (whole) and whether the session may be answered from memory
// (readable). A check that fails to run answers false, false.
func (s *session) tableCheck(w *bufio.Writer, job Job) (whole, readable bool) {
	if e, ok := s.checkCached(job); ok {
		return e.whole, e.readable
	}
	e, _ := s.runTableCheck(w, job, false)
	return e.whole, e.readable
}

// checkCached returns the session's answer to job's table check while it holds (accessTTL):
// made since the session last ran a statement in Postgres — but for an answer that forwards the
// statement (not whole), kept across them, as forwarding is always correct.
func (s *session) checkCached(job Job) (accessEntry, bool) {
	e, ok := s.accessCache[job.TableCheck()]
	if ok && time.Since(e.at) < accessTTL && e.epoch == s.checkEpoch() &&
		e.catalog == s.srv.catalogEpoch() && (e.ran == s.ran || !e.whole) {
		return e, true
	}
	return accessEntry{}, false
}

// runTableCheck runs job's table check through Postgres and keeps the answer, with the
// session's statement_timeout read in the same statement; withLSN also reads the upstream's
// current WAL position (read-your-writes), so that one round trip serves both.
func (s *session) runTableCheck(w *bufio.Writer, job Job, withLSN bool) (e accessEntry, lsn string) {
	check := job.TableCheck()
	epoch, catalog := s.checkEpoch(), s.srv.catalogEpoch() // read before checking: a change seen meanwhile lapses it
	pos := "NULL::text"
	if withLSN {
		pos = "pg_catalog.pg_current_wal_lsn()::text"
	}
	msgs, _, failed, ok := s.runCheck(w, "SELECT "+pos+", pg_catalog.current_setting('statement_timeout'), "+
		"pg_catalog.current_setting('transaction_isolation'), c.* FROM ("+check+") c")
	if ok && !failed {
		for _, m := range msgs {
			if m[0] == 'D' {
				var d pgproto3.DataRow
				if d.Decode(m[5:]) == nil && len(d.Values) == 5 {
					lsn = string(d.Values[0])
					e.timeout = parseTimeout(string(d.Values[1]))
					e.isolation = string(d.Values[2])
					e.whole, e.readable = string(d.Values[3]) == "t", string(d.Values[4]) == "t"
				}
			}
		}
	}
	if s.accessCache == nil || len(s.accessCache) > 256 {
		s.accessCache = map[string]accessEntry{}
	}
	e.at, e.epoch, e.catalog, e.ran = time.Now(), epoch, catalog, s.ran
	s.accessCache[check] = e
	return e, lsn
}

// statementTimeout is the session's statement_timeout as its table check for job read it.
func (s *session) statementTimeout(job Job) time.Duration {
	return s.accessCache[job.TableCheck()].timeout
}

// parseTimeout reads a duration as current_setting prints statement_timeout: "0", "250ms",
// "5s", "1min", "2h", "1d". Anything else reads as 0 (no bound of vecgate's).
func parseTimeout(v string) time.Duration {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	unit := map[string]time.Duration{"": time.Millisecond, "ms": time.Millisecond, "s": time.Second,
		"min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[v[i:]]
	return time.Duration(n) * unit
}

// runCheck runs a table check as a statement vecgate prepares in the session under a name of its
// own, once: Postgres parses and plans it once per session (most of its cost), and, unlike a
// simple Query, executing it leaves the client's unnamed statement in place.
func (s *session) runCheck(w *bufio.Writer, check string) (msgs [][]byte, rows int, failed, ok bool) {
	if s.dropped.Swap(false) { // a DISCARD ALL or DEALLOCATE ALL deallocated it
		s.forgetPrepared()
	}
	h := fnv.New64a()
	h.Write([]byte(check))
	name := fmt.Sprintf("vecgate_check_%016x", h.Sum64())
	var out [][]byte
	if !s.internal[name] {
		p, _ := (&pgproto3.Parse{Name: name, Query: check}).Encode(nil)
		out = append(out, p)
	}
	// On a portal of its own, closed after: the client's unnamed portal may be used again (in a
	// transaction block, by a later Execute).
	b, _ := (&pgproto3.Bind{DestinationPortal: name, PreparedStatement: name}).Encode(nil)
	e, _ := (&pgproto3.Execute{Portal: name}).Encode(nil)
	c, _ := (&pgproto3.Close{ObjectType: 'P', Name: name}).Encode(nil)
	msgs, rows, failed, ok = s.exchangeRaw(w, append(out, b, e, c, syncMsg)...)
	if s.internal == nil {
		s.internal = map[string]bool{}
	}
	s.internal[name] = ok && !failed
	if ok && failed {
		// Whatever failed (the Parse, or a Bind of a statement the client deallocated), start
		// again next time from no statement of that name (closing none is no error).
		c, _ := (&pgproto3.Close{ObjectType: 'S', Name: name}).Encode(nil)
		_, _, _, ok = s.exchangeRaw(w, c, syncMsg)
	}
	return msgs, rows, failed, ok
}

// descKey is where a fast-answerable job's description is kept ("" for other jobs).
func descKey(job Job, formats []int16) string {
	fj, ok := job.(FastJob)
	if !ok || !fj.Fast() {
		return ""
	}
	return fmt.Sprintf("%s/%v", fj.FastKey(), formats)
}

// rememberDesc keeps a statement's RowDescription from a rewritten run for later fast answers,
// with as many columns as such an answer has. The caller keeps only descriptions of runs whose
// table check allowed answers from memory: otherwise Postgres may have described columns the twin
// does not hold (a column added since it loaded), and that description, kept under the twin's
// key, would be sent with rows from memory of another width (the soak's SELECT * after ADD
// COLUMN). (Asking the session's cached check here instead lost every description of sessions
// whose catalog epoch moves at each statement: LlamaIndex's CREATE INDEX IF NOT EXISTS before
// every search.)
func (s *session) rememberDesc(job Job, formats []int16, msgs [][]byte) {
	key := descKey(job, formats)
	if key == "" {
		return
	}
	for _, m := range msgs {
		if m[0] == 'T' && descWidth(m) == job.(FastJob).Width() {
			if s.descs == nil || len(s.descs) > 256 {
				s.descs = map[string][]byte{}
			}
			s.descs[key] = m
			srv := s.srv
			srv.descMu.Lock()
			if srv.descs == nil || len(srv.descs) >= maxDescs {
				srv.descs = map[string][]byte{}
			}
			srv.descs[key] = m
			srv.descMu.Unlock()
			return
		}
	}
}

// maxDescs bounds the descriptions the server keeps (Server.descs): past it they are forgotten
// and learnt again.
const maxDescs = 4096

// desc returns the description kept under key (""): the session's own, else one another session
// taught the server; nil when none.
func (s *session) desc(key string) []byte {
	if key == "" {
		return nil
	}
	if d := s.descs[key]; d != nil {
		return d
	}
	s.srv.descMu.Lock()
	defer s.srv.descMu.Unlock()
	return s.srv.descs[key]
}

// descWidth is the number of fields a RowDescription message (type byte and length included)
// describes; -1 when it is too short to say.
func descWidth(m []byte) int {
	if len(m) < 7 || m[0] != 'T' {
		return -1
	}
	return int(binary.BigEndian.Uint16(m[5:7]))
}
