package migrations_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/migrations"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func run(t *testing.T, dsn, dir, cmd string, args ...string) (migrations.Result, error) {
	t.Helper()
	return migrations.Run(ctxT(t), dsn, dir, nil, cmd, args...)
}

func mustRun(t *testing.T, dsn, dir, cmd string, args ...string) migrations.Result {
	t.Helper()
	res, err := run(t, dsn, dir, cmd, args...)
	if err != nil {
		t.Fatalf("%s %v: %v", cmd, args, err)
	}
	return res
}

// writeDir writes name → body files into a new temporary folder.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// snapshot describes the tables, columns, indexes, constraints and functions of one schema, one
// sorted line each, so two databases (or one database at two moments) can be compared.
func snapshot(t *testing.T, c *pgx.Conn, schema string) string {
	t.Helper()
	var s *string
	err := c.QueryRow(ctxT(t), `
		SELECT string_agg(line, E'\n' ORDER BY line) FROM (
			SELECT format('col %s.%s %s %s %s', table_name, column_name, data_type, is_nullable, column_default)
			  FROM information_schema.columns WHERE table_schema = $1
			UNION ALL
			SELECT format('idx %s', indexdef) FROM pg_indexes WHERE schemaname = $1
			UNION ALL
			SELECT format('con %s %s', conname, pg_get_constraintdef(oid))
			  FROM pg_constraint WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
			UNION ALL
			SELECT format('fn %s', p.oid::regprocedure)
			  FROM pg_proc p WHERE pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
		) s(line)`, schema).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return ""
	}
	return *s
}

func tableExists(t *testing.T, c *pgx.Conn, name string) bool {
	t.Helper()
	var ok bool
	if err := c.QueryRow(ctxT(t), `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func wantState(t *testing.T, got migrations.State, version int, dirty bool) {
	t.Helper()
	if got.Version != version || got.Dirty != dirty {
		t.Fatalf("state %s, want version %d dirty %v", got, version, dirty)
	}
}

func TestOwnSchemaUpDownUp(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	// A user's own golang-migrate history must not be touched by vecgate's.
	if _, err := c.Exec(ctxT(t), `CREATE TABLE public.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
		INSERT INTO public.schema_migrations VALUES (20240101, false)`); err != nil {
		t.Fatal(err)
	}

	st, err := migrations.Version(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, st, -1, false)
	if st.Pending != int(st.Latest) || st.Latest < 2 {
		t.Fatalf("fresh database: %s, want every embedded migration pending", st)
	}
	if tableExists(t, c, "vecgate.schema_migrations") {
		t.Fatal("Version created the history table: it must change nothing")
	}

	if err := migrations.Up(ctxT(t), dsn, nil); err != nil {
		t.Fatal(err)
	}
	st, err = migrations.Version(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, st, int(st.Latest), false)
	if st.Pending != 0 {
		t.Fatalf("after Up: %s", st)
	}
	first := snapshot(t, c, migrations.Schema)
	for _, want := range []string{"col indexes.options jsonb", "col state.value text", "idx CREATE INDEX indexes_table_idx", "fn vecgate.int_option"} {
		if !strings.Contains(first, want) {
			t.Errorf("schema lacks %q:\n%s", want, first)
		}
	}
	var userVersion int64
	if err := c.QueryRow(ctxT(t), `SELECT version FROM public.schema_migrations`).Scan(&userVersion); err != nil || userVersion != 20240101 {
		t.Fatalf("user's schema_migrations: %d, %v", userVersion, err)
	}

	// Up again: nothing to do.
	if res := mustRun(t, dsn, "", "up"); !strings.HasPrefix(res.String(), "no change") {
		t.Fatalf("second up: %s", res)
	}

	// Down everything (explicit count), then up: the same schema.
	res := mustRun(t, dsn, "", "down", "4")
	wantState(t, res.After, -1, false)
	if tableExists(t, c, "vecgate.indexes") || tableExists(t, c, "vecgate.state") {
		t.Fatal("down 4 left vecgate's tables")
	}
	if !tableExists(t, c, "vecgate.schema_migrations") {
		t.Fatal("down dropped the history table")
	}
	mustRun(t, dsn, "", "up", "1")
	if !tableExists(t, c, "vecgate.indexes") || tableExists(t, c, "vecgate.state") {
		t.Fatal("up 1 should create indexes only")
	}
	mustRun(t, dsn, "", "up")
	if again := snapshot(t, c, migrations.Schema); again != first {
		t.Fatalf("schema differs after up/down/up:\nfirst:\n%s\nagain:\n%s", first, again)
	}
}

func TestOwnSchemaConstraints(t *testing.T) {
	dsn := pgtest.NewDB(t)
	if err := migrations.Up(ctxT(t), dsn, nil); err != nil {
		t.Fatal(err)
	}
	c := pgtest.Connect(t, dsn)
	ins := `INSERT INTO vecgate.indexes (schema_name, name, table_name, column_name, method, metric, options, mode)
		VALUES ('public', $1, 'items', 'embedding', $2, $3, $4, $5)`
	good := []struct{ name, method, metric, options, mode string }{
		{"a", "hnsw", "<=>", `{"m": 16, "ef_construction": 64, "quantizer": "sq8", "include": ["category"], "oversample": 2.5}`, "mirror"},
		{"b", "ivfflat", "<->", `{"lists": 100, "dims": 256}`, "offload"},
		{"c", "flat", "<#>", `{}`, "offload"},
		{"d", "ivfflat", "<->", `{"lists": 20, "quantizer": "pq", "dims": 32}`, "offload"},
	}
	for _, g := range good {
		if _, err := c.Exec(ctxT(t), ins, g.name, g.method, g.metric, g.options, g.mode); err != nil {
			t.Errorf("%+v: %v", g, err)
		}
	}
	bad := []struct{ why, method, metric, options, mode string }{
		{"method", "diskann", "<=>", `{}`, "mirror"},
		{"metric", "hnsw", "cosine", `{}`, "mirror"},
		{"mode", "hnsw", "<=>", `{}`, "both"},
		{"m not integer", "hnsw", "<=>", `{"m": 1.5}`, "mirror"},
		{"m as string", "hnsw", "<=>", `{"m": "16"}`, "mirror"},
		{"m too small", "hnsw", "<=>", `{"m": 1}`, "mirror"},
		{"lists zero", "ivfflat", "<->", `{"lists": 0}`, "mirror"},
		{"quantizer", "hnsw", "<=>", `{"quantizer": "lvq"}`, "mirror"},
		{"include", "hnsw", "<=>", `{"include": "category"}`, "mirror"},
		{"options array", "hnsw", "<=>", `[]`, "mirror"},
	}
	for i, b := range bad {
		_, err := c.Exec(ctxT(t), ins, "bad"+string(rune('a'+i)), b.method, b.metric, b.options, b.mode)
		if err == nil || !strings.Contains(err.Error(), "23514") {
			t.Errorf("%s: want a check violation (23514), got %v", b.why, err)
		}
	}
	if _, err := c.Exec(ctxT(t), `INSERT INTO vecgate.state (key, value) VALUES ('replication.applied_lsn', '0/16B3748')`); err != nil {
		t.Fatal(err)
	}
	var inst string
	if err := c.QueryRow(ctxT(t), `SELECT instance FROM vecgate.state WHERE key = 'replication.applied_lsn'`).Scan(&inst); err != nil || inst != "default" {
		t.Fatalf("state instance %q, %v", inst, err)
	}
}

func TestOwnSchemaConcurrentUp(t *testing.T) {
	dsn := pgtest.NewDB(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = migrations.Up(ctxT(t), dsn, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	st, err := migrations.Version(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, st, int(st.Latest), false)
}

func TestOwnSchemaNewerThanBinary(t *testing.T) {
	dsn := pgtest.NewDB(t)
	if err := migrations.Up(ctxT(t), dsn, nil); err != nil {
		t.Fatal(err)
	}
	c := pgtest.Connect(t, dsn)
	if _, err := c.Exec(ctxT(t), `UPDATE vecgate.schema_migrations SET version = 999`); err != nil {
		t.Fatal(err)
	}
	err := migrations.Up(ctxT(t), dsn, nil)
	if err == nil || !strings.Contains(err.Error(), "newer than this vecgate") {
		t.Fatalf("want a newer-schema error, got %v", err)
	}
}

var threeSteps = map[string]string{
	"000001_a.up.sql":   "CREATE TABLE a (id bigint PRIMARY KEY);",
	"000001_a.down.sql": "DROP TABLE a;",
	"000002_b.up.sql":   "CREATE TABLE b (id bigint PRIMARY KEY, a bigint REFERENCES a);\nCREATE INDEX b_a ON b (a);",
	"000002_b.down.sql": "DROP TABLE b;",
	"000005_c.up.sql":   "ALTER TABLE a ADD COLUMN note text;",
	"000005_c.down.sql": "ALTER TABLE a DROP COLUMN note;",
	"README.md":         "not a migration",
}

func TestUserFolderCommands(t *testing.T) {
	dsn := pgtest.NewDB(t)
	dir := writeDir(t, threeSteps)
	c := pgtest.Connect(t, dsn)

	wantState(t, mustRun(t, dsn, dir, "version").After, -1, false)
	wantState(t, mustRun(t, dsn, dir, "up", "1").After, 1, false)
	if !tableExists(t, c, "a") || tableExists(t, c, "b") {
		t.Fatal("up 1 applied the wrong set")
	}
	res := mustRun(t, dsn, dir, "up")
	wantState(t, res.After, 5, false)
	if got := res.String(); got != "up: from 1 to version 5, latest 5" {
		t.Fatalf("result %q", got)
	}
	top := snapshot(t, c, "public")
	if !strings.Contains(top, "col a.note text") || !tableExists(t, c, "public.schema_migrations") {
		t.Fatalf("after up:\n%s", top)
	}
	wantState(t, mustRun(t, dsn, dir, "down", "2").After, 1, false)
	if tableExists(t, c, "b") {
		t.Fatal("down 2 left table b")
	}
	wantState(t, mustRun(t, dsn, dir, "goto", "5").After, 5, false)
	if again := snapshot(t, c, "public"); again != top {
		t.Fatalf("up/down/up differs:\n%s\n---\n%s", top, again)
	}
	wantState(t, mustRun(t, dsn, dir, "goto", "2").After, 2, false)
	wantState(t, mustRun(t, dsn, dir, "force", "5").After, 5, false)
	if strings.Contains(snapshot(t, c, "public"), "a.note") {
		t.Fatal("force ran a migration: it must only record the version")
	}
	wantState(t, mustRun(t, dsn, dir, "force", "2").After, 2, false)
	wantState(t, mustRun(t, dsn, dir, "down", "2").After, -1, false)
	if tableExists(t, c, "a") {
		t.Fatal("down 2 from 2 left table a")
	}
	// The embedded schema and the user's folder keep separate histories.
	if tableExists(t, c, "vecgate.schema_migrations") {
		t.Fatal("a user folder touched vecgate's history")
	}
}

func TestUserFolderRefusesBeforeRunning(t *testing.T) {
	dsn := pgtest.NewDB(t)
	dir := writeDir(t, threeSteps)
	mustRun(t, dsn, dir, "up", "1")
	c := pgtest.Connect(t, dsn)

	cases := []struct {
		cmd  string
		args []string
		want string
	}{
		{"sideways", nil, `unknown command "sideways"`},
		{"", nil, "no command"},
		{"down", nil, "down needs a count"},
		{"down", []string{"0"}, "at least 1"},
		{"down", []string{"x"}, "not a number"},
		{"down", []string{"2"}, "only 1 migration(s) applied"},
		{"up", []string{"3"}, "only 2 migration(s) pending"},
		{"up", []string{"1", "2"}, "unexpected argument"},
		{"version", []string{"1"}, "unexpected argument"},
		{"goto", []string{"3"}, "has no migration 3"},
		{"goto", nil, "goto needs a version"},
		{"force", []string{"4"}, "has no migration 4"},
		{"force", []string{"-2"}, "must be -1"},
	}
	for _, tc := range cases {
		_, err := run(t, dsn, dir, tc.cmd, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: want error containing %q, got %v", tc.cmd, tc.args, tc.want, err)
		}
	}
	wantState(t, mustRun(t, dsn, dir, "version").After, 1, false)
	if tableExists(t, c, "b") {
		t.Fatal("a refused command changed the database")
	}
}

func TestBrokenFolder(t *testing.T) {
	dsn := pgtest.NewDB(t)
	cases := []struct {
		name  string
		files map[string]string
		cmd   []string
		want  []string
	}{
		{"misnamed sql", map[string]string{"000001_a.up.sql": "SELECT 1", "2_b.sql": "SELECT 1"}, []string{"up"},
			[]string{"2_b.sql is not a migration file name", "NNN_title.up.sql"}},
		{"other extension", map[string]string{"000001_a.up.sql": "SELECT 1", "000001_a.up.sql.bak": "SELECT 1"}, []string{"up"},
			[]string{"000001_a.up.sql.bak", "rename or remove"}},
		{"duplicate", map[string]string{"1_a.up.sql": "SELECT 1", "001_b.up.sql": "SELECT 1"}, []string{"up"},
			[]string{"1_a.up.sql", "001_b.up.sql", "renumber"}},
		{"empty", map[string]string{"README.md": "x"}, []string{"up"}, []string{"no migration files"}},
		{"missing up", map[string]string{"000001_a.up.sql": "SELECT 1", "000002_b.down.sql": "SELECT 1"}, []string{"up"},
			[]string{"version 2 has no up file", "000002_b.down.sql", "nothing was changed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, dsn, writeDir(t, tc.files), tc.cmd[0], tc.cmd[1:]...)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("want error containing %q, got %v", w, err)
				}
			}
		})
	}
	t.Run("no folder", func(t *testing.T) {
		_, err := run(t, dsn, filepath.Join(t.TempDir(), "nope"), "up")
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("want an error naming the folder, got %v", err)
		}
	})
	t.Run("missing down", func(t *testing.T) {
		dir := writeDir(t, map[string]string{"000001_a.up.sql": "CREATE TABLE md (x int)"})
		mustRun(t, dsn, dir, "up")
		_, err := run(t, dsn, dir, "down", "1")
		if err == nil || !strings.Contains(err.Error(), "version 1 has no down file") {
			t.Fatalf("got %v", err)
		}
		if !tableExists(t, pgtest.Connect(t, dsn), "md") {
			t.Fatal("table dropped")
		}
		wantState(t, mustRun(t, dsn, dir, "version").After, 1, false)
	})
}

func TestDirtyUpThenForce(t *testing.T) {
	dsn := pgtest.NewDB(t)
	c := pgtest.Connect(t, dsn)
	files := map[string]string{
		"000001_a.up.sql":        "CREATE TABLE a (id bigint PRIMARY KEY);",
		"000001_a.down.sql":      "DROP TABLE a;",
		"000002_broken.up.sql":   "CREATE TABLE half (id int);\nINSERT INTO no_such_table VALUES (1);",
		"000002_broken.down.sql": "DROP TABLE half;",
	}
	dir := writeDir(t, files)
	_, err := run(t, dsn, dir, "up")
	var de *migrations.DirtyError
	if !errors.As(err, &de) {
		t.Fatalf("want a DirtyError, got %v", err)
	}
	msg := err.Error()
	wantCmd := "vecgate migrate --path " + dir + " force 1"
	for _, w := range []string{"000002_broken.up.sql", "no_such_table", "line 2", wantCmd} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
	if de.Version != 2 || de.Force != 1 || de.Command != wantCmd {
		t.Errorf("DirtyError %+v", de)
	}
	// The file ran as one implicit transaction: its first statement was rolled back too.
	if tableExists(t, c, "half") {
		t.Error("table half exists: the failed file was half-applied")
	}
	wantState(t, mustRun(t, dsn, dir, "version").After, 2, true)

	// Anything but force (and version) refuses to run on a dirty database, saying what to do.
	_, err = run(t, dsn, dir, "up")
	if !errors.As(err, &de) || !strings.Contains(err.Error(), wantCmd) || !strings.Contains(err.Error(), "marked dirty at version 2") {
		t.Fatalf("up on a dirty database: %v", err)
	}
	if _, err := run(t, dsn, dir, "down", "1"); !errors.As(err, &de) {
		t.Fatalf("down on a dirty database: %v", err)
	}

	// Fix the file, force, up.
	if err := os.WriteFile(filepath.Join(dir, "000002_broken.up.sql"), []byte("CREATE TABLE half (id int);"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantState(t, mustRun(t, dsn, dir, "force", "1").After, 1, false)
	wantState(t, mustRun(t, dsn, dir, "up").After, 2, false)
	if !tableExists(t, c, "half") {
		t.Fatal("fixed migration did not run")
	}
}

func TestDirtyDown(t *testing.T) {
	dsn := pgtest.NewDB(t)
	dir := writeDir(t, map[string]string{
		"000001_a.up.sql":   "CREATE TABLE a (id int);",
		"000001_a.down.sql": "DROP TABLE a;",
		"000003_b.up.sql":   "CREATE TABLE b (id int);",
		"000003_b.down.sql": "DROP TABLE bb;",
	})
	mustRun(t, dsn, dir, "up")
	_, err := run(t, dsn, dir, "down", "1")
	var de *migrations.DirtyError
	if !errors.As(err, &de) {
		t.Fatalf("want a DirtyError, got %v", err)
	}
	if !strings.Contains(err.Error(), "000003_b.down.sql") || de.Force != 3 || !strings.HasSuffix(de.Command, " force 3") {
		t.Fatalf("down failure: %+v: %v", de, err)
	}
	if !tableExists(t, pgtest.Connect(t, dsn), "b") {
		t.Fatal("table b gone")
	}
	wantState(t, mustRun(t, dsn, dir, "force", "3").After, 3, false)
}

func TestUnknownVersionInDatabase(t *testing.T) {
	dsn := pgtest.NewDB(t)
	dir := writeDir(t, threeSteps)
	mustRun(t, dsn, dir, "up")
	c := pgtest.Connect(t, dsn)
	if _, err := c.Exec(ctxT(t), `UPDATE schema_migrations SET version = 4`); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"version"}, {"up"}, {"down", "1"}} {
		_, err := run(t, dsn, dir, cmd[0], cmd[1:]...)
		if err == nil || !strings.Contains(err.Error(), "at version 4, which") || !strings.Contains(err.Error(), "versions: 1, 2, 5") {
			t.Errorf("%v: got %v", cmd, err)
		}
	}
}

func TestNoDatabase(t *testing.T) {
	_, err := migrations.Run(ctxT(t), "", "", nil, "up")
	if err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("got %v", err)
	}
	_, err = migrations.Run(ctxT(t), "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", "", nil, "up")
	if err == nil || !strings.Contains(err.Error(), "migrate: connect") {
		t.Fatalf("got %v", err)
	}
}
