package proxy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestPsqlCorpus runs each script in testdata/psql with Postgres 17's psql, once directly and
// once through vecgate, each time in a fresh database of the same name, and requires the two
// outputs (stdout and stderr together) to be byte for byte the same.
func TestPsqlCorpus(t *testing.T) {
	admin := pgtest.DSN(t)
	_, via := startProxy(t, admin)
	scripts, err := filepath.Glob("testdata/psql/*.sql")
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
			db := "vgcorpus_" + name
			direct := runPsql(t, admin, db, input)
			through := runPsql(t, via(admin), db, input)
			if !bytes.Equal(direct, through) {
				t.Errorf("output differs through vecgate\n%s", firstDiff(direct, through))
			}
			// The corpus must exercise what it claims: errors and results both show up.
			if !bytes.Contains(direct, []byte("ERROR")) && name != "large" && name != "notify" {
				t.Errorf("script %s produced no error: the corpus lost its error cases", name)
			}
		})
	}
}

// runPsql recreates db, runs psql on input against it through dsn (whose database is replaced),
// and returns the normalised output.
func runPsql(t *testing.T, dsn, db string, input []byte) []byte {
	t.Helper()
	admin := connect(t, pgtest.DSN(t))
	mustExec(t, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	mustExec(t, admin, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
	t.Cleanup(func() {
		_, _ = admin.Exec(ctxT(t, time.Minute), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	})
	dc := connect(t, pgtest.WithDatabase(t, pgtest.DSN(t), db))
	mustExec(t, dc, "CREATE EXTENSION IF NOT EXISTS vector")

	return pgtest.Psql(t, pgtest.WithDatabase(t, dsn, db), input)
}

func firstDiff(a, b []byte) string {
	if i, x, y, ok := firstDifference(strings.Split(string(a), "\n"), strings.Split(string(b), "\n")); ok {
		return "line " + strconv.Itoa(i+1) + ":\n direct:  " + x + "\n vecgate: " + y
	}
	return "(same lines, different bytes)"
}

// firstDifference returns the first position at which a and b differ (past the end of the
// shorter one an element reads as "") and the two elements there; ok false when they are equal.
func firstDifference(a, b []string) (i int, x, y string, ok bool) {
	for i := range max(len(a), len(b)) {
		x, y := "", ""
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return i, x, y, true
		}
	}
	return 0, "", "", false
}
