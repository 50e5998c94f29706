package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	var rep sqlbReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report does not parse: %v", err)
	}
	if rep.N != 2000 || rep.Dims != 16 || rep.Queries != 200 || rep.Table != "vg_bench_16" {
		t.Fatalf("report header: %+v", rep)
	}
	if rep.PGIndexBytes <= 0 || rep.VGIndexBytes <= 0 || rep.PGBuildSeconds <= 0 || rep.VGLoadSeconds <= 0 {
		t.Fatalf("build figures missing: %+v", rep)
	}
	if !rep.PGPlanUsesHNSW {
		t.Errorf("the direct query was not planned onto pgvector's index")
	}
	if len(rep.Rows) != 3 {
		t.Fatalf("got %d rows, want 2 pgvector + 1 vecgate", len(rep.Rows))
	}
	var vg *sqlbRow
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
	rep = sqlbReport{}
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

// TestBenchSQLRatios: vecgate is compared with the fastest pgvector row at equal-or-better recall,
// or with pgvector's best recall when it never gets there.
func TestBenchSQLRatios(t *testing.T) {
	rep := &sqlbReport{Rows: []sqlbRow{
		{Method: "pgvector", EF: 10, Clients: 1, Recall: 0.80, QPS: 1000, P50Micros: 100, BuildSeconds: 10, BytesPerVector: 1000},
		{Method: "pgvector", EF: 40, Clients: 1, Recall: 0.95, QPS: 500, P50Micros: 200, BuildSeconds: 10, BytesPerVector: 1000},
		{Method: "pgvector", EF: 80, Clients: 1, Recall: 0.98, QPS: 300, P50Micros: 300, BuildSeconds: 10, BytesPerVector: 1000},
		{Method: "vecgate", Clients: 1, Recall: 0.95, QPS: 1500, P50Micros: 100, BuildSeconds: 5, BytesPerVector: 500},
		{Method: "pgvector", EF: 10, Clients: 16, Recall: 0.80, QPS: 900},
		{Method: "pgvector", EF: 40, Clients: 16, Recall: 0.90, QPS: 400},
		{Method: "vecgate", Clients: 16, Recall: 0.99, QPS: 800},
	}}
	got := sqlbRatios(rep)
	if len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	if r := got[0]; r.PgvectorEF != 40 || !r.EqualRecall || r.QPS != 3 || r.P50 != 0.5 || r.Build != 0.5 || r.Bytes != 0.5 {
		t.Errorf("1 client: %+v", r)
	}
	if r := got[1]; r.PgvectorEF != 40 || r.EqualRecall || r.QPS != 2 {
		t.Errorf("16 clients: %+v", r)
	}
	if err := xml.Unmarshal([]byte(sqlbSVG(rep)), new(struct{})); err != nil {
		t.Fatalf("SVG: %v", err)
	}
}

// TestBenchSQLQPSAt: pgvector's QPS at a recall between two ef values is interpolated (log QPS
// linear in recall) on its frontier; a row slower than a higher-recall row is left out.
func TestBenchSQLQPSAt(t *testing.T) {
	rows := []sqlbRow{
		{Method: "pgvector", EF: 10, Clients: 1, Recall: 0.80, QPS: 1000},
		{Method: "pgvector", EF: 20, Clients: 1, Recall: 0.90, QPS: 250}, // noise: slower than ef 40
		{Method: "pgvector", EF: 40, Clients: 1, Recall: 0.95, QPS: 500},
		{Method: "pgvector", EF: 80, Clients: 1, Recall: 0.98, QPS: 300},
		{Method: "vecgate", Clients: 1, Recall: 0.99, QPS: 9999},
		{Method: "pgvector", EF: 40, Clients: 16, Recall: 0.95, QPS: 5000},
	}
	for _, c := range []struct {
		recall, want float64
	}{
		{0.70, 1000},                   // below the curve: the fastest row
		{0.80, 1000},                   // on a point
		{0.95, 500},                    // on a point
		{0.965, math.Sqrt(500 * 300)},  // halfway between ef 40 and ef 80
		{0.875, math.Sqrt(1000 * 500)}, // halfway between ef 10 and ef 40 (ef 20 is off the frontier)
		{0.98, 300},
		{0.99, 0}, // never reached
	} {
		if got := sqlbQPSAt(rows, 1, c.recall); math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("recall %v: %v, want %v", c.recall, got, c.want)
		}
	}
}
