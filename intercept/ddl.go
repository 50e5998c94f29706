package intercept

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/planner"
	"github.com/vecgate/vecgate/proxy"
)

// sqlError is an error with the SQLSTATE the client gets.
func sqlError(code, msg string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: msg}
}

// DDL decides CREATE and DROP INDEX through vecgate: plain pgvector indexes go to Postgres and
// get their in-memory twin by a reload; vecgate's options are removed before Postgres sees the
// statement and recorded in vecgate.indexes; mode = offload builds only vecgate's index.
func (i interceptor) DDL(sql string) *proxy.DDL {
	d, err := planner.IndexOf(sql)
	if e := (*pgconn.PgError)(nil); errors.As(err, &e) {
		return &proxy.DDL{Err: e}
	}
	if err != nil {
		i.log.Warn("CREATE INDEX not understood; forwarding", "err", err)
		return nil
	}
	if d != nil {
		return i.createIndex(sql, d)
	}
	if names, ok := planner.DropIndexOf(sql); ok {
		return i.dropIndex(sql, names)
	}
	return nil
}

func (i interceptor) createIndex(sql string, d *planner.IndexDef) *proxy.DDL {
	if len(d.Include) > 0 {
		// Before Postgres builds anything: a column vecgate cannot filter on refuses the statement.
		err := i.withConn(func(ctx context.Context, conn *pgx.Conn) error {
			return checkInclude(ctx, conn, d)
		})
		var se *pgconn.PgError
		if errors.As(err, &se) {
			return &proxy.DDL{Err: se}
		}
		if err != nil {
			return &proxy.DDL{Err: sqlError("58000", "vecgate: could not check the include columns: "+err.Error())}
		}
	}
	if d.Forward == sql { // no vecgate options: Postgres builds it, vecgate mirrors it once it sees it
		return &proxy.DDL{Send: sql, Done: func(ok bool) error {
			if ok {
				// Only a changed catalog is acted on: CREATE INDEX IF NOT EXISTS of an index
				// that exists (LangChain and Drizzle send it at every start) changes nothing.
				i.stream.Refresh()
			}
			return nil
		}}
	}
	record := func() error {
		return i.withConn(func(ctx context.Context, conn *pgx.Conn) error {
			if d.Mode == "offload" {
				var n int
				err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_attribute
				WHERE attrelid = to_regclass(quote_ident($1) || '.' || quote_ident($2)) AND attname = $3 AND NOT attisdropped`,
					d.Schema, d.Table, d.Column).Scan(&n)
				if err != nil {
					return err
				}
				if n == 0 {
					return sqlError("42P01", fmt.Sprintf("vecgate: no column %q in table %s.%s", d.Column, d.Schema, d.Table))
				}
			}
			inserted, err := indexdef.Insert(ctx, conn, d.Spec)
			if err != nil {
				return err
			}
			if !inserted && d.Mode == indexdef.ModeOffload && !d.IfNotExists {
				return sqlError("42P07", fmt.Sprintf("relation %q already exists", d.Name))
			}
			return i.reloadDefinitions(ctx, conn)
		})
	}
	if n := d.Dims; n > 0 {
		if e := i.checkDims(d, n); e != nil {
			return e
		}
	}
	if d.Mode == "offload" {
		return &proxy.DDL{Tag: "CREATE INDEX", Done: func(bool) error { return record() }}
	}
	return &proxy.DDL{Send: d.Forward, Done: func(ok bool) error {
		if !ok {
			return nil
		}
		return record()
	}}
}

// checkDims refuses dims = n unless 1 ≤ n < the column's declared dimension, before Postgres
// builds anything. A missing table or column is left to Postgres (mirror) or to record (offload).
func (i interceptor) checkDims(d *planner.IndexDef, n int) *proxy.DDL {
	var colDims int
	err := i.withConn(func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT atttypmod FROM pg_attribute
		WHERE attrelid = to_regclass(quote_ident($1) || '.' || quote_ident($2)) AND attname = $3 AND NOT attisdropped`,
			d.Schema, d.Table, d.Column).Scan(&colDims)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return &proxy.DDL{Err: sqlError("58000", fmt.Sprintf("vecgate: checking column %s: %v", d.Column, err))}
	}
	if colDims <= 0 {
		return &proxy.DDL{Err: sqlError("22023", fmt.Sprintf("vecgate: option \"dims\" needs a column of declared dimensions (%s has none)", d.Column))}
	}
	if n >= colDims {
		return &proxy.DDL{Err: sqlError("22023", fmt.Sprintf("vecgate: invalid value for option \"dims\": %d (1 to %d, below the column's %d dimensions)", n, colDims-1, colDims))}
	}
	return nil
}

func (i interceptor) dropIndex(sql string, names [][2]string) *proxy.DDL {
	defs := map[[2]string]indexdef.Spec{}
	for _, d := range i.set.Definitions() {
		defs[[2]string{d.Schema, d.Name}] = d
	}
	sources := map[[2]string]bool{}
	for _, ix := range i.set.Indexes() {
		sources[[2]string{ix.Schema, ix.Source}] = true
	}
	offloaded, known := 0, 0
	for _, n := range names {
		if d, ok := defs[n]; ok && d.Mode == "offload" {
			offloaded++
		}
		if _, ok := defs[n]; ok || sources[n] {
			known++
		}
	}
	if known == 0 {
		return nil
	}
	forget := func() error {
		return i.withConn(func(ctx context.Context, conn *pgx.Conn) error {
			for _, n := range names {
				if err := indexdef.Delete(ctx, conn, n[0], n[1]); err != nil {
					return err
				}
			}
			return i.reloadDefinitions(ctx, conn)
		})
	}
	if offloaded == len(names) {
		return &proxy.DDL{Tag: "DROP INDEX", Done: func(bool) error { return forget() }}
	}
	if offloaded > 0 {
		return &proxy.DDL{Err: sqlError("0A000", "vecgate: drop offloaded indexes in a statement of their own")}
	}
	return &proxy.DDL{Send: sql, Done: func(ok bool) error {
		if !ok {
			return nil
		}
		return forget()
	}}
}

// checkInclude validates an include option against the table: every column exists and has a
// type vecgate compares exactly (smallint, integer, bigint, text, varchar, boolean, uuid; text
// with a deterministic collation). A table that does not exist is left to Postgres (or to the
// offload check) to report.
func checkInclude(ctx context.Context, conn *pgx.Conn, d *planner.IndexDef) error {
	rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(c.collisdeterministic, true)
		FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
		WHERE a.attrelid = to_regclass(quote_ident($1) || '.' || quote_ident($2)) AND a.attnum > 0 AND NOT a.attisdropped`,
		d.Schema, d.Table)
	if err != nil {
		return err
	}
	type col struct {
		typ           string
		deterministic bool
	}
	cols := map[string]col{}
	var name string
	var c col
	if _, err := pgx.ForEachRow(rows, []any{&name, &c.typ, &c.deterministic}, func() error {
		cols[name] = c
		return nil
	}); err != nil {
		return err
	}
	if len(cols) == 0 {
		return nil
	}
	for _, n := range d.Include {
		c, ok := cols[n]
		switch {
		case !ok:
			return sqlError("42703", fmt.Sprintf("vecgate: include column %q does not exist in %s.%s", n, d.Schema, d.Table))
		case live.IncludeFamily(c.typ) == "":
			return sqlError("0A000", fmt.Sprintf("vecgate: include column %q has type %s; include columns must be smallint, integer, bigint, text, varchar, boolean or uuid", n, c.typ))
		case !c.deterministic:
			return sqlError("0A000", fmt.Sprintf("vecgate: include column %q has a nondeterministic collation; its equality is not vecgate's", n))
		}
	}
	return nil
}

// withConn runs fn on a connection of vecgate's own to the upstream (for vecgate.indexes).
func (i interceptor) withConn(fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, i.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return fn(ctx, conn)
}

// reloadDefinitions reads vecgate.indexes into the live set and rebuilds the indexes.
func (i interceptor) reloadDefinitions(ctx context.Context, conn *pgx.Conn) error {
	return ApplyDefinitions(ctx, conn, i.set, i.stream, i.log)
}

// ApplyDefinitions reads vecgate.indexes into the live set, the definitions' one holder (each
// replication session takes their INCLUDE columns from it), and has stream read the catalog again
// and load again the tables whose definitions changed, each alone (nil: replication has not
// started; its first session reads them): the same definitions (CREATE INDEX IF NOT EXISTS of a
// recorded index) on the same catalog change nothing. A row that cannot be decoded is logged with the
// index's name and left out: that index gets no twin of its own, so its queries are forwarded (or
// served by the twin of pgvector's index, for a mirror), which is correct, where failing would keep
// vecgate from starting, or fail every later CREATE INDEX, because of one row.
func ApplyDefinitions(ctx context.Context, conn *pgx.Conn, set *live.Set, stream interface{ Refresh(...string) }, log *slog.Logger) error {
	specs, skipped, err := indexdef.Load(ctx, conn)
	if err != nil {
		return err
	}
	for _, e := range skipped {
		log.Error("index definition in vecgate.indexes not used: cannot decode it", "index", e.Schema+"."+e.Name, "err", e.Err)
	}
	changed := changedTables(set.Definitions(), specs)
	set.SetDefinitions(specs)
	if stream != nil {
		// A check of the catalog too (a DROP INDEX of pgvector's, without the event trigger),
		// which changes nothing when nothing changed.
		stream.Refresh(changed...)
	}
	return nil
}

// changedTables lists the tables ("schema.table") whose definitions differ between a and b.
func changedTables(a, b []indexdef.Spec) []string {
	by := func(specs []indexdef.Spec) map[string][]indexdef.Spec {
		m := map[string][]indexdef.Spec{}
		for _, d := range specs {
			m[d.Schema+"."+d.Table] = append(m[d.Schema+"."+d.Table], d)
		}
		return m
	}
	ma, mb := by(a), by(b)
	var out []string
	for t := range ma {
		if !reflect.DeepEqual(ma[t], mb[t]) {
			out = append(out, t)
		}
	}
	for t := range mb {
		if _, ok := ma[t]; !ok {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}
