package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/internal/proxytest"
	"github.com/vecgate/vecgate/proxy"
)

// startProxy runs a vecgate proxy in front of upstreamDSN for the test (see proxytest.Start).
func startProxy(t testing.TB, upstreamDSN string, mutate ...func(*proxy.Config)) (*proxy.Server, func(string) string) {
	t.Helper()
	return proxytest.Start(t, upstreamDSN, mutate...)
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() || os.Getenv("VECGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	return pgtest.Connect(t, dsn)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustExec(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(ctxT(t, time.Minute), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
