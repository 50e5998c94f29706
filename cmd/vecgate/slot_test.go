package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestSlotDrop: after vecgate stops, `vecgate slot drop` removes its slot and publication.
func TestSlotDrop(t *testing.T) {
	f := newFixture(t, 100)
	name := strings.TrimPrefix(f.g.stream.Slot(), "vecgate_")
	if err := f.g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	admin := pgtest.Connect(t, f.dsn)
	count := func() (n int) {
		err := admin.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1)
			+ (SELECT count(*) FROM pg_publication WHERE pubname = $1)`, "vecgate_"+name).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != 2 {
		t.Fatalf("slot and publication not there before the drop: %d", count())
	}
	var out bytes.Buffer
	if err := runSlot(context.Background(), []string{"drop", "--dsn", f.dsn, "--slot-name", name}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if count() != 0 {
		t.Fatalf("%d objects left after the drop", count())
	}
}
