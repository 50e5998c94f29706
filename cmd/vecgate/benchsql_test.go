package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vecgate/vecgate/bench/sqlbench"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestBenchSQLEndToEnd runs `vecgate bench sql` at tiny scale against the test Postgres: the
// report parses, recalls are probabilities, vecgate answered (intercepted) its queries, and the
// table is dropped afterwards.
func TestBenchSQLEndToEnd(t *testing.T) {
	dsn := pgtest.NewDB(t)
	dir := t.TempDir()
	jsonPath, svgPath := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := runBenchSQL(ctx, []string{
		"--dsn", dsn, "--gen", "2000:16", "--nq", "200", "--ef", "10,40", "--clients", "1",
		"--duration", "1s", "--rounds", "2", "--json", jsonPath, "--svg", svgPath,
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench sql: %v\nstderr:\n%s", err, stderr.String())
	}
	t.Logf("stdout:\n%s", stdout.String())
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep sqlbench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report does not parse: %v", err)
	}
	if rep.N != 2000 || rep.Dims != 16 || rep.Queries != 200 || rep.Table != "vg_bench_16" {
		t.Fatalf("report header: %+v", rep)
	}
	if rep.PGIndexBytes <= 0 || rep.VGIndexBytes <= 0 || rep.PGBuildSeconds <= 0 || rep.VGLoadSeconds <= 0 {
		t.Fatalf("build figures missing: %+v", rep)
	}
	if rep.VGRSSAnon <= 0 || !strings.Contains(stdout.String(), "vecgate RSS growth over its load: ") {
		t.Errorf("no RSS growth measured over vecgate's load: %d anonymous bytes", rep.VGRSSAnon)
	}
	if !rep.ClientProcess {
		t.Errorf("the clients did not run in their own process (the default)")
	}
	if !rep.PGPlanUsesHNSW {
		t.Errorf("the direct query was not planned onto pgvector's index")
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("got %d rows, want 2 pgvector + 1 vecgate", len(rep.Rows))
	}
	var vg *sqlbench.Row
	for i, r := range rep.Rows {
		if r.Recall < 0 || r.Recall > 1 || r.Scored == 0 || r.QPS <= 0 || r.P99Micros < r.P50Micros {
			t.Errorf("implausible row %+v", r)
		}
		if r.Method == "vecgate" {
			vg = &rep.Rows[i]
		}
	}
	if vg == nil {
		t.Fatal("no vecgate row")
	}
	if vg.Intercepted <= 0.9 {
		t.Fatalf("vecgate intercepted %.1f%% of its queries, want > 90%%", 100*vg.Intercepted)
	}
	if vg.Recall < 0.8 {
		t.Errorf("vecgate recall@10 %.3f on an easy set", vg.Recall)
	}
	if len(rep.Ratios) != 1 || rep.Ratios[0].QPS <= 0 {
		t.Fatalf("ratios: %+v", rep.Ratios)
	}
	// Printed tables: a header per table and one line per row.
	out := stdout.String()
	if !strings.Contains(out, "| method") || !strings.Contains(out, "| clients") || strings.Count(out, "| pgvector |") != 2 {
		t.Fatalf("printed table:\n%s", out)
	}
	svg, err := os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Fatalf("SVG is not well-formed XML: %v", err)
	}
	// SELECT *: every column, so vecgate sends Postgres the id-list rewrite; the id still scores.
	star := filepath.Join(dir, "star.json")
	stdout.Reset()
	if err := runBenchSQL(ctx, []string{
		"--dsn", dsn, "--gen", "2000:16", "--nq", "200", "--ef", "40", "--clients", "1",
		"--duration", "1s", "--select", "*", "--json", star,
	}, &stdout, &stderr); err != nil {
		t.Fatalf("bench sql --select '*': %v\nstderr:\n%s", err, stderr.String())
	}
	if b, err = os.ReadFile(star); err != nil {
		t.Fatal(err)
	}
	rep = sqlbench.Report{}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rows {
		if r.Recall < 0.8 || (r.Method == "vecgate" && r.Intercepted <= 0.9) {
			t.Errorf("--select '*': row %+v", r)
		}
	}
	if rep.Select != "*" || !strings.Contains(stdout.String(), "SELECT *") {
		t.Errorf("--select '*' not reported: %q\n%s", rep.Select, stdout.String())
	}
	// Without --keep the table is gone.
	c := pgtest.Connect(t, dsn)
	var exists bool
	if err := c.QueryRow(ctx, "SELECT to_regclass('vg_bench_16') IS NOT NULL").Scan(&exists); err != nil || exists {
		t.Fatalf("table left behind (%v)", err)
	}
}

func TestBenchSQLFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dsn", "postgres://x/y"}, "need --data"},
		{[]string{"--dsn", "postgres://x/y", "--gen", "10"}, "N:DIMS"},
		{[]string{"--dsn", "postgres://x/y", "--gen", "0:4"}, "N:DIMS"},
		{[]string{"--dsn", "postgres://x/y", "--gen", "10:4", "--metric", "l1"}, "only l2"},
		{[]string{"--dsn", "postgres://x/y", "--gen", "10:4", "--clients", "0"}, "--clients"},
		{[]string{"--dsn", "postgres://x/y", "--gen", "10:4", "--data", "a.fvecs"}, "exclude"},
		{[]string{"--dsn", "", "--gen", "10:4"}, "no --dsn"},
		{[]string{"--dsn", "postgres://x/y", "--gen", "10:4", "--vecgate-ef", "default,0"}, "--vecgate-ef"},
	} {
		_, err := parseBenchSQLFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	o, err := parseBenchSQLFlags([]string{"--dsn", "postgres://x/y", "--gen", "500:32", "--ef", "10,80", "--metric", "cosine"}, io.Discard)
	if err != nil || o.GenN != 500 || o.GenDims != 32 || len(o.EFs) != 2 || o.Clients[1] != 16 || o.K != 10 ||
		!slices.Equal(o.VecgateEFs, []int{0}) {
		t.Fatalf("parsed %+v, %v", o, err)
	}
	if o, err = parseBenchSQLFlags([]string{"--dsn", "postgres://x/y", "--gen", "500:32", "--vecgate-ef", "default,10,20"}, io.Discard); err != nil ||
		!slices.Equal(o.VecgateEFs, []int{0, 10, 20}) {
		t.Fatalf("--vecgate-ef default,10,20: %v, %v", o.VecgateEFs, err)
	}
}

// TestMain lets the test binary stand in for vecgate as the child process of `bench sql
// --client-process` (`<binary> bench client CELL.json`), which TestBenchSQLEndToEnd runs.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "bench" && os.Args[2] == "client" {
		if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "vecgate:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
