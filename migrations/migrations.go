package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	pgxmigrate "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/sqltext"
)

//go:embed sql/*.sql
var embedded embed.FS

const (
	// Schema is the upstream schema that holds everything vecgate stores in Postgres.
	Schema = "vecgate"
	// HistoryTable is the golang-migrate history table of vecgate's own schema, inside Schema.
	HistoryTable = "schema_migrations"
	// IndexesTable holds index definitions made through vecgate.
	IndexesTable = Schema + ".indexes"
	// StateTable holds per-instance key/value state (slot name, applied LSN, ...).
	StateTable = Schema + ".state"
)

// LockTimeout bounds the wait for another migrator's lock (another vecgate starting, a user's
// `vecgate migrate` on the same folder).
const LockTimeout = time.Minute

// State is where a database stands against a migration folder.
type State struct {
	Version int  // last applied version; -1 when none is
	Dirty   bool // a migration of Version failed halfway and was not fixed (see DirtyError)
	Latest  uint // highest version in the folder
	Pending int  // up migrations in the folder above Version
}

func (s State) String() string {
	var b strings.Builder
	if s.Version < 0 {
		b.WriteString("no migration applied")
	} else {
		fmt.Fprintf(&b, "version %d", s.Version)
	}
	if s.Dirty {
		b.WriteString(" (dirty)")
	}
	fmt.Fprintf(&b, ", latest %d", s.Latest)
	if s.Pending > 0 {
		fmt.Fprintf(&b, ", %d pending", s.Pending)
	}
	return b.String()
}

// Result is what a command did: the state before and after it.
type Result struct {
	Command string
	Before  State
	After   State
}

func (r Result) String() string {
	if r.Command == "version" {
		return r.After.String()
	}
	if r.Before.Version == r.After.Version && r.Before.Dirty == r.After.Dirty {
		return "no change: " + r.After.String()
	}
	from := "no version"
	if r.Before.Version >= 0 {
		from = strconv.Itoa(r.Before.Version)
	}
	return fmt.Sprintf("%s: from %s to %s", r.Command, from, r.After.String())
}

// DirtyError reports a migration that failed halfway, or a database found in that state. The
// history table is marked dirty at Version until `force` clears it.
type DirtyError struct {
	Version int    // the dirty version recorded in the history table (-1: none)
	File    string // the file that failed; found dirty at start: Version's up file, the likely one
	Force   int    // the version to force once the database holds exactly that version's schema
	Command string // the full command that clears the flag
	Err     error  // the migration's own error; nil when the dirty state was found at start
}

func (e *DirtyError) Error() string {
	if e.Err == nil {
		file := ""
		if e.File != "" {
			file = " (" + e.File + ", if it was an up)"
		}
		return fmt.Sprintf("the database is marked dirty at version %d: a migration%s failed halfway earlier. "+
			"Check which of its statements took effect, fix the database or the file, then run `%s` "+
			"(if the database holds version %d's schema completely, force %d instead) and run the command again",
			e.Version, file, e.Command, e.Version, e.Version)
	}
	return fmt.Sprintf("%s failed halfway, the database is marked dirty: %v. "+
		"Postgres ran the file as one implicit transaction, so none of it was kept unless the file commits on its own "+
		"(BEGIN/COMMIT, CREATE INDEX CONCURRENTLY): check that, fix the file, then run `%s` and run the command again",
		e.File, e.Err, e.Command)
}

func (e *DirtyError) Unwrap() error { return e.Err }

// Up applies vecgate's own schema up to the latest version this binary carries. serve calls it at
// start; several instances may call it at once (they serialise on an advisory lock). A database
// whose vecgate schema is newer than this binary is an error: an older vecgate must not run
// against a schema it does not know. logger may be nil.
func Up(ctx context.Context, dsn string, logger *slog.Logger) error {
	if logger == nil {
		logger = discard()
	}
	// Instances starting together take turns for the whole check-and-apply: golang-migrate's own
	// lock covers applying, not the state read before it, which would see another instance's
	// migration in flight as dirty.
	lctx, cancel := context.WithTimeout(ctx, LockTimeout)
	defer cancel()
	conn, err := pgx.Connect(lctx, dsn)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(lctx, `SELECT pg_advisory_lock(hashtext('vecgate.migrations.up'))`); err != nil {
		return fmt.Errorf("migrate: wait for another vecgate's migration: %w", err)
	}
	res, err := Run(ctx, dsn, "", logger, "up")
	if err != nil {
		return err
	}
	if res.Before.Version != res.After.Version {
		logger.Info("migrations: vecgate schema migrated", "schema", Schema, "from", res.Before.Version, "to", res.After.Version)
	}
	return nil
}

// Version reports where the database stands against vecgate's own schema. It changes nothing.
func Version(ctx context.Context, dsn string) (State, error) {
	res, err := Run(ctx, dsn, "", nil, "version")
	return res.After, err
}

// Run runs one command against the migrations in dir (a folder of NNN_title.up.sql /
// .down.sql files) or, when dir is "", against vecgate's own embedded schema:
//
//	up [N]   apply all pending migrations, or the next N
//	down N   undo the last N applied migrations (N is required)
//	version  report the state, change nothing
//	force V  record version V as applied and clean, running nothing (V = -1: none applied)
//	goto V   migrate up or down to version V
//
// The plan is checked before any SQL runs (see the package doc). logger may be nil.
func Run(ctx context.Context, dsn, dir string, logger *slog.Logger, cmd string, args ...string) (Result, error) {
	if logger == nil {
		logger = discard()
	}
	res := Result{Command: cmd}
	c, err := parseCommand(cmd, args)
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	r := &runner{dsn: dsn, dir: dir, logger: logger}
	if dir == "" {
		r.src, err = scan(embedded, "sql", "vecgate's embedded schema")
	} else {
		fi, serr := os.Stat(dir)
		switch {
		case serr != nil:
			return res, fmt.Errorf("migrate: migration folder: %w", serr)
		case !fi.IsDir():
			return res, fmt.Errorf("migrate: migration folder %s is not a folder", dir)
		}
		r.src, err = scan(os.DirFS(dir), ".", dir)
	}
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	if dsn == "" {
		return res, errors.New("migrate: no database: give a DSN (postgres://user@host:port/db)")
	}
	if err := r.connect(ctx); err != nil {
		return res, err
	}
	defer r.close()
	res.Before, err = r.state(ctx)
	if err != nil {
		return res, err
	}
	res.After = res.Before
	if err := r.exec(ctx, c, res.Before); err != nil {
		return res, err
	}
	res.After, err = r.state(ctx)
	return res, err
}

type command struct {
	name string
	n    int  // up/down count, force/goto version
	set  bool // n was given
}

const usageCommands = "up [N], down N, version, force V, goto V"

func parseCommand(name string, args []string) (command, error) {
	c := command{name: name}
	want := 0 // 0: none, 1: optional, 2: required
	switch name {
	case "version":
	case "up":
		want = 1
	case "down", "force", "goto":
		want = 2
	case "":
		return c, fmt.Errorf("no command: want one of %s", usageCommands)
	default:
		return c, fmt.Errorf("unknown command %q: want one of %s", name, usageCommands)
	}
	if len(args) > 1 || (want == 0 && len(args) > 0) {
		return c, fmt.Errorf("%s: unexpected argument %q (usage: %s)", name, args[len(args)-1], usageCommands)
	}
	if len(args) == 0 {
		if want == 2 {
			switch name {
			case "down":
				return c, errors.New("down needs a count: `down 1` undoes the last migration (there is no `down` of everything; give the number of migrations to undo)")
			default:
				return c, fmt.Errorf("%s needs a version: `%s V`", name, name)
			}
		}
		return c, nil
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		return c, fmt.Errorf("%s %s: not a number", name, args[0])
	}
	switch {
	case (name == "up" || name == "down") && n < 1:
		return c, fmt.Errorf("%s %d: the count must be at least 1", name, n)
	case name == "force" && n < -1:
		return c, fmt.Errorf("force %d: the version must be -1 (none applied) or a version of the folder", n)
	case name == "goto" && n < 0:
		return c, fmt.Errorf("goto %d: the version must be one of the folder's; to undo everything use `down N`", n)
	}
	c.n, c.set = n, true
	return c, nil
}

// runner holds one command's connection and source.
type runner struct {
	dsn    string
	dir    string
	logger *slog.Logger
	src    *set
	db     *sql.DB
	schema string // schema of the history table
}

// own reports whether this runs vecgate's embedded schema.
func (r *runner) own() bool { return r.dir == "" }

// hint renders a vecgate migrate command line for this folder.
func (r *runner) hint(args ...string) string {
	parts := []string{"vecgate", "migrate"}
	if !r.own() {
		parts = append(parts, "--path", shellQuote(r.dir))
	}
	return strings.Join(append(parts, args...), " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c == '/' || c == '.' || c == '-' || c == '_' || c == '+' || c == ':' || c == '=' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (r *runner) connect(ctx context.Context) error {
	db, err := sql.Open("pgx/v5", r.dsn)
	if err != nil {
		return fmt.Errorf("migrate: open database: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("migrate: connect: %w", err)
	}
	r.db = db
	if r.own() {
		r.schema = Schema
		return nil
	}
	if err := db.QueryRowContext(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&r.schema); err != nil {
		db.Close()
		return fmt.Errorf("migrate: current schema: %w", err)
	}
	if r.schema == "" {
		db.Close()
		return errors.New("migrate: the connection has no current schema (search_path names no existing schema): set search_path in the DSN, e.g. ?search_path=public")
	}
	return nil
}

func (r *runner) close() {
	if r.db != nil {
		r.db.Close()
	}
}

// state reads the history table without creating anything.
func (r *runner) state(ctx context.Context) (State, error) {
	st := State{Version: -1, Latest: r.src.latest()}
	table := sqltext.QuoteIdent(r.schema) + "." + sqltext.QuoteIdent(HistoryTable)
	var exists bool
	if err := r.db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
		return st, fmt.Errorf("migrate: read %s: %w", table, err)
	}
	if exists {
		var v int64
		err := r.db.QueryRowContext(ctx, `SELECT version, dirty FROM `+table+` LIMIT 1`).Scan(&v, &st.Dirty)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return st, fmt.Errorf("migrate: read %s: %w", table, err)
		default:
			st.Version = int(v)
		}
	}
	if !st.Dirty {
		st.Pending = len(r.src.pending(st.Version))
	}
	return st, nil
}

func (r *runner) exec(ctx context.Context, c command, st State) error {
	src := r.src
	if c.name == "version" {
		if st.Version >= 0 && !src.has(st.Version) {
			return r.unknownVersion(st.Version)
		}
		return nil
	}
	if c.name == "force" {
		if c.n != -1 && !src.has(c.n) {
			return fmt.Errorf("migrate: force %d: %s has no migration %d (versions: %s)", c.n, src.label, c.n, src.listVersions())
		}
		return r.migrate(ctx, st, func(m *migrate.Migrate) error { return m.Force(c.n) }, true)
	}
	if st.Dirty {
		return r.dirtyAtStart(st.Version)
	}
	if st.Version >= 0 && !src.has(st.Version) {
		return r.unknownVersion(st.Version)
	}
	var run func(*migrate.Migrate) error
	var err error
	switch c.name {
	case "up":
		run, err = r.planUp(c, st)
	case "down":
		run, err = r.planDown(c, st)
	case "goto":
		run, err = r.planGoto(c, st)
	}
	if run == nil || err != nil {
		return err
	}
	err = r.migrate(ctx, st, run, false)
	if err == nil {
		return nil
	}
	// Find out whether it stopped halfway: golang-migrate marks the target version dirty before
	// running a file and clean after it.
	after, serr := r.state(context.WithoutCancel(ctx))
	if serr != nil || !after.Dirty {
		return errors.Join(err, serr)
	}
	return fmt.Errorf("migrate: %s: %w", c.name, r.dirtyError(c, st, after, err))
}

// planUp checks `up [N]` against the pending migrations and returns what runs it; nil when
// nothing is pending.
func (r *runner) planUp(c command, st State) (func(*migrate.Migrate) error, error) {
	src := r.src
	pending := src.pending(st.Version)
	if len(pending) == 0 {
		return nil, nil
	}
	if c.set && c.n > len(pending) {
		return nil, fmt.Errorf("migrate: up %d: only %d migration(s) pending in %s (at %s): nothing was changed; run `%s`",
			c.n, len(pending), src.label, st, r.hint("up"))
	}
	if c.set {
		pending = pending[:c.n]
	}
	if err := src.needUp(pending); err != nil {
		return nil, fmt.Errorf("migrate: up: %w", err)
	}
	if c.set {
		return func(m *migrate.Migrate) error { return m.Steps(c.n) }, nil
	}
	return func(m *migrate.Migrate) error { return m.Up() }, nil
}

// planDown checks `down N` against the applied migrations and returns what runs it.
func (r *runner) planDown(c command, st State) (func(*migrate.Migrate) error, error) {
	src := r.src
	applied := src.applied(st.Version)
	if len(applied) == 0 {
		return nil, fmt.Errorf("migrate: down %d: no migration is applied: nothing to undo", c.n)
	}
	if c.n > len(applied) {
		return nil, fmt.Errorf("migrate: down %d: only %d migration(s) applied (at %s): nothing was changed; `%s` undoes all of them",
			c.n, len(applied), st, r.hint("down", strconv.Itoa(len(applied))))
	}
	if err := src.needDown(applied[:c.n]); err != nil {
		return nil, fmt.Errorf("migrate: down: %w", err)
	}
	return func(m *migrate.Migrate) error { return m.Steps(-c.n) }, nil
}

// planGoto checks `goto V` against the folder and the files on the way, and returns what runs
// it; nil when the database is at V already.
func (r *runner) planGoto(c command, st State) (func(*migrate.Migrate) error, error) {
	src := r.src
	if !src.has(c.n) {
		return nil, fmt.Errorf("migrate: goto %d: %s has no migration %d (versions: %s)", c.n, src.label, c.n, src.listVersions())
	}
	if c.n == st.Version {
		return nil, nil
	}
	if c.n > st.Version {
		var ups []uint
		for _, v := range src.pending(st.Version) {
			if int(v) <= c.n {
				ups = append(ups, v)
			}
		}
		if err := src.needUp(ups); err != nil {
			return nil, fmt.Errorf("migrate: goto %d: %w", c.n, err)
		}
	} else {
		var downs []uint
		for _, v := range src.applied(st.Version) {
			if int(v) > c.n {
				downs = append(downs, v)
			}
		}
		if err := src.needDown(downs); err != nil {
			return nil, fmt.Errorf("migrate: goto %d: %w", c.n, err)
		}
	}
	return func(m *migrate.Migrate) error { return m.Migrate(uint(c.n)) }, nil
}

// dirtyError describes a command c, run from st, that failed with err and left the database
// dirty at after: which file stopped halfway and which `force` marks the state before it.
func (r *runner) dirtyError(c command, st, after State, err error) *DirtyError {
	src := r.src
	up := c.name == "up" || (c.name == "goto" && c.n > st.Version)
	de := &DirtyError{Version: after.Version, Err: err}
	if up {
		// An up of V marks V dirty: before it, the database held the previous version.
		de.File = src.file(after.Version, true)
		de.Force = -1
		if after.Version >= 0 {
			de.Force = src.prev(uint(after.Version))
		}
	} else {
		// A down of V marks the version before V dirty: the database still holds V.
		v := src.next(after.Version)
		de.File = src.file(v, false)
		de.Force = v
	}
	if de.File == "" {
		de.File = fmt.Sprintf("migration %d", after.Version)
	} else {
		de.File = fmt.Sprintf("migration %s", de.File)
	}
	de.Command = r.hint("force", strconv.Itoa(de.Force))
	return de
}

func (r *runner) dirtyAtStart(v int) error {
	force := -1
	if v >= 0 && r.src.has(v) {
		force = r.src.prev(uint(v))
	}
	return fmt.Errorf("migrate: %w", &DirtyError{Version: v, File: r.src.file(v, true), Force: force, Command: r.hint("force", strconv.Itoa(force))})
}

func (r *runner) unknownVersion(v int) error {
	if r.own() && v > int(r.src.latest()) {
		return fmt.Errorf("migrate: the database's vecgate schema is at version %d, newer than this vecgate knows (latest %d): run a vecgate at least as new as the one that migrated it", v, r.src.latest())
	}
	return fmt.Errorf("migrate: the database is at version %d, which %s does not have (versions: %s): is this the right folder and database? If the folder is right, `%s` records where the database really is",
		v, r.src.label, r.src.listVersions(), r.hint("force", "V"))
}

// migrate runs fn on a golang-migrate instance over this runner's connection. Cancelling ctx
// stops between two migrations (never inside one).
func (r *runner) migrate(ctx context.Context, st State, fn func(*migrate.Migrate) error, force bool) error {
	if r.own() {
		if err := r.ensureSchema(ctx); err != nil {
			return err
		}
	}
	conn, err := sql.Open("pgx/v5", r.dsn)
	if err != nil {
		return fmt.Errorf("migrate: open database: %w", err)
	}
	cfg := &pgxmigrate.Config{MigrationsTable: HistoryTable, SchemaName: r.schema}
	drv, err := pgxmigrate.WithInstance(conn, cfg)
	if err != nil {
		conn.Close()
		return fmt.Errorf("migrate: prepare history table %s.%s: %w", r.schema, HistoryTable, err)
	}
	src, err := iofs.New(r.src.fsys, r.src.root)
	if err != nil {
		drv.Close()
		return fmt.Errorf("migrate: read %s: %w", r.src.label, err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", drv)
	if err != nil {
		src.Close()
		drv.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	m.Log = logAdapter{r.logger}
	m.LockTimeout = LockTimeout
	defer m.Close()

	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			m.GracefulStop <- true // buffered (1); sent at most once
		case <-done:
		}
	}()
	err = fn(m)
	close(done)
	<-stopped

	switch {
	case errors.Is(err, migrate.ErrNoChange):
		return nil
	case errors.Is(err, migrate.ErrLockTimeout):
		return fmt.Errorf("migrate: another migration holds the lock on %s.%s for more than %s: wait for it to finish, then run the command again", r.schema, HistoryTable, LockTimeout)
	case err != nil:
		return pgError(err)
	}
	if ctx.Err() != nil && !force {
		after, serr := r.state(context.WithoutCancel(ctx))
		if serr != nil {
			return fmt.Errorf("migrate: interrupted (%w); reading the state: %v", ctx.Err(), serr)
		}
		if after.Version != st.Version || after.Pending > 0 {
			return fmt.Errorf("migrate: interrupted (%w) between two migrations, at %s: nothing is half-applied; run the command again to continue", ctx.Err(), after)
		}
	}
	return nil
}

// ensureSchema creates schema vecgate, which must exist before golang-migrate creates its history
// table there. Two instances starting at once may race on CREATE SCHEMA IF NOT EXISTS; the loser's
// unique violation means the schema is there.
func (r *runner) ensureSchema(ctx context.Context) error {
	_, err := r.db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+sqltext.QuoteIdent(Schema))
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P06"):
		return nil
	case errors.As(err, &pe) && pe.Code == "42501":
		var db, user string
		_ = r.db.QueryRowContext(ctx, `SELECT current_database(), current_user`).Scan(&db, &user)
		return fmt.Errorf("migrate: create schema %s: %w: vecgate keeps its index definitions there; run `GRANT CREATE ON DATABASE %s TO %s` or run `vecgate migrate up` once as the database owner",
			Schema, err, sqltext.QuoteIdent(db), sqltext.QuoteIdent(user))
	}
	return fmt.Errorf("migrate: create schema %s: %w", Schema, err)
}

// pgError drops the file body that golang-migrate puts into its errors, keeping Postgres' own
// error (and its line).
func pgError(err error) error {
	var de database.Error
	if errors.As(err, &de) && de.OrigErr != nil {
		if de.Line > 0 {
			return fmt.Errorf("line %d: %w", de.Line, de.OrigErr)
		}
		return de.OrigErr
	}
	return err
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logAdapter sends golang-migrate's log lines to slog: completed migrations at info, the rest at
// debug.
type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Printf(format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	if rest, ok := strings.CutPrefix(msg, "Finished "); ok {
		a.l.Info("migrations: applied", "migration", rest)
		return
	}
	a.l.Debug("migrations: " + msg)
}

func (a logAdapter) Verbose() bool { return true }
