// Package pgtest gives integration tests a real Postgres 17 + pgvector to talk to.
//
// The server is found through VECGATE_TEST_DSN (a superuser DSN, e.g. the one `scripts/pg dsn`
// prints). Locally, when it is unset, integration tests skip with a message saying how to run them;
// under CI (CI=true) they fail instead, so CI can never pass by skipping.
//
// Each test gets a database of its own (NewDB), dropped when the test ends, so tests can run in
// parallel and leave nothing behind.
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN is the environment variable that names the test server.
const EnvDSN = "VECGATE_TEST_DSN"

// DSN returns the superuser DSN of the test server, or skips (locally) / fails (CI) when unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set under CI: integration tests must run (see .ci/run)", EnvDSN)
		}
		t.Skipf("%s not set: run `scripts/pg start` and export %s=$(scripts/pg dsn) to run integration tests", EnvDSN, EnvDSN)
	}
	return dsn
}

// WithDatabase returns dsn with its database replaced by db.
func WithDatabase(t testing.TB, dsn, db string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: parse DSN: %v", err)
	}
	u.Path = "/" + db
	return u.String()
}

// WithUser returns dsn with its user (and password) replaced.
func WithUser(t testing.TB, dsn, user, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: parse DSN: %v", err)
	}
	if password == "" {
		u.User = url.User(user)
	} else {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// Connect opens a pgx connection closed at the end of the test.
func Connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// NewDB creates a fresh database (with the vector extension) for this test and returns its
// superuser DSN. The database is dropped, with any sessions still in it, when the test ends.
func NewDB(t testing.TB) string {
	t.Helper()
	admin := DSN(t)
	name := fmt.Sprintf("vgt_%s_%d", sanitize(t.Name()), rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	dsn := WithDatabase(t, admin, name)
	dc, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect to new database: %v", err)
	}
	_, err = dc.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector")
	dc.Close(context.Background())
	if err != nil {
		t.Fatalf("pgtest: create extension vector: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		// Replication slots pin a database: end their walsenders and drop them first.
		for range 50 {
			_, _ = c.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
				WHERE database = $1 AND active`, name)
			_, _ = c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
				WHERE database = $1 AND NOT active`, name)
			var left int
			if c.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE database = $1`, name).Scan(&left) != nil || left == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	return dsn
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	return b.String()
}

// Tool returns a command running one of Postgres 17's client programs (psql, pgbench) from the
// harness (scripts/pg), so tests use the same client version everywhere. Files the tool reads or
// writes by name live in the harness's file system; pass data on stdin/stdout instead.
func Tool(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("pgtest: cannot locate the repository")
	}
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "pg")
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return exec.Command(script, append([]string{name}, args...)...)
}

// notifyPID is the only part of psql's output that differs between two runs of the same script:
// the backend's process id in "Asynchronous notification … from server process with PID n".
var notifyPID = regexp.MustCompile(`server process with PID \d+`)

// Psql runs Postgres 17's psql on script against dsn (echoing every statement, going on after
// errors) and returns stdout and stderr together, with backend process ids masked.
func Psql(t testing.TB, dsn string, script []byte) []byte {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "psql-out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := Tool(t, "psql", "-X", "-a", "-v", "ON_ERROR_STOP=0", "-f", "-", dsn)
	cmd.Stdin = bytes.NewReader(script)
	cmd.Stdout, cmd.Stderr = out, out // one file: the interleaving is psql's own
	cmd.Env = append(os.Environ(), "PGAPPNAME=corpus", "PGTZ=UTC", "LC_ALL=C.UTF-8")
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("psql: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil || len(b) == 0 {
		t.Fatalf("psql printed nothing: %v", err)
	}
	return notifyPID.ReplaceAll(b, []byte("server process with PID N"))
}
