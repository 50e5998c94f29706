// Package proxytest runs a vecgate proxy (no interception) in a test, in front of the test
// Postgres, and rewrites DSNs to go through it.
package proxytest

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

	"github.com/vecgate/vecgate/proxy"
)

// Start runs a proxy on a free loopback port in front of upstream (mutate adjusts its config)
// until the test ends, and returns it with a function that turns a direct DSN into the same DSN
// through the proxy. Logs go to stderr when VECGATE_TEST_LOG is set.
func Start(t testing.TB, upstream string, mutate ...func(*proxy.Config)) (*proxy.Server, func(string) string) {
	t.Helper()
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", upstream
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("VECGATE_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
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
			t.Errorf("proxy shutdown: %v", err)
		}
	})
	port := strconv.Itoa(srv.Addr().(*net.TCPAddr).Port)
	return srv, func(dsn string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = net.JoinHostPort("127.0.0.1", port)
		return u.String()
	}
}
