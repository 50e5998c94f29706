package proxy

import (
	"bufio"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// DDL is how vecgate handles a CREATE or DROP INDEX it takes part in.
type DDL struct {
	// Send is the statement for Postgres; "" answers the client locally with Tag.
	Send string
	Tag  string
	// Err, when set, refuses the statement with this error, every field as set (an error
	// vecgate gives in Postgres' stead carries Postgres' fields).
	Err *pgconn.PgError
	// Done runs once Postgres answered Send (ok: it succeeded), or before answering locally
	// (ok true); an error it returns is the client's answer instead of Tag: a *pgconn.PgError
	// in it (vecgate's own, or Postgres' from a statement vecgate ran) as it is, anything else
	// as XX000 with the error's text.
	Done func(ok bool) error
}

// runDDL carries out a DDL decision for a simple Query (sql as the client sent it).
func (s *session) runDDL(w *bufio.Writer, sql string, d *DDL) (bool, error) {
	if err := w.Flush(); err != nil {
		return false, err
	}
	if !s.waitIdle() {
		return false, nil
	}
	st := s.State().TxStatus
	if d.Send != sql && !isASCII(sql) && !s.utf8Now() {
		// vecgate reads names out of the statement and records them as UTF8 text.
		return true, s.deliver(errorResponse("ERROR", "0A000", "vecgate: CREATE/DROP INDEX with vecgate options and names that are not ASCII needs client_encoding UTF8"), readyFor(st))
	}
	if d.Err != nil {
		return true, s.deliver(encodeError(d.Err), readyFor(st))
	}
	if st != 'I' {
		if d.Send == sql {
			return false, nil // a plain statement: Postgres handles it inside the transaction
		}
		return true, s.deliver(errorResponse("ERROR", "25001", "vecgate: CREATE/DROP INDEX with vecgate options must run outside a transaction block"), readyFor(st))
	}
	if d.Send == "" {
		if err := d.Done(true); err != nil {
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				pe = &pgconn.PgError{Severity: "ERROR", Code: "XX000", Message: err.Error()}
			}
			return true, s.deliver(encodeError(pe), readyFor('I'))
		}
		cc, _ := (&pgproto3.CommandComplete{CommandTag: []byte(d.Tag)}).Encode(nil)
		return true, s.deliver(cc, readyFor('I'))
	}
	s.beginCapture()
	msgs, _, failed, ok := s.exchange(w, d.Send)
	s.endCapture()
	if !ok {
		return false, errors.New("upstream connection lost")
	}
	if err := s.deliver(msgs...); err != nil {
		return true, err
	}
	if err := d.Done(!failed); err != nil {
		s.log.Warn("index definition not recorded", "err", err)
	}
	return true, nil
}

func readyFor(status byte) []byte {
	if status == 0 {
		status = 'I'
	}
	return []byte{'Z', 0, 0, 0, 5, status}
}
