package gateway

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestSlotWALMetrics: the observer reads the replication slot's WAL upstream and exports it
// (vecgate_replication_slot_retained_wal_bytes, vecgate_replication_slot_safe_wal_bytes) and
// shows it in /status. Retained plus safe is max_slot_wal_keep_size (both are read in one query,
// so they agree to Postgres' segment rounding).
func TestSlotWALMetrics(t *testing.T) {
	f := newFixture(t, 300)
	addr := serveObserver(t, f.g.Observer())
	direct := pgtest.Connect(t, f.dsn)
	var keep int64 // max_slot_wal_keep_size in bytes; -1 unbounded
	if err := direct.QueryRow(context.Background(),
		`SELECT CASE WHEN setting::int8 < 0 THEN -1 ELSE setting::int8 * 1024 * 1024 END FROM pg_settings WHERE name = 'max_slot_wal_keep_size'`).Scan(&keep); err != nil {
		t.Fatal(err)
	}
	var retained float64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ok bool
		if retained, ok = metricValue(t, scrape(t, addr), "vecgate_replication_slot_retained_wal_bytes", nil); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no vecgate_replication_slot_retained_wal_bytes after 30 s")
		}
	}
	fams := scrape(t, addr)
	if retained <= 0 {
		t.Errorf("slot retains %v bytes", retained)
	}
	safe, ok := metricValue(t, fams, "vecgate_replication_slot_safe_wal_bytes", nil)
	if keep < 0 {
		if ok {
			t.Errorf("safe WAL %v with max_slot_wal_keep_size unbounded", safe)
		}
	} else {
		r := mustMetric(t, fams, "vecgate_replication_slot_retained_wal_bytes", nil)
		const seg = 16 << 20
		if !ok || math.Abs(r+safe-float64(keep)) > 2*seg {
			t.Errorf("retained %v + safe %v (present %v), max_slot_wal_keep_size %d", r, safe, ok, keep)
		}
	}
	rs := f.g.Status().Replication
	if rs == nil || rs.SlotRetainedWAL == nil || rs.SlotWALStatus != "reserved" {
		t.Fatalf("status replication %+v", rs)
	}
}
