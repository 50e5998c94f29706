// Command vecgate is a pgvector-compatible Postgres sidecar. See README.md.
//
// Subcommands:
//
//	vecgate serve [flags]    run the proxy (flags also read from VECGATE_* environment variables)
//	vecgate migrate ...      vecgate's own schema, or a folder of your migrations (--path)
//	vecgate status           indexes, replication and load progress of a running serve
//	vecgate slot drop        remove vecgate's replication slot and publication upstream
//	vecgate bench ...        benchmarks: gen, gt, engine, sql
//	vecgate version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "vecgate:", err)
		}
		os.Exit(2)
	}
}

const usage = `usage: vecgate <command> [flags]

commands:
  serve     run the Postgres wire proxy in front of an upstream Postgres + pgvector
  migrate   apply vecgate's schema, or your own migration folder (--path DIR): up, down N, version, force V, goto V
  status    show a running serve's indexes, replication and load progress (--http ADDR)
  slot      slot drop: remove vecgate's replication slot and publication (after removing vecgate)
  bench     benchmarks and data sets: gen, gt, engine, sql
  version   print the version

Run 'vecgate <command> -h' for a command's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return prefixed("serve", runServe(ctx, args[1:], stderr))
	case "migrate":
		return runMigrate(ctx, args[1:], stdout, stderr)
	case "status":
		return runStatus(ctx, args[1:], stdout, stderr)
	case "slot":
		return runSlot(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "vecgate", version)
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// prefixed names the command an error came from, once, where the command is dispatched.
func prefixed(command string, err error) error {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%s: %w", command, err)
}
