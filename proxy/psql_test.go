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
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n direct:  " + x + "\n vecgate: " + y
		}
	}
	return "(same lines, different bytes)"
}
