package replication

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/sqltext"
)

// Per-table changes (an Applier that is a TableLoader). A catalog check (at the commit of a
// transaction that changed the catalog, on Refresh, every CatalogInterval) compares what it reads
// with what the twins hold, table by table (by relation OID):
//
//   - the same: nothing happens;
//   - a table dropped, no longer replicable, or replaced (another OID under its name, or its key
//     or vector columns changed): its twins are retired at once;
//   - pgvector indexes dropped only: TableLoader.Narrow retires their twins, the others answer on;
//   - a new table, a replaced one, a new pgvector index, changed INCLUDE columns, or a table
//     Refresh names: the table is loaded alone, as Postgres' logical replication syncs a table
//     added to a subscription, while every other twin keeps answering and the stream keeps
//     applying.
//
// Loading a table alone: the publication gets the table (committed at P); on two connections of
// its own, a goroutine creates a TEMPORARY logical slot exporting its snapshot, whose consistent
// point is S, and COPYs the table in that snapshot into Staged twins. Every transaction that
// commits at or after S started after P (creating the slot waits for the transactions running
// then), so the main stream decodes its changes of the table; a change is in the copy iff its
// transaction committed before S (Postgres' snapshot builder: a commit record before the slot's
// start point is in the snapshot and not decoded, one at or after it is decoded and not in the
// snapshot). Meanwhile the main stream applies every other table (and the twins the table had,
// when it still has them) and queues the table's changes with their transaction's commit LSN.
// Once the copy ended and the main stream applied past S, the stream's goroutine (between
// transactions) replays the queued changes of transactions that committed at or after S onto the
// staged twins and publishes them (Staged.Publish): from then the table's queries are answered by
// them, and its changes go to the Applier. Until then they are answered by the twins the table
// had, or forwarded.
//
// Snapshots: none is written while a table loads (the Applier would be persisted without it), so
// a restart resumes from the last one, before the change, and its different catalog reloads.
// A session that ends abandons the loads; the next one finds a catalog its state does not match
// and loads everything.

// maxTableLoads bounds the tables loading alone at once (each holds two connections, one of them
// a walsender); the others wait for a hand-over.
const maxTableLoads = 4

// tableSync is one table being loaded alone.
type tableSync struct {
	tt     *tableTarget
	staged Staged
	ri     *relInfo // the latest Relation message's mapping onto tt; nil before one
	queue  []queued // the table's changes since the load began, in commit order
	cancel context.CancelFunc
	done   chan syncResult // the copy's result (buffered: the goroutine never waits)
	result *syncResult     // received from done
	began  time.Time
}

type syncResult struct {
	point LSN // the temporary slot's consistent point (S)
	rows  int64
	err   error
}

// queued is one change of a table being loaded alone.
type queued struct {
	final LSN  // its transaction's commit LSN
	op    byte // 'u' upsert, 'd' delete, 't' truncate
	t     Target
	row   Row // op 'u'
	key   Key // op 'd'
}

// queueSink queues a transaction's changes of a table being loaded alone. Rows reach it decoded
// (vectors and include values copied out of the message buffer), so they outlive the message.
type queueSink struct {
	sy    *tableSync
	final LSN
}

func (q queueSink) Upsert(t Target, r Row) error {
	q.sy.queue = append(q.sy.queue, queued{final: q.final, op: 'u', t: t, row: r})
	return nil
}

func (q queueSink) Delete(t Target, key Key) error {
	q.sy.queue = append(q.sy.queue, queued{final: q.final, op: 'd', t: t, key: key})
	return nil
}

func (q queueSink) Truncate(t Target) error {
	q.sy.queue = append(q.sy.queue, queued{final: q.final, op: 't', t: t})
	return nil
}

// applyCatalog brings the twins to cat, table by table (see above). forced names tables to load
// again even when unchanged (their vecgate definitions changed: Refresh).
func (s *Stream) applyCatalog(ctx context.Context, cat *catalog.Catalog, loader TableLoader, forced map[string]bool) error {
	next, status := s.selection(cat)
	changed := false
	for qn, old := range s.tables {
		nw := next[qn]
		if nw == nil || nw.rows() != old.rows() {
			reason := "dropped or no longer replicated"
			if nw != nil {
				reason = "replaced, or its key or vector columns changed"
			}
			s.log.Info("twins retired", "table", qn, "reason", reason)
			s.drop(old)
			changed = true
		}
	}
	for oid, sy := range s.syncs {
		qn := sy.tt.table.QualifiedName()
		nw := next[qn]
		if nw == nil || forced[qn] || nw.rows() != sy.tt.rows() || nw.includeSig() != sy.tt.includeSig() ||
			!maps.Equal(nw.indexSet(), sy.tt.indexSet()) {
			s.log.Info("table load abandoned: the table changed again", "table", qn)
			s.stopSync(oid)
			changed = true
		}
	}
	var start []*tableTarget
	for _, qn := range slices.Sorted(maps.Keys(next)) {
		nw := next[qn]
		if s.syncs[nw.table.OID] != nil {
			continue // loading already, as it is now
		}
		old := s.tables[qn]
		var have, want map[string]bool
		if old != nil {
			have, want = old.indexSet(), nw.indexSet()
		}
		switch {
		case old == nil || forced[qn] || nw.includeSig() != old.includeSig() || !subset(want, have):
			if len(s.syncs)+len(start) >= maxTableLoads {
				s.loadsDeferred = true // loaded once one running is handed over
				if forced[qn] {
					s.mu.Lock()
					if s.forced == nil {
						s.forced = map[string]bool{}
					}
					s.forced[qn] = true
					s.mu.Unlock()
				}
				continue
			}
			start = append(start, nw)
		case len(want) < len(have):
			s.log.Info("twins of dropped indexes retired", "table", qn)
			loader.Narrow(nw.infos())
			for _, ri := range s.rels {
				if ri.tt == old {
					ri.tt = nw // same relation, same columns: the mapping holds
				}
			}
			s.tables[qn] = nw
			s.twinsChanged = true
			changed = true
		}
	}
	if len(start) > 0 || changed {
		pub := maps.Clone(s.tables)
		for _, sy := range s.syncs {
			pub[sy.tt.table.QualifiedName()] = sy.tt
		}
		for _, tt := range start {
			pub[tt.table.QualifiedName()] = tt
		}
		if err := s.publish(ctx, s.conn, pub); err != nil {
			if !undefinedTable(err) {
				return err
			}
			// A table read a moment ago was dropped since: read the catalog again.
			s.log.Info("a table changed while the publication was updated; reading the catalog again", "err", err)
			s.refreshDue = true
			return nil
		}
	}
	for _, tt := range start {
		if err := s.startSync(ctx, tt, loader); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.status.Tables = status
	s.mu.Unlock()
	s.signature = signature(s.tables)
	if changed || len(start) > 0 {
		s.catalogEpoch.Add(1)
	}
	return nil
}

// undefinedTable reports whether err is Postgres' undefined_table (42P01).
func undefinedTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42P01"
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// startSync begins loading tt alone (the publication holds it already).
func (s *Stream) startSync(ctx context.Context, tt *tableTarget, loader TableLoader) error {
	staged, err := loader.Stage(tt.infos())
	if err != nil {
		return fmt.Errorf("replication: stage %s: %w", tt.table.QualifiedName(), err)
	}
	var ri *relInfo
	if m, ok := s.relMsgs[tt.table.OID]; ok {
		ri, _ = mapRelation(tt, m) // a Relation message that does not fit is followed by one that does
	}
	if staged.Empty() {
		// No twin to fill (a table without a pgvector index yet): nothing to copy.
		if err := staged.Publish(); err != nil {
			return fmt.Errorf("replication: publish %s: %w", tt.table.QualifiedName(), err)
		}
		s.handedOver(tt, ri)
		return nil
	}
	sctx, cancel := context.WithCancel(ctx)
	sy := &tableSync{tt: tt, staged: staged, ri: ri, cancel: cancel, done: make(chan syncResult, 1), began: time.Now()}
	s.syncs[tt.table.OID] = sy
	s.setSyncing()
	s.log.Info("loading a table alone", "table", tt.table.QualifiedName(), "relation", tt.table.OID)
	s.syncWG.Add(1)
	go func() {
		defer s.syncWG.Done()
		sy.done <- s.copyAlone(sctx, tt, staged)
	}()
	return nil
}

// copyAlone creates a temporary slot exporting its snapshot and copies tt into dst under it.
func (s *Stream) copyAlone(ctx context.Context, tt *tableTarget, dst Sink) syncResult {
	rcfg, err := pgconn.ParseConfig(s.cfg.DSN)
	if err != nil {
		return syncResult{err: err}
	}
	rcfg.RuntimeParams["replication"] = "database"
	rcfg.RuntimeParams["application_name"] = s.slot + "_sync"
	rconn, err := pgconn.ConnectConfig(ctx, rcfg)
	if err != nil {
		return syncResult{err: fmt.Errorf("connect for replication: %w", err)}
	}
	defer rconn.Close(context.WithoutCancel(ctx)) // drops the temporary slot
	// Slot names are at most 63 bytes: the stream's own (at most 58) cut to leave room. An
	// abandoned load's slot lives until its connection closes: each load has a name of its own.
	name := fmt.Sprintf("%.38s_sync_%d_%d", s.slot, tt.table.OID, s.syncSeq.Add(1)%100000)
	stop := s.nudgePrimary(ctx)
	res, err := pglogrepl.CreateReplicationSlot(ctx, rconn, name, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Temporary: true, Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT",
	})
	stop()
	if err != nil {
		return syncResult{err: fmt.Errorf("create temporary slot %s: %w", name, err)}
	}
	point, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return syncResult{err: fmt.Errorf("temporary slot %s: consistent point: %w", name, err)}
	}
	conn, err := pgx.Connect(ctx, s.cfg.DSN)
	if err != nil {
		return syncResult{err: err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return syncResult{err: err}
	}
	if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+sqltext.QuoteLiteral(res.SnapshotName)); err != nil {
		return syncResult{err: fmt.Errorf("set snapshot: %w", err)}
	}
	// COPY names the table: locked, the name cannot move to another relation (a rename swap
	// since the catalog was read) before the copy ends.
	if _, err := conn.Exec(ctx, "LOCK TABLE "+tt.table.Ident()+" IN ACCESS SHARE MODE"); err != nil {
		return syncResult{err: err}
	}
	var oid uint32
	if err := conn.QueryRow(ctx, "SELECT $1::regclass::oid", tt.table.Ident()).Scan(&oid); err != nil {
		return syncResult{err: err}
	}
	if oid != tt.table.OID {
		return syncResult{err: &pgconn.PgError{Severity: "ERROR", Code: "42P01",
			Message: fmt.Sprintf("%s is relation %d now, not %d", tt.table.QualifiedName(), oid, tt.table.OID)}}
	}
	p := &progress{log: s.log, every: s.cfg.ProgressInterval, start: time.Now(), last: time.Now()}
	if err := s.copyTable(ctx, conn, tt, p, dst); err != nil {
		return syncResult{err: err}
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return syncResult{err: err}
	}
	return syncResult{point: point, rows: p.rows}
}

// handOver publishes the twins of every table whose copy ended once the stream applied past its
// consistent point, after replaying the changes queued since. Called between transactions.
func (s *Stream) handOver() error {
	for _, oid := range slices.Sorted(maps.Keys(s.syncs)) {
		sy := s.syncs[oid]
		qn := sy.tt.table.QualifiedName()
		if sy.result == nil {
			select {
			case r := <-sy.done:
				sy.result = &r
			default:
				continue
			}
			if err := sy.result.err; err != nil {
				s.stopSync(oid)
				if undefinedTable(err) {
					// Dropped since the catalog was read: the next check retires it.
					s.log.Info("table load abandoned: the table is gone", "table", qn, "err", err)
					s.refreshDue = true
					continue
				}
				return fmt.Errorf("%w: loading %s alone: %w", errResync, qn, err)
			}
		}
		if s.applied() < sy.result.point {
			s.wantReply.Store(true) // a keepalive moves the position past S when the server is idle
			continue
		}
		replayed := 0
		for _, q := range sy.queue {
			if q.final < sy.result.point {
				continue // in the copy
			}
			replayed++
			var err error
			switch q.op {
			case 'u':
				if err = sy.staged.Upsert(q.t, q.row); err != nil {
					err = s.rejectUpsert(sy.staged, q.t, q.row.Key, q.row.OldKey, err)
				}
			case 'd':
				err = sy.staged.Delete(q.t, q.key)
			case 't':
				err = sy.staged.Truncate(q.t)
			}
			if err != nil {
				s.stopSync(oid)
				return fmt.Errorf("replication: loading %s alone: replay: %w", qn, err)
			}
		}
		if err := sy.staged.Publish(); err != nil {
			s.stopSync(oid)
			return fmt.Errorf("%w: loading %s alone: publish: %w", errResync, qn, err)
		}
		delete(s.syncs, oid)
		s.handedOver(sy.tt, sy.ri)
		s.mu.Lock()
		s.status.TableLoads++
		s.mu.Unlock()
		s.log.Info("table loaded alone", "table", qn, "rows", sy.result.rows, "queued_changes", replayed,
			"consistent_point", sy.result.point, "seconds", time.Since(sy.began).Seconds())
		if s.loadsDeferred {
			s.loadsDeferred, s.refreshDue = false, true // start the loads that waited
		}
	}
	// A restart must not resume from a snapshot without the twins loaded since: write one now
	// (none is written while a table loads).
	return s.maybePersist(true)
}

// handedOver makes tt (whose twins were just published) a replicated table, its changes mapped
// by ri (nil: by the next Relation message).
func (s *Stream) handedOver(tt *tableTarget, ri *relInfo) {
	qn, oid := tt.table.QualifiedName(), tt.table.OID
	// The twins the table had (the same relation) are replaced; the others are retired.
	if old := s.tables[qn]; old != nil {
		for _, t := range old.targets {
			if !slices.Contains(tt.targets, t) {
				s.retireTarget(t)
			}
		}
	}
	s.tables[qn] = tt
	if ri != nil {
		s.rels[oid] = ri
	} else {
		delete(s.rels, oid)
	}
	s.signature = signature(s.tables)
	s.catalogEpoch.Add(1)
	s.setSyncing()
	s.twinsChanged = true
}

// stopSync abandons the load of relation oid: its goroutine is cancelled and, once it ended, its
// staged twins discarded.
func (s *Stream) stopSync(oid uint32) {
	sy := s.syncs[oid]
	if sy == nil {
		return
	}
	delete(s.syncs, oid)
	sy.cancel()
	if sy.result != nil {
		sy.staged.Discard()
	} else {
		s.syncWG.Add(1)
		go func() {
			defer s.syncWG.Done()
			<-sy.done
			sy.staged.Discard()
		}()
	}
	s.setSyncing()
}

// stopSyncs abandons every load (the session ends).
func (s *Stream) stopSyncs() {
	for oid := range s.syncs {
		s.stopSync(oid)
	}
}

// setSyncing publishes the tables loading alone in Status.
func (s *Stream) setSyncing() {
	var names []string
	for _, sy := range s.syncs {
		names = append(names, sy.tt.table.QualifiedName())
	}
	sort.Strings(names)
	s.mu.Lock()
	s.status.Loading = names
	s.mu.Unlock()
}

// retireTarget retires one target's twins (when the Applier can: Retirer).
func (s *Stream) retireTarget(t Target) {
	if r, ok := s.cfg.Applier.(Retirer); ok {
		r.Retire(t)
	}
}
