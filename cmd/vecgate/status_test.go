package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/observe"
)

// TestStatusCommand: `vecgate status` reads a running gateway's /status and prints it as a table
// or as the raw JSON; with nothing listening it says what to check. (What /status holds for live
// indexes is gateway's TestStatusAgainstCatalog.)
func TestStatusCommand(t *testing.T) {
	g := startGateway(t, pgtest.NewDB(t), false)
	addr, err := g.Observer().Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := runStatus(ctx, []string{"--http", addr.String()}, &out, &errOut); err != nil {
		t.Fatalf("vecgate status: %v %s", err, errOut.String())
	}
	for _, w := range []string{"0 session(s), 0 intercepted", "replication: off (--intercept=false)", "no indexes"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("vecgate status output lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	if err := runStatus(ctx, []string{"--http", "http://" + addr.String(), "--json"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var js observe.Status
	if err := json.Unmarshal(out.Bytes(), &js); err != nil {
		t.Fatalf("--json: %v", err)
	}
	if js.Intercept || js.Replication != nil || js.Time.IsZero() {
		t.Errorf("--json of a forwarding gateway: %+v", js)
	}
	// Nothing listening: a clear error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if err := runStatus(ctx, []string{"--http", closed}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "vecgate serve") {
		t.Errorf("status against nothing: %v", err)
	}
}
