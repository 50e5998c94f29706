package proxy

import (
	"bufio"
	"errors"

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

// enterBlock checks that a read in the current transaction block may be intercepted and sets the
// savepoint. It reports false (the savepoint not set) when the statement must be forwarded.
// Called while capturing.
func (s *session) enterBlock(w *bufio.Writer) (bool, error) {
	msgs, _, failed, ok := s.exchange(w, "SELECT current_setting('transaction_isolation'), "+
		"pg_current_xact_id_if_assigned() IS NULL; SAVEPOINT "+blockSavepoint)
	if !ok {
		return false, errors.New("upstream connection lost")
	}
	if failed {
		return false, nil
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
	return false, s.leaveBlock(w, false)
}

// leaveBlock releases the savepoint enterBlock set: after a successful read, or after rolling
// back to it when the original statement is to be forwarded instead.
func (s *session) leaveBlock(w *bufio.Writer, ok bool) error {
	sql := "RELEASE SAVEPOINT " + blockSavepoint
	if !ok {
		sql = "ROLLBACK TO SAVEPOINT " + blockSavepoint + "; " + sql
	}
	if _, _, _, up := s.exchange(w, sql); !up {
		return errors.New("upstream connection lost")
	}
	return nil
}

// leaveBlockIf is leaveBlock when the statement runs in a block.
func (s *session) leaveBlockIf(w *bufio.Writer, block, ok bool) error {
	if !block {
		return nil
	}
	return s.leaveBlock(w, ok)
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
