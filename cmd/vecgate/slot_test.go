package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vecgate/vecgate/gateway"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
)

// startGateway starts a gateway (intercepting or not) in front of dsn (a fresh pgtest database, left
// empty), closed when the test ends unless the test closes it first.
func startGateway(t *testing.T, dsn string, intercept bool) *gateway.Gateway {
	t.Helper()
	cfg := gateway.Config{Proxy: proxy.DefaultConfig(), Intercept: intercept, SlotName: fmt.Sprintf("c%d", rand.Uint32())}
	cfg.Proxy.Listen, cfg.Proxy.Upstream = "127.0.0.1:0", dsn
	cfg.Proxy.Logger = slog.New(slog.DiscardHandler)
	g, err := gateway.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	return g
}

// TestSlotDrop: after vecgate stops, `vecgate slot drop` removes its slot and publication.
func TestSlotDrop(t *testing.T) {
	dsn := pgtest.NewDB(t)
	g := startGateway(t, dsn, true)
	name := strings.TrimPrefix(g.Stream().Slot(), "vecgate_")
	for deadline := time.Now().Add(time.Minute); !g.Stream().Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("replication not ready: %+v", g.Stream().Status())
		}
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	admin := pgtest.Connect(t, dsn)
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
	if err := runSlot(context.Background(), []string{"drop", "--dsn", dsn, "--slot-name", name}, &out, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if count() != 0 {
		t.Fatalf("%d objects left after the drop", count())
	}
}
