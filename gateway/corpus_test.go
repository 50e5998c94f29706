package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
	"github.com/vecgate/vecgate/replication"
)

// TestPsqlCorpusIntercepting runs the proxy's psql corpus (proxy/testdata/psql) directly and
// through a vecgate that intercepts — live indexes, replication, fast path and all — and requires
// byte-identical output: interception must be invisible except in speed.
func TestPsqlCorpusIntercepting(t *testing.T) {
	admin := pgtest.DSN(t)
	scripts, err := filepath.Glob("../proxy/testdata/psql/*.sql")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".sql")
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(script)
			if err != nil {
				t.Fatal(err)
			}
			db := "vgicorpus_" + name
			direct := withoutOwnPublications(corpusRun(t, admin, db, input, false))
			through := withoutOwnPublications(corpusRun(t, admin, db, input, true))
			if !bytes.Equal(direct, through) {
				dl, tl := strings.Split(string(direct), "\n"), strings.Split(string(through), "\n")
				for i := 0; i < len(dl) && i < len(tl); i++ {
					if dl[i] != tl[i] {
						t.Fatalf("output differs at line %d:\n direct:  %s\n vecgate: %s", i+1, dl[i], tl[i])
					}
				}
				t.Fatalf("output differs in length: %d vs %d lines", len(dl), len(tl))
			}
		})
	}
}

// withoutOwnPublications drops the "Publications:" footer psql's \d prints for a table in
// vecgate's own publication: the table joins it when vecgate, following the database, sees the
// CREATE TABLE (at once, through its event trigger), whichever way psql is connected. The direct
// run has no vecgate following its database, so the footer says nothing about the path.
func withoutOwnPublications(out []byte) []byte {
	lines := strings.Split(string(out), "\n")
	kept := lines[:0]
	for i := 0; i < len(lines); i++ {
		if lines[i] == "Publications:" && i+1 < len(lines) && strings.HasPrefix(lines[i+1], `    "vecgate_`) {
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], `    "vecgate_`) {
				i++
			}
			continue
		}
		kept = append(kept, lines[i])
	}
	return []byte(strings.Join(kept, "\n"))
}

// corpusRun recreates db, then runs psql on input against it, directly or through a fresh
// intercepting vecgate, and returns the output.
func corpusRun(t *testing.T, admin, db string, input []byte, intercept bool) []byte {
	t.Helper()
	ctx := context.Background()
	ac := pgtest.Connect(t, admin)
	drop := func() {
		_, _ = ac.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`, db)
		_, _ = ac.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	}
	drop()
	if _, err := ac.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(drop)
	dsn := pgtest.WithDatabase(t, admin, db)
	target := dsn
	if intercept {
		cfg := proxy.DefaultConfig()
		cfg.Listen, cfg.Upstream = "127.0.0.1:0", dsn
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		slot := fmt.Sprintf("c%d", rand.Uint32())
		g, err := startGateway(ctx, cfg, Config{Intercept: true, SlotName: slot})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = g.Close(ctx)
			_ = replication.DropSlot(ctx, dsn, slot)
			t.Logf("intercepted %d (from memory %d)", g.Stats().Intercepted, g.Stats().FastPath)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for !g.stream.Ready() {
			if time.Now().After(deadline) {
				t.Fatalf("replication not ready: %+v", g.stream.Status())
			}
			time.Sleep(10 * time.Millisecond)
		}
		target = viaDSN(dsn, g)
	}
	dc := pgtest.Connect(t, dsn)
	if _, err := dc.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		t.Fatal(err)
	}
	return pgtest.Psql(t, target, input)
}
