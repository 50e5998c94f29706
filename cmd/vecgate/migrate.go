package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/vecgate/vecgate/migrations"
)

const migrateUsage = `usage: vecgate migrate [--dsn DSN] [--path DIR] <command>

commands:
  up [N]     apply every pending migration, or only the next N
  down N     undo the last N applied migrations (N is required: there is no "down everything")
  version    print the current version; changes nothing
  force V    record version V as applied and clean, running nothing: after fixing a migration
             that failed halfway (V = -1: none applied)
  goto V     migrate up or down to version V

Without --path the commands act on vecgate's own schema (schema vecgate in the upstream
database), which 'vecgate serve' also applies at start. With --path DIR they run a folder of
golang-migrate files, NNN_title.up.sql and NNN_title.down.sql, recording the history in
schema_migrations of the connection's current schema.

The DSN is --dsn, else $VECGATE_MIGRATE_DSN, else $VECGATE_UPSTREAM. It may name Postgres
itself or a running vecgate in front of it. Flags go before the command.

flags:
`

// runMigrate implements `vecgate migrate`.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsnFlag := fs.String("dsn", "", "Postgres (or vecgate) DSN, e.g. postgres://user@127.0.0.1:5432/db (default $VECGATE_MIGRATE_DSN, else $VECGATE_UPSTREAM)")
	dir := fs.String("path", "", "folder of NNN_title.up.sql / NNN_title.down.sql files (default: vecgate's own schema)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr; the result goes to stdout)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), migrateUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return errors.New("migrate: no command: want up [N], down N, version, force V or goto V")
	}
	for _, a := range rest[1:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && fs.Lookup(name) != nil {
			return fmt.Errorf("migrate: flag %s after the command: flags go first, e.g. vecgate migrate --%s ... %s", a, name, rest[0])
		}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("migrate: log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	dsn := *dsnFlag
	for _, env := range []string{"VECGATE_MIGRATE_DSN", "VECGATE_UPSTREAM"} {
		if dsn == "" {
			dsn = os.Getenv(env)
		}
	}
	if dsn == "" {
		return errors.New("migrate: no database: give --dsn postgres://user@host:port/db or set VECGATE_MIGRATE_DSN (or VECGATE_UPSTREAM)")
	}
	res, err := migrations.Run(ctx, dsn, *dir, logger, rest[0], rest[1:]...)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}
