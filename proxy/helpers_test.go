package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
)

// startProxy runs a vecgate proxy on a free loopback port in front of the test server and returns
// it with a function that turns a direct DSN into the same DSN through the proxy.
func startProxy(t testing.TB, upstreamDSN string, mutate ...func(*proxy.Config)) (*proxy.Server, func(string) string) {
	t.Helper()
	cfg := proxy.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Upstream = upstreamDSN
	cfg.Logger = testLogger(t)
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	port := srv.Addr().(*net.TCPAddr).Port
	via := func(dsn string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = "127.0.0.1:" + strconv.Itoa(port)
		return u.String()
	}
	return srv, via
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
