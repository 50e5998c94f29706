package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// Decoding on a physical standby (Postgres 16+). Config.DSN names the standby and Config.Primary
// its primary: a standby is read-only, so the publication is created and altered on the primary,
// and the standby is waited for until it has replayed that change before decoding relies on it.
// Slots are created on the standby, where CREATE_REPLICATION_SLOT waits for a running-transactions
// record from the primary; while it waits, the primary is asked to log one
// (pg_log_standby_snapshot) instead of waiting for the next one its background writer logs (up to
// 15 s, longer on an idle primary). Each session asks the server whether it is in recovery: once
// the standby is promoted the stream treats it as a primary (its slot survives the promotion).

// replayWait bounds how long a session waits for the standby to replay the primary's position.
const replayWait = time.Minute

// CheckStandby says whether vecgate can decode from dsn: when it is a physical standby, primary
// must name its primary (vecgate writes its schema and publication there), and the standby must
// run Postgres 16 or later with wal_level = logical and hot_standby_feedback = on, on the same
// database as primary; the primary must have wal_level = logical. The error says what to set. A
// standby without a physical slot (primary_slot_name) is only warned about on log. With dsn not in
// recovery (a primary, or a promoted standby) it checks nothing.
func CheckStandby(ctx context.Context, dsn, primary string, log *slog.Logger) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("replication: check upstream: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var (
		recovery                   bool
		version                    int
		walLevel, feedback, slot   string
		database                   string
		primaryLevel, primaryDBase string
	)
	err = conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), current_setting('server_version_num')::int,
		current_setting('wal_level'), current_setting('hot_standby_feedback'), current_setting('primary_slot_name'),
		current_database()`).Scan(&recovery, &version, &walLevel, &feedback, &slot, &database)
	if err != nil {
		return fmt.Errorf("replication: check upstream: %w", err)
	}
	if !recovery {
		return nil
	}
	var errs []error
	if primary == "" {
		errs = append(errs, errors.New("the upstream is a physical standby (in recovery) and no primary is set: "+
			"vecgate writes its schema and publication to the primary: set --primary to the primary's DSN"))
	}
	if version < 160000 {
		errs = append(errs, fmt.Errorf("the standby runs Postgres %d.%d: logical decoding on a standby needs Postgres 16 or later", version/10000, version%10000))
	}
	if walLevel != "logical" {
		errs = append(errs, fmt.Errorf("the standby has wal_level = %s: set wal_level = logical on the standby (postgresql.conf) and restart it", walLevel))
	}
	if feedback != "on" {
		errs = append(errs, errors.New("the standby has hot_standby_feedback = off: set hot_standby_feedback = on on the standby "+
			"(postgresql.conf, then reload), with a physical slot (primary_slot_name), or the primary removes rows "+
			"its logical slot still needs and Postgres invalidates that slot"))
	}
	if primary != "" {
		pc, err := pgx.Connect(ctx, primary)
		if err != nil {
			return fmt.Errorf("replication: check primary: %w", err)
		}
		defer pc.Close(context.WithoutCancel(ctx))
		if err := pc.QueryRow(ctx, `SELECT current_setting('wal_level'), current_database()`).Scan(&primaryLevel, &primaryDBase); err != nil {
			return fmt.Errorf("replication: check primary: %w", err)
		}
		if primaryLevel != "logical" {
			errs = append(errs, fmt.Errorf("the primary has wal_level = %s: set wal_level = logical on the primary and restart it", primaryLevel))
		}
		if primaryDBase != database {
			errs = append(errs, fmt.Errorf("the upstream names database %q and the primary %q: both must name the same database", database, primaryDBase))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("replication: cannot decode on the standby: %w", errors.Join(errs...))
	}
	if slot == "" && log != nil {
		log.Warn("the standby has no physical slot (primary_slot_name is empty): hot_standby_feedback holds back the primary's cleanup only while it is connected; " +
			"a disconnection can invalidate vecgate's slot (a full reload)")
	}
	return nil
}

// standbySession asks conn's server whether it is in recovery and records it for this session;
// on a standby it waits until the standby has replayed the primary's current position, so that
// what the primary holds (vecgate's schema, a publication just changed) is seen there too.
func (s *Stream) standbySession(ctx context.Context, conn *pgx.Conn) error {
	var recovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovery); err != nil {
		return fmt.Errorf("replication: ask whether the upstream is a standby: %w", err)
	}
	was := s.onStandby.Swap(recovery)
	if !recovery {
		if was {
			s.log.Info("the upstream is no longer in recovery (promoted): publication and slots on it")
		}
		return nil
	}
	if s.cfg.Primary == "" {
		return errors.New("replication: the upstream is a physical standby and no primary is set (Config.Primary)")
	}
	pc, err := pgx.Connect(ctx, s.cfg.Primary)
	if err != nil {
		return fmt.Errorf("replication: connect to the primary: %w", err)
	}
	defer pc.Close(context.WithoutCancel(ctx))
	return s.awaitReplay(ctx, conn, pc)
}

// awaitReplay waits until the standby (conn) has replayed the primary's (pc) current WAL position.
func (s *Stream) awaitReplay(ctx context.Context, conn, pc *pgx.Conn) error {
	var target LSN
	if err := pc.QueryRow(ctx, `SELECT pg_current_wal_lsn()`).Scan(&target); err != nil {
		return fmt.Errorf("replication: read the primary's position: %w", err)
	}
	deadline := time.Now().Add(replayWait)
	for {
		var replayed LSN
		if err := conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')`).Scan(&replayed); err != nil {
			return fmt.Errorf("replication: read the standby's replay position: %w", err)
		}
		if replayed >= target {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replication: the standby replayed %s, not the primary's %s, after %s: is it streaming from the primary?", replayed, target, replayWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// publish makes the publication publish tables (ensurePublication): on the primary when the
// upstream is a standby, which is then waited for until it has replayed the change.
func (s *Stream) publish(ctx context.Context, conn *pgx.Conn, tables map[string]*tableTarget) error {
	if !s.onStandby.Load() {
		return s.ensurePublication(ctx, conn, tables)
	}
	pc, err := pgx.Connect(ctx, s.cfg.Primary)
	if err != nil {
		return fmt.Errorf("replication: connect to the primary for the publication: %w", err)
	}
	defer pc.Close(context.WithoutCancel(ctx))
	if err := s.ensurePublication(ctx, pc, tables); err != nil {
		return err
	}
	return s.awaitReplay(ctx, conn, pc)
}

// nudgePrimary, on a standby, asks the primary to log a running-transactions record every
// 200 ms until the returned function is called: creating a slot on a standby waits for one. On a
// primary it does nothing.
func (s *Stream) nudgePrimary(ctx context.Context) (stop func()) {
	if !s.onStandby.Load() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pc, err := pgx.Connect(ctx, s.cfg.Primary)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("slot creation on the standby: cannot reach the primary to log a standby snapshot; waiting for the next one it logs", "err", err)
			}
			return
		}
		defer pc.Close(context.WithoutCancel(ctx))
		for t := time.NewTicker(200 * time.Millisecond); ; {
			if _, err := pc.Exec(ctx, `SELECT pg_log_standby_snapshot()`); err != nil {
				if ctx.Err() == nil {
					s.log.Warn("slot creation on the standby: pg_log_standby_snapshot() on the primary failed (grant EXECUTE on it to vecgate's role); waiting for the next snapshot the primary logs", "err", err)
				}
				return
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}
