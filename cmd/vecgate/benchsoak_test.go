package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vecgate/vecgate/bench/soak"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestBenchSoak runs `vecgate bench soak` short (CI's soak: 25 s, 12 clients, a fault about every
// second, DDL every 4 s — side tables, and a column of the soaked table added and dropped — a
// quiet point every 8 s): it must pass (no wrong answer, no lost or stale row, no leaked
// goroutine, recovered from every fault), with every kind of operation done, faults injected and
// answers compared at the quiet points, some of them intercepted.
func TestBenchSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: not in -short")
	}
	dsn := pgtest.NewDB(t)
	jsonPath := filepath.Join(t.TempDir(), "soak.json")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := runBenchSoak(ctx, []string{"--dsn", dsn, "--clients", "12", "--duration", "25s", "--quiet-every", "8s",
		"--fault-every", "1s", "--ddl-every", "4s", "--window", "10s", "--json", jsonPath}, &stdout, &stderr)
	t.Logf("stdout:\n%s", stdout.String())
	if err != nil {
		t.Fatalf("bench soak: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep soak.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report does not parse: %v", err)
	}
	for _, op := range []string{"query", "insert", "update", "update_vector", "delete", "transaction", "cancel", "ddl"} {
		if rep.Ops.Ops[op] == 0 {
			t.Errorf("no %s operation in the load: %v", op, rep.Ops.Ops)
		}
	}
	if rep.FaultsTotal < 8 || rep.Faults["cut"]+rep.Faults["cut_all"] == 0 || rep.Faults["stall"] == 0 {
		t.Errorf("faults %v", rep.Faults)
	}
	var intercepted int64
	for _, qp := range rep.QuietPoints {
		intercepted += qp.Intercepted
	}
	if len(rep.QuietPoints) < 3 || rep.Checked == 0 || intercepted == 0 {
		t.Errorf("%d quiet points, %d statements compared, %d of them intercepted", len(rep.QuietPoints), rep.Checked, intercepted)
	}
	if rep.Intercepted == 0 || rep.FastPath == 0 || len(rep.Windows) == 0 {
		t.Errorf("intercepted %d, from memory %d, %d latency windows", rep.Intercepted, rep.FastPath, len(rep.Windows))
	}
	if !strings.Contains(stdout.String(), "PASS") {
		t.Errorf("the report does not say PASS")
	}
}
