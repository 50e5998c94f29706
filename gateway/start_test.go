package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
)

// TestStartErrorsWrappedOnce: an error from a part names that part once — replication's own
// "replication: config: …", not "replication: replication: config: …"; each part logs as its
// subsystem.
func TestStartErrorsWrappedOnce(t *testing.T) {
	var logs bytes.Buffer
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", pgtest.NewDB(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := startGateway(context.Background(), cfg, Config{Intercept: true, SlotName: "Not-Valid"})
	if err == nil {
		_ = g.Close(context.Background())
		t.Fatal("a slot name replication refuses started a gateway")
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "replication: config: ") || strings.Count(msg, "replication:") != 1 {
		t.Errorf("error %q: want replication's own message, wrapped once", msg)
	}
	if !strings.Contains(logs.String(), "subsystem=migrations") {
		t.Errorf("no log line of subsystem=migrations:\n%s", logs.String())
	}
}
