package proxy

import (
	"bufio"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Reads inside a transaction block. An intercepted statement's rewrite runs in the client's own
// transaction, so Postgres applies the block's snapshot to the candidates. vecgate intercepts
// there only when that is as good as the original:
//
//   - the isolation level is READ COMMITTED: every statement sees what committed before it
//     started, which is what the live indexes follow (REPEATABLE READ and SERIALIZABLE keep the
//     block's first snapshot, which the indexes cannot go back to, so those blocks are
//     forwarded);
//   - the block has not written (no transaction id assigned): its own uncommitted rows are not
//     in the indexes;
//   - the rewrite runs under a savepoint, so a rewrite that fails (a cancel, a timeout) is rolled
//     back and the original forwarded, and the client's transaction is left as it was.
//
// The fast path from memory is not used inside blocks.

// blockSavepoint is the savepoint an intercepted read in a transaction block runs under.
const blockSavepoint = "vecgate_read"

// enterBlock sets the savepoint and checks that a read in the current transaction block may be
// intercepted. It reports false (the savepoint gone again) when the statement must be forwarded;
// a block found unfit is remembered, so its later statements are forwarded without asking.
// Called while capturing.
func (s *session) enterBlock(w *bufio.Writer) (bool, error) {
	st := s.State()
	if s.blockForward == st.Idles+1 {
		return false, nil
	}
	msgs, _, failed, ok := s.sendRecv(w, false, s.ownStatements("SAVEPOINT "+blockSavepoint,
		"SELECT pg_catalog.current_setting('transaction_isolation'), pg_catalog.pg_current_xact_id_if_assigned() IS NULL")...)
	if !ok {
		return false, errors.New("upstream connection lost")
	}
	s.blockOpen = true
	if failed { // the check failed (a cancel, a timeout): undo it under the savepoint
		_, err := s.leaveBlock(w, false)
		return false, err
	}
	var iso, clean string
	for _, m := range msgs {
		if m[0] != 'D' {
			continue
		}
		var d pgproto3.DataRow
		if d.Decode(m[5:]) == nil && len(d.Values) == 2 {
			iso, clean = string(d.Values[0]), string(d.Values[1])
		}
	}
	if iso == "read committed" && clean == "t" {
		return true, nil
	}
	// Neither the isolation level nor a transaction id goes away before the block ends.
	s.blockForward = st.Idles + 1
	_, err := s.leaveBlock(w, true)
	return false, err
}

// leaveBlock releases the savepoint enterBlock set: after a successful read, or after rolling
// back to it when the original statement is to be forwarded instead. It returns the answer to
// the release, when it failed (a cancel arriving then): the client must see that error and the
// failed block's status.
func (s *session) leaveBlock(w *bufio.Writer, ok bool) (failure [][]byte, err error) {
	stmts := []string{"RELEASE SAVEPOINT " + blockSavepoint}
	if !ok {
		stmts = append([]string{"ROLLBACK TO SAVEPOINT " + blockSavepoint}, stmts...)
	}
	s.blockOpen = false
	msgs, _, failed, up := s.sendRecv(w, true, s.ownStatements(stmts...)...) // runs even when the statement was cancelled
	if !up {
		return nil, errors.New("upstream connection lost")
	}
	if failed {
		return clientVisible(msgs), nil
	}
	return nil, nil
}

// ownStatements encodes statements of vecgate's own for the extended protocol, each under a
// statement and portal name used once and closed after it runs, then a Sync: unlike a simple
// Query, they leave the client's unnamed statement and portal in place, which a Bind vecgate
// forwards after them may still need, or a later Execute of the portal in a transaction block
// (the portal of vecgate's rewrite, released with its savepoint). (A statement that fails skips
// the rest to the Sync, its Closes included: the leftovers are named by nothing of the client's
// and go with the session, or the block.)
func (s *session) ownStatements(stmts ...string) [][]byte {
	var out [][]byte
	for _, sql := range stmts {
		s.ownSeq++
		name := fmt.Sprintf("vecgate_own_%d", s.ownSeq)
		p, _ := (&pgproto3.Parse{Name: name, Query: sql}).Encode(nil)
		b, _ := (&pgproto3.Bind{DestinationPortal: name, PreparedStatement: name}).Encode(nil)
		e, _ := (&pgproto3.Execute{Portal: name}).Encode(nil)
		cp, _ := (&pgproto3.Close{ObjectType: 'P', Name: name}).Encode(nil)
		cs, _ := (&pgproto3.Close{ObjectType: 'S', Name: name}).Encode(nil)
		out = append(out, p, b, e, cp, cs)
	}
	return append(out, syncMsg)
}

// clientVisible keeps of an answer to ownStatements what a client that sent a simple Query would
// have seen of a failure: notices, the error and the ReadyForQuery.
func clientVisible(msgs [][]byte) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		if m[0] == 'E' || m[0] == 'N' || m[0] == 'Z' {
			out = append(out, m)
		}
	}
	return out
}

// finishBlock releases the savepoint after a read that succeeded and returns what the client
// gets: the read's answer, or — when the release failed — the answer without its
// ReadyForQuery, then the release's error and ReadyForQuery.
func (s *session) finishBlock(w *bufio.Writer, block bool, last [][]byte) ([][]byte, error) {
	if !block {
		return last, nil
	}
	failure, err := s.leaveBlock(w, true)
	if err != nil || failure == nil {
		return last, err
	}
	return append(last[:len(last)-1:len(last)-1], failure...), nil
}

// abandonBlock rolls back to the savepoint when the statement runs in a block and is to be
// forwarded instead.
func (s *session) abandonBlock(w *bufio.Writer, block bool) error {
	if !block {
		return nil
	}
	_, err := s.leaveBlock(w, false)
	return err
}

// blockState says whether the session may intercept in its current state, and whether it is in a
// transaction block (then enterBlock decides).
func blockState(st State) (block, allowed bool) {
	switch {
	case st.TxStatus == 'E':
		return false, false // the block failed: Postgres answers everything with an error
	case st.TxStatus == 'T':
		return true, !st.WroteInTxn
	}
	return false, true
}
