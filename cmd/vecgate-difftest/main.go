// Command vecgate-difftest runs vecgate's randomized differential tester: it builds random
// schemas, data, roles and sessions in fresh databases, runs vector queries through vecgate and
// directly against Postgres, and reports every difference with a minimal reproduction. It exits
// 1 when it found a difference. See docs/difftest.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vecgate/vecgate/internal/difftest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vecgate-difftest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	upstream := fs.String("upstream", os.Getenv("VECGATE_TEST_DSN"), "superuser DSN of the Postgres 17 + pgvector server (default $VECGATE_TEST_DSN); the tester creates and drops its own databases and roles")
	bin := fs.String("vecgate", "", "vecgate binary to start against the tester's database (go build -o vecgate ./cmd/vecgate)")
	listen := fs.String("listen", "", "address of a running vecgate instead (with -http and -database)")
	httpAddr := fs.String("http", "", "with -listen: the running vecgate's --http-listen address (for /status and /metrics)")
	database := fs.String("database", "", "with -listen: the empty database (vector extension created) that vecgate follows")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed; the same seed draws the same schema and cases)")
	duration := fs.Duration("duration", time.Minute, "how long to generate cases")
	shrinkTime := fs.Duration("shrink-time", time.Minute, "after generation, time to spend removing rows from the reproductions (0: none)")
	cases := fs.Int("cases", 0, "stop after this many cases instead (0: use -duration)")
	out := fs.String("out", "", "directory for reproduction scripts (one .sql per difference)")
	skip := fs.String("skip", "", "comma-separated generator features to leave out: "+strings.Join(difftest.FeatureNames(), ","))
	verbose := fs.Bool("v", false, "log progress")
	debug := fs.Bool("debug", false, "log every query and vecgate's path for it")
	vlog := fs.String("vecgate-log", "", "file for the started vecgate's log")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vecgate-difftest -upstream DSN (-vecgate BINARY | -listen ADDR -http ADDR -database DB) [-seed N] [-duration D] [-out DIR] [-skip F,…]\n\nfeatures:\n")
		for _, n := range difftest.FeatureNames() {
			fmt.Fprintf(fs.Output(), "  %-11s %s\n", n, difftest.Features[n])
		}
		fmt.Fprintln(fs.Output())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sk, err := difftest.ParseSkip(*skip)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *upstream == "" {
		fmt.Fprintln(stderr, "vecgate-difftest: -upstream (or VECGATE_TEST_DSN) is required")
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	if *debug {
		level = slog.LevelDebug
	}
	cfg := difftest.Config{
		AdminDSN: *upstream, VecgateBinary: *bin, Listen: *listen, HTTPListen: *httpAddr, Database: *database,
		Seed: *seed, Duration: *duration, ShrinkTime: *shrinkTime, Cases: *cases, OutDir: *out, Skip: sk,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if *vlog != "" {
		f, err := os.Create(*vlog)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer f.Close()
		cfg.VecgateLog = f
	}
	if *out != "" {
		if err := os.MkdirAll(*out, 0o755); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := difftest.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprint(stdout, rep.Summary())
	if rep.Hard+rep.Recall > 0 {
		return 1
	}
	return 0
}
