package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FastJob is a Job that vecgate may answer from memory, without a round trip to Postgres.
type FastJob interface {
	Job
	// FastColumns gives the answer's column types (smallint, integer, bigint, uuid, text,
	// float8), or nil when the statement cannot be answered from memory.
	FastColumns() []string
	// FastKey names the answer's description: statements with the same key are described alike.
	FastKey() string
	// AccessCheck is a statement returning one boolean: may this session be answered from
	// memory for this table (privileges, no row-level security)?
	AccessCheck() string
	// Answer returns the rows, each column in Postgres' text form.
	Answer(ctx context.Context) ([][]string, error)
}

// accessTTL is how long a session trusts an access check (a GRANT or REVOKE by another session
// takes at most this long to be seen).
//
// Within that time a check holds only while the session has run nothing but answers from memory:
// any statement it sends Postgres (forwarded or rewritten, or a function call) may change what
// the check depends on — SET ROLE, SET SESSION AUTHORIZATION, search_path, set_config() in a
// select list, DISCARD ALL, its own GRANT, REVOKE or DDL — so it starts a new access epoch.
const accessTTL = 10 * time.Second

type accessEntry struct {
	ok     bool
	at     time.Time
	writes uint64 // the session's CommittedWrites when checked
	epoch  uint64 // the session's accessEpoch when checked
}

// ranStatement ends the handling of a client request that may run a statement (Query, Execute,
// FunctionCall): unless it was answered from memory, the access checks the session holds lapse.
func (s *session) ranStatement() {
	if !s.answeredFast {
		s.accessEpoch++
	}
	s.answeredFast = false
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
	cols := fj.FastColumns()
	desc := s.descs[descKey(job, formats)]
	if cols == nil || (needDesc && desc == nil) {
		return nil, false
	}
	if !s.access(w, fj.AccessCheck()) {
		return nil, false
	}
	rows, err := fj.Answer(ctx)
	if err != nil {
		s.log.Debug("fast path: no answer from memory; using the rewrite", "err", err)
		return nil, false
	}
	var out [][]byte
	if needDesc {
		out = append(out, desc)
	}
	buf := make([]byte, 0, 64*len(rows)+32)
	values := make([][]byte, len(cols))
	for _, r := range rows {
		for i, v := range r {
			values[i] = encodeValue(cols[i], v, formatOfResult(formats, i))
		}
		start := len(buf)
		buf, _ = (&pgproto3.DataRow{Values: values}).Encode(buf)
		out = append(out, buf[start:])
	}
	cc, _ := (&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.Itoa(len(rows)))}).Encode(nil)
	s.answeredFast = true
	return append(out, cc), true
}

func formatOfResult(formats []int16, i int) int16 {
	switch {
	case len(formats) == 0:
		return 0
	case len(formats) == 1:
		return formats[0]
	case i < len(formats):
		return formats[i]
	}
	return 0
}

// encodeValue renders a column value (given in text form) in the wire format asked for.
func encodeValue(typ, text string, format int16) []byte {
	if format == 0 {
		return []byte(text)
	}
	switch typ {
	case "smallint", "integer", "bigint":
		n, _ := strconv.ParseInt(text, 10, 64)
		switch typ {
		case "smallint":
			return binary.BigEndian.AppendUint16(nil, uint16(n))
		case "integer":
			return binary.BigEndian.AppendUint32(nil, uint32(n))
		}
		return binary.BigEndian.AppendUint64(nil, uint64(n))
	case "float8":
		var f float64
		switch text {
		case "NaN":
			f = math.NaN()
		case "Infinity":
			f = math.Inf(1)
		case "-Infinity":
			f = math.Inf(-1)
		default:
			f, _ = strconv.ParseFloat(text, 64)
		}
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(f))
	case "uuid":
		b, _ := hex.DecodeString(strings.ReplaceAll(text, "-", ""))
		return b
	}
	return []byte(text)
}

// access runs (or recalls) the fast path's access check for this session.
func (s *session) access(w *bufio.Writer, check string) bool {
	committed := s.State().CommittedWrites
	if e, ok := s.accessCache[check]; ok && time.Since(e.at) < accessTTL && e.writes == committed && e.epoch == s.accessEpoch {
		return e.ok
	}
	msgs, _, failed, ok := s.exchange(w, check)
	allowed := false
	if ok && !failed {
		for _, m := range msgs {
			if m[0] == 'D' {
				var d pgproto3.DataRow
				allowed = d.Decode(m[5:]) == nil && len(d.Values) == 1 && string(d.Values[0]) == "t"
			}
		}
	}
	if s.accessCache == nil || len(s.accessCache) > 256 {
		s.accessCache = map[string]accessEntry{}
	}
	s.accessCache[check] = accessEntry{ok: allowed, at: time.Now(), writes: s.State().CommittedWrites, epoch: s.accessEpoch}
	return allowed
}

// descKey is where a fast-answerable job's description is kept ("" for other jobs).
func descKey(job Job, formats []int16) string {
	fj, ok := job.(FastJob)
	if !ok || fj.FastColumns() == nil {
		return ""
	}
	return fmt.Sprintf("%s/%v", fj.FastKey(), formats)
}

// rememberDesc keeps a statement's RowDescription from a rewritten run for later fast answers.
func (s *session) rememberDesc(job Job, formats []int16, msgs [][]byte) {
	key := descKey(job, formats)
	if key == "" {
		return
	}
	for _, m := range msgs {
		if m[0] == 'T' {
			if s.descs == nil || len(s.descs) > 256 {
				s.descs = map[string][]byte{}
			}
			s.descs[key] = m
			return
		}
	}
}
