package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// DropSlot removes what a Stream named name created upstream: the slot "vecgate_<name>" and the
// publication of the same name (for `vecgate slot drop` when vecgate is removed). The Stream must
// be stopped: an active slot cannot be dropped. On a standby it drops the slot and returns an
// error saying that the publication is to be dropped on the primary. A walsender that has not yet noticed its client
// left keeps the slot active for a moment; DropSlot waits up to 10 seconds for it.
func DropSlot(ctx context.Context, dsn, name string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("replication: drop slot: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	slot := "vecgate_" + name
	for deadline := time.Now().Add(10 * time.Second); ; {
		var active bool
		err := conn.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&active)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && (!active || time.Now().After(deadline)) {
			break
		}
		if err != nil {
			return fmt.Errorf("replication: drop slot %s: %w", slot, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot); err != nil {
		return fmt.Errorf("replication: drop slot %s: %w", slot, err)
	}
	var standby bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
		return fmt.Errorf("replication: drop slot %s: %w", slot, err)
	}
	if standby { // vecgate on a standby: its publication is the primary's (standby.go)
		return fmt.Errorf("replication: slot %s dropped; the server is a standby, so publication %s is on the primary: run again with the primary's DSN to drop it", slot, slot)
	}
	if _, err := conn.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{slot}.Sanitize()); err != nil {
		return fmt.Errorf("replication: drop publication %s: %w", slot, err)
	}
	return nil
}
