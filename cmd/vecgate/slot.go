package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vecgate/vecgate/replication"
)

// runSlot implements `vecgate slot drop`: remove the replication slot and publication vecgate
// created upstream, so a removed vecgate stops holding WAL.
func runSlot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := fs.String("dsn", os.Getenv("VECGATE_UPSTREAM"), "upstream Postgres DSN (default $VECGATE_UPSTREAM)")
	name := fs.String("slot-name", "main", "the --slot-name vecgate serve ran with: drops slot and publication vecgate_<name>")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vecgate slot drop [--dsn DSN] [--slot-name NAME]\n\nStop vecgate first: an active slot cannot be dropped.\n\n")
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "drop" {
		fs.Usage()
		return errors.New("slot: the only command is drop")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("slot drop: no DSN: pass --dsn or set VECGATE_UPSTREAM")
	}
	if err := replication.DropSlot(ctx, *dsn, *name); err != nil {
		return fmt.Errorf("slot drop: %w", err)
	}
	fmt.Fprintf(stdout, "dropped replication slot and publication vecgate_%s\n", *name)
	return nil
}
