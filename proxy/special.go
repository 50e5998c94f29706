package proxy

import (
	"bufio"
	"context"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5/pgproto3"
)

// special handles the statements vecgate answers or decorates itself: SHOW vecgate.status and
// EXPLAIN of a statement vecgate may intercept. It reports whether it answered.
func (s *session) special(w *bufio.Writer, sql string) (bool, error) {
	ic := s.srv.cfg.Interceptor
	if check, answer, ok := ic.Status(sql); ok {
		if err := w.Flush(); err != nil {
			return false, err
		}
		if !s.waitIdle() {
			s.forwarded(ReasonCopy)
			return false, nil
		}
		allowed, err := s.statusAllowed(w, check)
		if err != nil || !allowed {
			s.forwarded(ReasonStatusDenied)
			return false, err
		}
		s.forwarded(ReasonStatus)
		cols, rows := answer()
		msgs := tableMessages(cols, rows, "SHOW")
		return true, s.deliver(append(msgs, readyFor(s.State().TxStatus))...)
	}
	lines, send, check, ok := ic.Explain(sql, s.knobValues())
	if !ok {
		return false, nil
	}
	s.forwarded(ReasonExplain)
	if err := w.Flush(); err != nil {
		return false, err
	}
	if !s.waitIdle() || s.State().TxStatus != 'I' || !s.utf8Now() || !s.stdStringsNow() {
		return false, nil
	}
	s.beginCapture()
	defer s.endCapture()
	if check != "" {
		// Say what executing the statement would do: the session's table check (made now
		// unless one holds; cheap, and it reveals nothing the session cannot see itself).
		if whole, _ := s.tableCheck(w, checkOnly(check)); !whole {
			lines, send = []string{"vecgate: forwarded (table check)"}, sql
		}
	}
	msgs, _, failed, ok := s.exchange(w, send)
	if !ok {
		return false, errors.New("upstream connection lost")
	}
	if failed {
		s.endCapture()
		if send == sql || errorCode(failureOf(msgs)) == "57014" {
			// The statement as the client sent it failed (EXPLAIN ANALYZE may have run part of
			// it), or the EXPLAIN was cancelled: that is the answer, never a second run.
			return true, s.deliver(msgs...)
		}
		return false, nil // Postgres explains the original in its own words
	}
	s.endCapture()
	var out [][]byte
	for _, m := range msgs {
		out = append(out, m)
		if m[0] == 'T' {
			for _, l := range lines {
				d, _ := (&pgproto3.DataRow{Values: [][]byte{[]byte(l)}}).Encode(nil)
				out = append(out, d)
			}
		}
	}
	return true, s.deliver(out...)
}

// statusAllowed runs the status check for the session, on its own connection: inside a
// transaction block under a savepoint, so that a check that fails (a cancel) leaves the block as
// it was. A failed block, or a check that fails, says no: Postgres then answers the SHOW.
func (s *session) statusAllowed(w *bufio.Writer, check string) (bool, error) {
	st := s.State().TxStatus
	if st == 'E' {
		return false, nil
	}
	s.beginCapture()
	defer s.endCapture()
	if st == 'T' {
		check = "SAVEPOINT " + blockSavepoint + "; " + check
		s.blockOpen = true
	}
	msgs, _, failed, ok := s.exchange(w, check)
	if !ok {
		return false, errors.New("upstream connection lost")
	}
	allowed := false
	for _, m := range msgs {
		if m[0] == 'D' {
			var d pgproto3.DataRow
			if d.Decode(m[5:]) == nil && len(d.Values) == 1 {
				allowed = string(d.Values[0]) == "t"
			}
		}
	}
	if st == 'T' {
		failure, err := s.leaveBlock(w, !failed)
		if err != nil || failure != nil {
			return false, err
		}
	}
	return allowed && !failed, nil
}

// tableMessages describes and lists a text table, ending with CommandComplete tag.
func tableMessages(cols []string, rows [][]string, tag string) [][]byte {
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, c := range cols {
		fields[i] = pgproto3.FieldDescription{Name: []byte(c), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}
	}
	t, _ := (&pgproto3.RowDescription{Fields: fields}).Encode(nil)
	out := [][]byte{t}
	for _, r := range rows {
		vals := make([][]byte, len(r))
		for i, v := range r {
			vals[i] = []byte(v)
		}
		d, _ := (&pgproto3.DataRow{Values: vals}).Encode(nil)
		out = append(out, d)
	}
	if tag == "SELECT" {
		tag += " " + strconv.Itoa(len(rows))
	}
	c, _ := (&pgproto3.CommandComplete{CommandTag: []byte(tag)}).Encode(nil)
	return append(out, c)
}

// checkOnly is a Job that is only its table check: EXPLAIN runs the check of the statement it
// explains.
type checkOnly string

func (c checkOnly) Next(context.Context, int) (string, bool, bool, error) {
	return "", false, true, nil
}
func (c checkOnly) TableCheck() string { return string(c) }
