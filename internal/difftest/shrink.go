package difftest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

func cloneCase(c *Case) *Case {
	n := *c
	n.Segs = make([]segment, len(c.Segs))
	for i, sg := range c.Segs {
		n.Segs[i] = segment{Block: sg.Block, Steps: slices.Clone(sg.Steps)}
		for j, st := range sg.Steps {
			if st.Q != nil {
				q := *st.Q
				q.Proj, q.Kinds = slices.Clone(q.Proj), slices.Clone(q.Kinds)
				n.Segs[i].Steps[j].Q = &q
			}
		}
	}
	return &n
}

// locate returns the segment and step of the failing query (index qi) or statement (sql).
func locate(c *Case, d *Diff) (int, int) {
	qi := 0
	for i, sg := range c.Segs {
		for j, st := range sg.Steps {
			if st.Q != nil {
				if qi == d.Query {
					return i, j
				}
				qi++
			} else if d.Query < 0 && st.SQL == d.Step && !st.Write {
				return i, j
			}
		}
	}
	return -1, -1
}

// shrink makes c smaller while it still shows a difference of d's class and kind: it drops the
// segments after the failing step and every other segment or block statement it can, then
// simplifies the failing query (WHERE, OFFSET, second key, DESC, wrapper, projection, protocol,
// LIMIT).
func (e *env) shrink(ctx context.Context, c *Case, d *Diff) (*Case, *Diff) {
	deadline := time.Now().Add(30 * time.Second)
	cur := cloneCase(c)
	si, sj := locate(cur, d)
	if si < 0 {
		return c, d
	}
	cur.Segs = cur.Segs[:si+1]
	best := d
	fails := func(cand *Case) bool {
		if time.Now().After(deadline) {
			return false
		}
		run, err := e.runCase(ctx, cand)
		if hasWrites(cand) {
			_ = e.catchUp(ctx)
		}
		if err != nil {
			return false
		}
		for _, nd := range compareCase(cand, run, e.base.User) {
			if nd.Class == d.Class && nd.Kind == d.Kind {
				best = nd
				return true
			}
		}
		return false
	}
	if !fails(cur) {
		return c, d // not reproducible on its own (a state earlier cases left); keep it whole
	}
	// Drop whole segments before the failing one.
	for i := si - 1; i >= 0; i-- {
		if len(cur.Segs[i].Steps) == 1 && cur.Segs[i].Steps[0].Pin {
			continue
		}
		cand := cloneCase(cur)
		cand.Segs = append(cand.Segs[:i], cand.Segs[i+1:]...)
		if fails(cand) {
			cur, si = cand, si-1
		}
	}
	// Drop statements of the failing block other than its first and last and the failing step.
	if cur.Segs[si].Block {
		for j := len(cur.Segs[si].Steps) - 2; j >= 1; j-- {
			if j == sj {
				continue
			}
			cand := cloneCase(cur)
			st := cand.Segs[si].Steps
			cand.Segs[si].Steps = append(st[:j:j], st[j+1:]...)
			nj := sj
			if j < sj {
				nj--
			}
			if fails(cand) {
				cur, sj = cand, nj
			}
		}
	}
	q := cur.Segs[si].Steps[sj].Q
	if q == nil {
		return cur, best
	}
	muts := []func(q *query) bool{
		func(q *query) bool { ok := q.Where != ""; q.Where = ""; return ok },
		func(q *query) bool { ok := q.Offset != 0; q.Offset = 0; return ok },
		func(q *query) bool { ok := q.Second != ""; q.Second = ""; return ok },
		func(q *query) bool { ok := q.Desc; q.Desc = false; return ok },
		func(q *query) bool { ok := q.Wrap != 0; q.Wrap = 0; return ok },
		func(q *query) bool { ok := q.Mode != modeSimple; q.Mode = modeSimple; return ok },
		func(q *query) bool { ok := q.CastVec; q.CastVec = false; return ok },
		func(q *query) bool {
			if len(q.Proj) == 1 && q.Kinds[0] == colKey {
				return false
			}
			if q.keyCol() < 0 {
				return false
			}
			q.Proj, q.Kinds = []string{"id"}, []colKind{colKey}
			return true
		},
		func(q *query) bool { ok := q.Limit > 5; q.Limit = min(q.Limit, 5); return ok },
		func(q *query) bool { ok := q.Limit > 1; q.Limit = 1; return ok },
	}
	for _, m := range muts {
		cand := cloneCase(cur)
		if !m(cand.Segs[si].Steps[sj].Q) {
			continue
		}
		if fails(cand) {
			cur = cand
		}
	}
	return cur, best
}

// repro renders a self-contained psql script for c: the roles, the tables the case touches with
// their current rows, indexes and privileges, then the session.
func (e *env) repro(w *world, c *Case, d *Diff, data map[*table][]dumpRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "-- vecgate-difftest reproduction, seed %d, case %d\n", e.cfg.Seed, c.ID)
	fmt.Fprintf(&b, "-- difference [%s/%s]: %s\n", d.Class, d.Kind, strings.ReplaceAll(d.What, "\n", " "))
	fmt.Fprintf(&b, "-- vecgate's path for the query: %s\n", d.Path)
	b.WriteString("-- Part 1, as a superuser, in a fresh database with the vector extension (vecgate's upstream);\n")
	b.WriteString("-- then start vecgate on it and wait for its indexes (vecgate serve --upstream …).\n")
	for _, s := range w.Roles.roleSQL() {
		b.WriteString(s + ";\n")
	}
	used := usedTables(w, c)
	for db := range 2 {
		if db == 1 {
			any := false
			for t := range used {
				any = any || t.DB == 1
			}
			if !any && c.DB == 0 {
				break
			}
			b.WriteString("\n-- In a second database (the session below connects to it):\n")
		}
		b.WriteString("CREATE EXTENSION IF NOT EXISTS vector;\nCREATE SCHEMA IF NOT EXISTS s2;\nGRANT USAGE ON SCHEMA s2 TO PUBLIC;\n")
		b.WriteString("CREATE SEQUENCE " + w.Seq + ";\nGRANT USAGE, SELECT, UPDATE ON SEQUENCE " + w.Seq + " TO PUBLIC;\n")
		for _, t := range w.Tables {
			if t.DB != db || !used[t] {
				continue
			}
			for _, s := range t.ddl() {
				b.WriteString(s + ";\n")
			}
			b.WriteString(renderRows(t, data[t]))
			for _, s := range t.indexDDL() {
				b.WriteString(s + ";\n")
			}
			for _, s := range t.privileges(w.Roles) {
				b.WriteString(s + ";\n")
			}
		}
	}
	user := c.User
	if user == "" {
		user = e.base.User
	}
	dbname := "the database of part 1"
	if c.DB == 1 {
		dbname = "the second database"
	}
	fmt.Fprintf(&b, "\n-- Part 2, the session: connect as %s (password %s) to %s, once through vecgate and once\n", user, w.Roles.Password, dbname)
	b.WriteString("-- directly; directly, first: " + strings.Join(directPrelude, "; ") + "; then compare the outputs.\n")
	for _, sg := range c.Segs {
		for _, st := range sg.Steps {
			switch {
			case st.Q != nil:
				b.WriteString(renderQuery(st.Q))
			case st.Write:
				b.WriteString("-- (through vecgate only, committed before the next query)\n" + st.SQL + ";\n")
			default:
				b.WriteString(st.SQL + ";\n")
			}
		}
	}
	return b.String()
}

func renderQuery(q *query) string {
	sql := q.SQL()
	switch q.Mode {
	case modeSimple:
		return sql + ";\n"
	case modeSimpleArg:
		return strings.ReplaceAll(sql, "$1", "'"+q.Vec+"'") + "; -- vector interpolated by the client (pgx simple protocol)\n"
	case modeBatch:
		s := fmt.Sprintf("%s \\bind '%s' \\g\n", sql, q.Vec)
		return "-- sent twice in one pipeline (pgx batch, one Sync):\n" + s + s
	case modeCacheBin:
		return fmt.Sprintf("-- the tester sent the vector as a binary parameter of a named prepared statement\n%s \\bind '%s' \\g\n", sql, q.Vec)
	}
	return fmt.Sprintf("%s \\bind '%s' \\g\n", sql, q.Vec)
}

// dumpRow is one row of a table as SQL literals.
type dumpRow struct {
	Key, Values string
}

// usedTables are the tables a case's reproduction needs: those it queries or writes, and every
// table of the same name (search_path, the other database).
func usedTables(w *world, c *Case) map[*table]bool {
	used := map[*table]bool{}
	for _, q := range c.queries() {
		used[q.T] = true
	}
	for _, sg := range c.Segs {
		for _, st := range sg.Steps {
			for _, t := range w.Tables {
				if strings.Contains(st.SQL, " "+t.qualified()+" ") {
					used[t] = true
				}
			}
		}
	}
	for t := range used {
		for _, u := range w.Tables {
			if u.Name == t.Name {
				used[u] = true
			}
		}
	}
	return used
}

// snapshot reads the rows of the tables a case uses, as they are now.
func (e *env) snapshot(ctx context.Context, w *world, c *Case) map[*table][]dumpRow {
	out := map[*table][]dumpRow{}
	for t := range usedTables(w, c) {
		cols := t.columns()
		exprs := make([]string, len(cols))
		for i, c := range cols {
			exprs[i] = "quote_nullable(" + c + "::text)"
		}
		sql := fmt.Sprintf("SELECT quote_literal(id::text), concat_ws(', ', %s) FROM %s ORDER BY id", strings.Join(exprs, ", "), t.qualified())
		rows, err := e.admin[t.DB].Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			e.log.Warn("snapshot", "table", t.qualified(), "err", err)
			continue
		}
		var rs []dumpRow
		for rows.Next() {
			var r dumpRow
			if rows.Scan(&r.Key, &r.Values) == nil {
				rs = append(rs, r)
			}
		}
		rows.Close()
		out[t] = rs
	}
	return out
}

func insertSQL(t *table, rows []dumpRow) []string {
	var out []string
	for i := 0; i < len(rows); i += 100 {
		vals := make([]string, 0, 100)
		for _, r := range rows[i:min(i+100, len(rows))] {
			vals = append(vals, "("+r.Values+")")
		}
		out = append(out, fmt.Sprintf("INSERT INTO %s (%s) VALUES\n  %s", t.qualified(), strings.Join(t.columns(), ", "), strings.Join(vals, ",\n  ")))
	}
	return out
}

// renderRows renders rows as INSERT statements.
func renderRows(t *table, rows []dumpRow) string {
	var b strings.Builder
	for _, s := range insertSQL(t, rows) {
		b.WriteString(s + ";\n")
	}
	return b.String()
}

// shrinkData removes rows of the failing query's table while the difference stays (delta
// debugging on the live table: delete a chunk, wait for replication, run the case again; put
// the chunk back when the difference goes). It first reloads the table with the rows the
// reproduction was taken with. It runs after generation, so no other case sees the table.
func (e *env) shrinkData(ctx context.Context, f *Finding, deadline time.Time) {
	if f.Diff.Query < 0 || f.Diff.Query >= len(f.c.queries()) {
		return
	}
	t := f.c.queries()[f.Diff.Query].T
	rows := f.data[t]
	if len(rows) < 2 {
		return
	}
	a := e.admin[t.DB]
	exec := func(stmts ...string) bool {
		if err := execAll(ctx, a, stmts); err != nil {
			e.log.Warn("shrink data", "err", err)
			return false
		}
		return e.catchUp(ctx) == nil
	}
	fails := func() bool {
		run, err := e.runCase(ctx, f.c)
		if hasWrites(f.c) {
			_ = e.catchUp(ctx)
		}
		if err != nil {
			return false
		}
		for _, nd := range compareCase(f.c, run, e.base.User) {
			if nd.Class == f.Diff.Class && nd.Kind == f.Diff.Kind {
				return true
			}
		}
		return false
	}
	if !exec(append([]string{"TRUNCATE " + t.qualified()}, insertSQL(t, rows)...)...) || !fails() {
		f.Note = "rows not shrunk: the difference did not come back after reloading the table"
		return
	}
	before := len(rows)
	keys := func(rs []dumpRow) string {
		k := make([]string, len(rs))
		for i, r := range rs {
			k[i] = r.Key
		}
		return strings.Join(k, ", ")
	}
	for n := 2; len(rows) >= 1 && time.Now().Before(deadline) && ctx.Err() == nil; {
		chunk := (len(rows) + n - 1) / n
		removed := false
		for start := 0; start < len(rows) && time.Now().Before(deadline); start += chunk {
			sub := rows[start:min(start+chunk, len(rows))]
			if !exec(fmt.Sprintf("DELETE FROM %s WHERE id IN (%s)", t.qualified(), keys(sub))) {
				return
			}
			if fails() {
				rows = append(slices.Clone(rows[:start]), rows[min(start+chunk, len(rows)):]...)
				n = max(n-1, 2)
				removed = true
				break
			}
			if !exec(insertSQL(t, sub)...) {
				return
			}
		}
		if !removed {
			if chunk == 1 {
				break
			}
			n = min(2*n, len(rows))
		}
	}
	f.data[t] = rows
	f.Note = fmt.Sprintf("rows of %s shrunk from %d to %d on the live system (a difference that depends on the index's history, the run's earlier writes, may need them)", t.qualified(), before, len(rows))
}
