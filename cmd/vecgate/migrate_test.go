package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// migrateCLI runs `vecgate migrate args...` and returns its stdout, stderr and error.
func migrateCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := runMigrate(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func mustMigrateCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := migrateCLI(t, args...)
	if err != nil {
		t.Fatalf("vecgate migrate %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

const ragDir = "../../examples/migrations/rag"

func TestMigrateOwnSchema(t *testing.T) {
	dsn := pgtest.NewDB(t)
	t.Setenv("VECGATE_MIGRATE_DSN", "")
	t.Setenv("VECGATE_UPSTREAM", "")
	if out := mustMigrateCLI(t, "--dsn", dsn, "version"); out != "no migration applied, latest 4, 4 pending\n" {
		t.Fatalf("version on a fresh database: %q", out)
	}
	out, stderr, err := migrateCLI(t, "--dsn", dsn, "up")
	if err != nil || out != "up: from no version to version 4, latest 4\n" {
		t.Fatalf("up: %q, %v", out, err)
	}
	if !strings.Contains(stderr, "migrations: applied") || !strings.Contains(stderr, "1/u indexes") {
		t.Errorf("up logged no applied migration:\n%s", stderr)
	}
	if out := mustMigrateCLI(t, "--dsn", dsn, "up"); !strings.HasPrefix(out, "no change: version 4") {
		t.Fatalf("second up: %q", out)
	}
	// The DSN from the environment: VECGATE_MIGRATE_DSN first, then VECGATE_UPSTREAM.
	t.Setenv("VECGATE_UPSTREAM", dsn)
	if out := mustMigrateCLI(t, "version"); out != "version 4, latest 4\n" {
		t.Fatalf("version via VECGATE_UPSTREAM: %q", out)
	}
	t.Setenv("VECGATE_MIGRATE_DSN", "postgres://nobody@127.0.0.1:1/nowhere?connect_timeout=2")
	if _, _, err := migrateCLI(t, "version"); err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("VECGATE_MIGRATE_DSN must win over VECGATE_UPSTREAM: %v", err)
	}
	if out := mustMigrateCLI(t, "--dsn", dsn, "version"); out != "version 4, latest 4\n" {
		t.Fatalf("--dsn must win over the environment: %q", out)
	}
}

func TestMigrateUserFolder(t *testing.T) {
	dsn := pgtest.NewDB(t)
	out := mustMigrateCLI(t, "--dsn", dsn, "--path", ragDir, "up", "1")
	if out != "up: from no version to version 1, latest 3, 2 pending\n" {
		t.Fatalf("up 1: %q", out)
	}
	mustMigrateCLI(t, "--dsn", dsn, "--path", ragDir, "up")
	if out := mustMigrateCLI(t, "--dsn", dsn, "--path", ragDir, "version"); out != "version 3, latest 3\n" {
		t.Fatalf("version: %q", out)
	}
	if out := mustMigrateCLI(t, "--dsn", dsn, "--path", ragDir, "down", "3"); out != "down: from 3 to no migration applied, latest 3, 3 pending\n" {
		t.Fatalf("down 3: %q", out)
	}
	mustMigrateCLI(t, "--dsn", dsn, "--path", ragDir, "goto", "2")
	mustMigrateCLI(t, "--dsn", dsn, "--path", ragDir, "force", "-1")
	if out := mustMigrateCLI(t, "--dsn", dsn, "--path", ragDir, "version"); !strings.HasPrefix(out, "no migration applied") {
		t.Fatalf("after force -1: %q", out)
	}
}

func TestMigrateBadInput(t *testing.T) {
	t.Setenv("VECGATE_MIGRATE_DSN", "")
	t.Setenv("VECGATE_UPSTREAM", "")
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"--dsn", "postgres://x@127.0.0.1:1/x", "sideways"}, `unknown command "sideways"`},
		{[]string{"--dsn", "postgres://x@127.0.0.1:1/x", "down"}, "down needs a count"},
		{[]string{"up"}, "no database: give --dsn"},
		{[]string{"up", "--path", ragDir}, "flags go first"},
		{[]string{"--dsn", "postgres://x@127.0.0.1:1/x", "--log-level", "loud", "up"}, "log-level"},
		{[]string{"--nope", "up"}, "flag provided but not defined: -nope"},
		{[]string{"--dsn", "postgres://x@127.0.0.1:1/x", "--path", "/no/such/folder", "up"}, "/no/such/folder"},
	}
	for _, tc := range cases {
		_, _, err := migrateCLI(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("migrate %v: want error containing %q, got %v", tc.args, tc.want, err)
		}
	}
	_, stderr, err := migrateCLI(t, "-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "down N") || !strings.Contains(stderr, "VECGATE_MIGRATE_DSN") {
		t.Fatalf("-h: %v\n%s", err, stderr)
	}
}

func TestMigrateDirtyFolder(t *testing.T) {
	dsn := pgtest.NewDB(t)
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("000001_ok.up.sql", "CREATE TABLE ok (id int);")
	write("000001_ok.down.sql", "DROP TABLE ok;")
	write("000002_bad.up.sql", "CREATE TABL bad (id int);")
	write("000002_bad.down.sql", "DROP TABLE bad;")
	_, _, err := migrateCLI(t, "--dsn", dsn, "--path", dir, "up")
	force := "vecgate migrate --path " + dir + " force 1"
	if err == nil || !strings.Contains(err.Error(), "000002_bad.up.sql failed halfway") || !strings.Contains(err.Error(), force) {
		t.Fatalf("want the failed file and %q, got %v", force, err)
	}
	if out := mustMigrateCLI(t, "--dsn", dsn, "--path", dir, "version"); out != "version 2 (dirty), latest 2\n" {
		t.Fatalf("version: %q", out)
	}
	write("000002_bad.up.sql", "CREATE TABLE bad (id int);")
	mustMigrateCLI(t, "--dsn", dsn, "--path", dir, "force", "1")
	if out := mustMigrateCLI(t, "--dsn", dsn, "--path", dir, "up"); out != "up: from 1 to version 2, latest 2\n" {
		t.Fatalf("up after force: %q", out)
	}
}
