package main

// vecgate bench soak: flags and files; the soak itself is bench/soak.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/vecgate/vecgate/bench/soak"
	"github.com/vecgate/vecgate/gateway"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/proxy"
)

const benchSoakUsage = `usage: vecgate bench soak [flags]

Runs an in-process vecgate in front of a database of its own (created on --dsn, dropped after),
whose upstream connections go through a fault relay on loopback that cuts and stalls them at
random, and loads it with --clients clients for --duration: vector top-k queries of several shapes,
inserts, updates with and without the vector, deletes, transaction blocks, cancels and DDL. At quiet
points it checks that every twin holds exactly the table's rows and that vecgate answers what
Postgres answers; it reports faults, errors, goroutines, file descriptors, RSS and the p99 latency
per minute. Exits 1 when a target is missed (a wrong answer, a lost row, a leaked goroutine, a
fault vecgate did not recover from).
`

// runBenchSoak implements `vecgate bench soak`.
func runBenchSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchSoakUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	var o soak.Options
	fs.StringVar(&o.DSN, "dsn", os.Getenv("VECGATE_UPSTREAM"), "upstream superuser DSN on a loopback address (default $VECGATE_UPSTREAM)")
	fs.IntVar(&o.Clients, "clients", 64, "concurrent clients")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "how long the load runs")
	fs.IntVar(&o.Rows, "rows", 3000, "rows of the soaked table at start (rows × dims at most 2097152: vecgate scans it exactly, so its answers must equal Postgres')")
	fs.IntVar(&o.Dims, "dims", 16, "vector dimensions")
	fs.DurationVar(&o.FaultEvery, "fault-every", 10*time.Second, "mean time between relay faults (cuts, stalls); negative: none")
	fs.DurationVar(&o.MaxStall, "max-stall", 2*time.Second, "longest stall of a relayed connection")
	fs.DurationVar(&o.QuietEvery, "quiet-every", 30*time.Second, "time between quiet points (checks)")
	fs.DurationVar(&o.DDLEvery, "ddl-every", 15*time.Second, "time between DDL statements")
	noColumns := fs.Bool("no-column-ddl", false, "leave out the DDL that adds and drops a column of the soaked table")
	fs.DurationVar(&o.Window, "window", time.Minute, "latency is reported per window of this width")
	fs.StringVar(&o.RestartCmd, "restart-cmd", "", "shell command restarting Postgres, run every --restart-every on average (empty: never); only for a Postgres no one else uses")
	fs.DurationVar(&o.RestartEvery, "restart-every", 3*time.Minute, "mean time between Postgres restarts (with --restart-cmd)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	jsonPath := fs.String("json", "", "write the report as JSON to this file")
	logPath := fs.String("vecgate-log", "", "write the soaked vecgate's warnings and errors to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.NoColumnDDL = *noColumns
	o.Log, o.Start = stderr, startSoakGateway
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return fmt.Errorf("bench soak: %w", err)
		}
		defer f.Close()
		o.VecgateLog = f
	}
	rep, err := soak.Run(ctx, o)
	if err != nil {
		return err
	}
	rep.Text(stdout)
	if *jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("bench soak: %w", err)
		}
	}
	if !rep.OK() {
		return errors.New("bench soak: targets missed (see FAIL above)")
	}
	return nil
}

// startSoakGateway starts the vecgate that bench soak soaks.
func startSoakGateway(ctx context.Context, cfg soak.GatewayConfig) (soak.Gateway, error) {
	gcfg := gateway.Config{Proxy: proxy.DefaultConfig(), Intercept: true, SlotName: cfg.Slot,
		Recall: observe.RecallConfig{Rate: 0.01}} // the recall spot-check runs under the soak too
	gcfg.Proxy.Listen, gcfg.Proxy.Upstream, gcfg.Proxy.Logger = "127.0.0.1:0", cfg.Upstream, cfg.Logger
	g, err := gateway.Start(ctx, gcfg)
	if err != nil {
		return nil, err
	}
	return g, nil
}
