package replication

import (
	"context"
	"strconv"
	"time"
)

// waitVisible waits, briefly, until the transaction xid, whose commit the stream has just
// decoded, is visible to other sessions' snapshots. The walsender may send a commit as soon as
// its WAL is flushed, before the committing backend has left the process array: a catalog read
// at once could miss what the transaction changed (a partition just created, seen only at the
// next periodic check, 30 s later; observed under load). A transaction holds the lock on its
// xid until after it is visible, so this waits until no such lock is held (at most about a
// second; a failed query waits no longer).
func (s *Stream) waitVisible(ctx context.Context, xid uint32) {
	if xid == 0 || s.conn == nil {
		return
	}
	arg := strconv.FormatUint(uint64(xid), 10)
	for range 200 {
		var running bool
		err := s.conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_locks
			WHERE locktype OPERATOR(pg_catalog.=) 'transactionid' AND transactionid OPERATOR(pg_catalog.=) $1::pg_catalog.text::pg_catalog.xid)`, arg).Scan(&running)
		if err != nil || !running {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}
