package replication

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/internal/sqltext"
)

// tableTarget is one replicated table: its key, its usable vector columns and INCLUDE columns.
type tableTarget struct {
	table   catalog.Table
	vectors []catalog.VectorColumn
	include []string
	// coverOnly marks the include columns only a "*" asked for (Includer): held for answers,
	// not filtered on. Same order as include.
	coverOnly []bool
	// whole: the Includer asked for every column ("*"): the table is published without a
	// column list, which would otherwise make Postgres refuse to drop or retype its columns
	// (and DROP COLUMN … CASCADE take the table out of the publication).
	whole   bool
	targets []Target // one per vector column, same order
}

// columns returns the published column list: key, vectors, include (no duplicates).
func (tt *tableTarget) columns() []string {
	var cols []string
	add := func(n string) {
		if !slices.Contains(cols, n) {
			cols = append(cols, n)
		}
	}
	for _, k := range tt.table.Key {
		add(k.Name)
	}
	for _, v := range tt.vectors {
		add(v.Name)
	}
	for _, n := range tt.include {
		add(n)
	}
	return cols
}

// relInfo maps the columns of a Relation message onto a tableTarget.
type relInfo struct {
	tt      *tableTarget
	key     []int // positions in the tuple
	vectors []int
	include []int
}

// selectTables picks the replicated tables from cat, fills the status and returns the signature
// of the selection.
func (s *Stream) selectTables(cat *catalog.Catalog) string {
	tables, status := s.selection(cat)
	s.tables = tables
	s.mu.Lock()
	s.status.Tables = status
	s.mu.Unlock()
	return signature(s.tables)
}

// selection returns the tables of cat to replicate (by "schema.table") and what happens to each
// table with vector columns.
func (s *Stream) selection(cat *catalog.Catalog) (map[string]*tableTarget, []TableStatus) {
	s.followParents(cat)
	want := map[string]bool{}
	for _, t := range s.cfg.Tables {
		if !strings.Contains(t, ".") {
			t = "public." + t
		}
		want[t] = true
	}
	tables := map[string]*tableTarget{}
	include := s.include()
	var status []TableStatus
	for _, t := range cat.Tables {
		qn := t.QualifiedName()
		if len(want) > 0 && !want[qn] {
			continue
		}
		ts := TableStatus{Schema: t.Schema, Name: t.Name, Skip: t.Skip}
		tt := &tableTarget{table: t}
		for _, v := range t.Vectors {
			if v.Skip != "" {
				if ts.SkipColumns == nil {
					ts.SkipColumns = map[string]string{}
				}
				ts.SkipColumns[v.Name] = v.Skip
				continue
			}
			tt.vectors = append(tt.vectors, v)
			tt.targets = append(tt.targets, Target{Schema: t.Schema, Table: t.Name, Column: v.Name})
			ts.Columns = append(ts.Columns, v.Name)
		}
		named := expandInclude(nil, t, include[qn])
		tt.whole = slices.Contains(include["*"], "*")
		for _, inc := range append(named, expandInclude(s.cfg.Applier, t, include["*"])...) {
			c, ok := t.Column(inc)
			if !ok {
				// A dropped filter column must not stop the table's replication: its
				// queries lose the in-index filter, nothing else.
				s.log.Warn("include column not replicated: it does not exist", "table", qn, "column", inc)
				continue
			}
			if c.Generated {
				s.log.Warn("include column not replicated: Postgres 17 cannot publish generated columns", "table", qn, "column", inc)
				continue
			}
			if !slices.Contains(tt.include, inc) {
				tt.include = append(tt.include, inc)
				tt.coverOnly = append(tt.coverOnly, !slices.Contains(named, inc))
			}
		}
		if ts.Skip != "" {
			s.log.Warn("table not replicated", "table", qn, "reason", ts.Skip)
			ts.Columns = nil
		} else {
			tables[qn] = tt
		}
		for c, why := range ts.SkipColumns {
			s.log.Warn("vector column not replicated", "table", qn, "column", c, "reason", why)
		}
		status = append(status, ts)
	}
	for t := range want {
		schema, name, _ := strings.Cut(t, ".")
		if cat.Table(schema, name) == nil {
			status = append(status, TableStatus{Schema: schema, Name: name, Skip: "not found, or has no vector column"})
		}
	}
	return tables, status
}

// expandInclude replaces a "*" among a table's include columns by the columns it stands for
// (Includer): those the applier covers.
func expandInclude(applier Applier, t catalog.Table, cols []string) []string {
	if !slices.Contains(cols, "*") {
		return cols
	}
	cover, _ := applier.(Coverer)
	var out []string
	for _, n := range cols {
		if n != "*" {
			out = append(out, n)
			continue
		}
		for _, c := range t.Columns {
			if c.Generated || slices.ContainsFunc(t.Key, func(k catalog.Column) bool { return k.Name == c.Name }) ||
				slices.ContainsFunc(t.Vectors, func(v catalog.VectorColumn) bool { return v.Name == c.Name }) ||
				cover != nil && !cover.Covers(c) {
				continue
			}
			out = append(out, c.Name)
		}
	}
	return out
}

// signature summarises what the Applier's state holds, table by table: relation, key, vector and
// include columns, pgvector indexes. A snapshot records it; a session whose catalog gives another
// does not resume from that state (it reloads).
func signature(tables map[string]*tableTarget) string {
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		tt := tables[n]
		fmt.Fprintf(h, "%s|%d|%c|", n, tt.table.OID, tt.table.ReplicaIdentity)
		for _, k := range tt.table.Key {
			fmt.Fprintf(h, "k:%s:%d|", k.Name, k.TypeOID)
		}
		for _, v := range tt.vectors {
			fmt.Fprintf(h, "v:%s:%d:%d|", v.Name, v.TypeOID, v.TypMod)
		}
		for _, c := range tt.include {
			fmt.Fprintf(h, "i:%s|", c)
		}
		// The pgvector indexes too: a snapshot holds their twins, and one written before an
		// index was created (or dropped) must not be resumed from as if it had it.
		for _, ix := range slices.Sorted(maps.Keys(tt.indexSet())) {
			fmt.Fprintf(h, "x:%s|", ix)
		}
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// rows describes what a table's twins hold per row: the relation, its key and replica identity,
// its vector columns. Twins loaded for one description are wrong for another.
func (tt *tableTarget) rows() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%c|", tt.table.OID, tt.table.ReplicaIdentity)
	for _, k := range tt.table.Key {
		fmt.Fprintf(&b, "k:%s:%d|", k.Name, k.TypeOID)
	}
	for _, v := range tt.vectors {
		fmt.Fprintf(&b, "v:%s:%d:%d:%s|", v.Name, v.TypeOID, v.TypMod, v.Kind)
	}
	return b.String()
}

// includeSig describes the INCLUDE columns held with each row.
func (tt *tableTarget) includeSig() string {
	var b strings.Builder
	for i, c := range tt.include {
		fmt.Fprintf(&b, "i:%s:%v|", c, tt.coverOnly[i])
	}
	fmt.Fprintf(&b, "w:%v", tt.whole)
	return b.String()
}

// indexSet lists the valid pgvector indexes of the table's replicated columns, each with what its
// twin is built from (an index being built CONCURRENTLY counts once it is valid).
func (tt *tableTarget) indexSet() map[string]bool {
	out := map[string]bool{}
	for _, ix := range tt.table.Indexes {
		if !ix.Valid || !slices.ContainsFunc(tt.vectors, func(v catalog.VectorColumn) bool { return v.Name == ix.Column }) {
			continue
		}
		out[fmt.Sprintf("%s|%s|%s|%s|%d|%d|%d|%v|%v|%s|%d", ix.Name, ix.Column, ix.Method, ix.Opclass,
			ix.M, ix.EfConstruction, ix.Lists, ix.Partial, ix.Expression, ix.Expr, ix.ExprDims)] = true
	}
	return out
}

func (s *Stream) targetInfos() []TargetInfo {
	var out []TargetInfo
	for _, tt := range s.tables {
		out = append(out, tt.infos()...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// infos returns the TargetInfo of each of the table's targets.
func (tt *tableTarget) infos() []TargetInfo {
	var out []TargetInfo
	{
		for i, v := range tt.vectors {
			ti := TargetInfo{Target: tt.targets[i], OID: tt.table.OID, Kind: v.Kind, Dims: v.Dims, Key: tt.table.Key, Include: tt.include}
			for _, c := range tt.table.Columns {
				ti.Columns = append(ti.Columns, c.Name)
			}
			if slices.Contains(tt.coverOnly, true) {
				ti.CoverOnly = tt.coverOnly
			}
			for i, n := range tt.include {
				c, _ := tt.table.Column(n)
				typ := c.Type
				if !c.Deterministic {
					if ti.Nondeterministic == nil {
						ti.Nondeterministic = make([]bool, len(tt.include))
					}
					ti.Nondeterministic[i] = true
				}
				if !c.Deterministic && !tt.coverOnly[i] {
					typ = "" // equality is not bytewise: not a column to compare values of
				}
				ti.IncludeTypes = append(ti.IncludeTypes, typ)
			}
			for _, ix := range tt.table.Indexes {
				if ix.Column == v.Name {
					ti.Indexes = append(ti.Indexes, ix)
				}
			}
			out = append(out, ti)
		}
	}
	return out
}

// ensurePublication makes the publication publish exactly tables (by "schema.table") and their
// columns.
func (s *Stream) ensurePublication(ctx context.Context, conn *pgx.Conn, tables map[string]*tableTarget) error {
	want := map[string][]string{}
	var clauses []string
	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tt := tables[n]
		cols := tt.columns()
		clause := tt.table.Ident()
		if tt.table.ReplicaIdentity == 'f' || tt.whole {
			// A column list must cover the replica identity; with FULL that is every column
			// (but generated ones, which Postgres 17 never publishes). A covered table is
			// published whole too (tableTarget.whole).
			cols = nil
			for _, c := range tt.table.Columns {
				if !c.Generated {
					cols = append(cols, c.Name)
				}
			}
		} else {
			quoted := make([]string, len(cols))
			for i, c := range cols {
				quoted[i] = pgx.Identifier{c}.Sanitize()
			}
			clause += " (" + strings.Join(quoted, ", ") + ")"
		}
		sorted := slices.Clone(cols)
		sort.Strings(sorted)
		want[n] = sorted
		clauses = append(clauses, clause)
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, s.pub).Scan(&exists); err != nil {
		return fmt.Errorf("replication: look up publication %s: %w", s.pub, err)
	}
	pubIdent := pgx.Identifier{s.pub}.Sanitize()
	if exists {
		have := map[string][]string{}
		rows, err := conn.Query(ctx, `SELECT schemaname, tablename, attnames FROM pg_publication_tables WHERE pubname = $1`, s.pub)
		if err != nil {
			return fmt.Errorf("replication: read publication %s: %w", s.pub, err)
		}
		var schema, table string
		var cols []string
		_, err = pgx.ForEachRow(rows, []any{&schema, &table, &cols}, func() error {
			c := slices.Clone(cols)
			sort.Strings(c)
			have[schema+"."+table] = c
			return nil
		})
		if err != nil {
			return fmt.Errorf("replication: read publication %s: %w", s.pub, err)
		}
		same := len(have) == len(want)
		for n, c := range want {
			if !slices.Equal(have[n], c) {
				same = false
			}
		}
		if same {
			return nil
		}
		if len(clauses) > 0 {
			_, err = conn.Exec(ctx, "ALTER PUBLICATION "+pubIdent+" SET TABLE "+strings.Join(clauses, ", "))
		} else {
			_, err = conn.Exec(ctx, "DROP PUBLICATION "+pubIdent+"; CREATE PUBLICATION "+pubIdent)
		}
		if err != nil {
			return fmt.Errorf("replication: alter publication %s: %w", s.pub, err)
		}
		s.log.Info("publication updated", "publication", s.pub, "tables", len(clauses))
		return nil
	}
	sql := "CREATE PUBLICATION " + pubIdent
	if len(clauses) > 0 {
		sql += " FOR TABLE " + strings.Join(clauses, ", ")
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("replication: create publication %s: %w", s.pub, err)
	}
	s.log.Info("publication created", "publication", s.pub, "tables", len(clauses))
	return nil
}

// initialLoad creates the slot exporting its snapshot, copies every table under that snapshot and
// returns the slot's consistent point, from which streaming starts.
func (s *Stream) initialLoad(ctx context.Context, conn *pgx.Conn, rconn *pgconn.PgConn) (LSN, error) {
	s.setState(StateLoading)
	s.haveData = false
	stop := s.nudgePrimary(ctx)
	s.dataGen.Add(1) // a snapshot of the state before is not put in place
	res, err := pglogrepl.CreateReplicationSlot(ctx, rconn, s.slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{
		Mode: pglogrepl.LogicalReplication, SnapshotAction: "EXPORT_SNAPSHOT",
	})
	stop()
	if err != nil {
		return 0, fmt.Errorf("replication: create slot %s: %w", s.slot, err)
	}
	consistent, err := pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, fmt.Errorf("replication: create slot %s: consistent point: %w", s.slot, err)
	}
	if err := s.cfg.Applier.Reset(s.targetInfos()); err != nil {
		return 0, fmt.Errorf("replication: reset applier: %w", err)
	}
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		return 0, fmt.Errorf("replication: initial load: begin: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") //nolint:errcheck // best effort after errors
	if _, err := conn.Exec(ctx, "SET TRANSACTION SNAPSHOT "+sqltext.QuoteLiteral(res.SnapshotName)); err != nil {
		return 0, fmt.Errorf("replication: initial load: set snapshot: %w", err)
	}
	var total int64
	names := make([]string, 0, len(s.tables))
	for n, tt := range s.tables {
		names = append(names, n)
		var est float64
		if err := conn.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = $1`, tt.table.OID).Scan(&est); err == nil && est > 0 {
			total += int64(est)
		}
	}
	sort.Strings(names)
	p := &progress{log: s.log, every: s.cfg.ProgressInterval, total: total, start: time.Now(), last: time.Now()}
	s.log.Info("initial load started", "tables", len(names), "estimated_rows", total, "consistent_point", consistent)
	for _, n := range names {
		if err := s.copyTable(ctx, conn, s.tables[n], p, s.cfg.Applier); err != nil {
			return 0, err
		}
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return 0, fmt.Errorf("replication: initial load: commit: %w", err)
	}
	if err := s.cfg.Applier.Commit(consistent); err != nil {
		return 0, fmt.Errorf("replication: initial load: commit at %s: %w", consistent, err)
	}
	el := time.Since(p.start)
	s.log.Info("initial load done", "rows", p.rows, "seconds", el.Seconds(), "rows_per_s", int64(float64(p.rows)/max(el.Seconds(), 1e-9)))
	s.mu.Lock()
	s.status.Applied = consistent
	s.status.Persisted = 0
	s.status.LoadedRows = p.rows
	s.status.Resnapshots++
	s.mu.Unlock()
	s.haveData = true
	s.signature = signature(s.tables)
	if err := s.maybePersist(true); err != nil {
		return 0, err
	}
	return consistent, nil
}

type progress struct {
	log         interface{ Info(string, ...any) }
	every       time.Duration
	total, rows int64
	start, last time.Time
}

func (p *progress) add() {
	p.rows++
	if p.rows&4095 != 0 || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	rate := float64(p.rows) / el
	args := []any{"rows", p.rows, "rows_per_s", int64(rate)}
	if p.total > p.rows && rate > 0 {
		args = append(args, "estimated_rows", p.total, "eta", time.Duration(float64(p.total-p.rows)/rate*float64(time.Second)).Round(time.Second))
	}
	p.log.Info("initial load progress", args...)
}

// copyTable copies tt's rows (in conn's transaction) into dst.
func (s *Stream) copyTable(ctx context.Context, conn *pgx.Conn, tt *tableTarget, p *progress, dst Sink) error {
	cols := tt.columns()
	quoted := make([]string, len(cols))
	pos := map[string]int{}
	for i, c := range cols {
		quoted[i] = pgx.Identifier{c}.Sanitize()
		pos[c] = i
	}
	ri := &relInfo{tt: tt}
	for _, k := range tt.table.Key {
		ri.key = append(ri.key, pos[k.Name])
	}
	for _, v := range tt.vectors {
		ri.vectors = append(ri.vectors, pos[v.Name])
	}
	for _, c := range tt.include {
		ri.include = append(ri.include, pos[c])
	}
	var keyBuf []byte
	cr := &copyReader{row: func(fields [][]byte) error {
		if len(fields) != len(cols) {
			return fmt.Errorf("%w: %d fields, want %d", errCopyFormat, len(fields), len(cols))
		}
		keyBuf = keyBuf[:0]
		for i, kp := range ri.key {
			if fields[kp] == nil {
				return fmt.Errorf("%w: NULL key", errCopyFormat)
			}
			keyBuf = appendKey(keyBuf, fields[kp], len(ri.key) > 1 || i > 0)
		}
		key := Key(keyBuf)
		var inc []Datum
		if len(ri.include) > 0 {
			inc = make([]Datum, len(ri.include))
			for i, ip := range ri.include {
				if fields[ip] == nil {
					inc[i].Null = true
				} else {
					inc[i].Value = slices.Clone(fields[ip])
				}
			}
		}
		for i, vp := range ri.vectors {
			if fields[vp] == nil {
				// NULL vectors are not indexed, but the Applier learns the row exists.
				if err := dst.Upsert(tt.targets[i], Row{Key: key, Include: inc}); err != nil {
					if err := s.reject(dst, tt.targets[i], key, err); err != nil {
						return err
					}
				}
				continue
			}
			v, err := DecodeBinary(tt.vectors[i].Kind, fields[vp])
			if err == nil {
				err = dst.Upsert(tt.targets[i], Row{Key: key, Vector: v, Include: inc})
			}
			if err != nil {
				if err := s.reject(dst, tt.targets[i], key, err); err != nil {
					return err
				}
			}
		}
		p.add()
		return nil
	}}
	sql := "COPY " + tt.table.Ident() + " (" + strings.Join(quoted, ", ") + ") TO STDOUT (FORMAT binary)"
	pw := newPipe(cr)
	_, err := conn.PgConn().CopyTo(ctx, pw, sql)
	if perr := pw.Close(); err == nil {
		err = perr
	}
	if err == nil && !cr.done {
		err = fmt.Errorf("%w: no trailer", errCopyFormat)
	}
	if err != nil {
		return fmt.Errorf("replication: initial load of %s: %w", tt.table.QualifiedName(), err)
	}
	return nil
}

// appendKey appends one key column's bytes; composite keys length-prefix every column.
func appendKey(dst, col []byte, composite bool) []byte {
	if composite {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(col)))
	}
	return append(dst, col...)
}

// reject handles a row that cannot be indexed: log, count, make sure no stale vector remains in dst.
func (s *Stream) reject(dst Sink, t Target, key Key, err error) error {
	handled := errors.Is(err, ErrRejectedHandled)
	if !handled && !errors.Is(err, ErrRejected) && !errors.Is(err, ErrBadVector) {
		return fmt.Errorf("replication: apply %s: %w", t, err)
	}
	s.log.Warn("row not indexed", "target", t.String(), "key", hex.EncodeToString([]byte(key)), "err", err)
	s.mu.Lock()
	s.status.RejectedRows++
	s.mu.Unlock()
	if handled {
		return nil // the Applier left the row out of the indexes that refused it, and only those
	}
	if err := dst.Delete(t, key); err != nil {
		return fmt.Errorf("replication: apply %s: delete rejected row: %w", t, err)
	}
	return nil
}

// handle applies one pgoutput message.
func (s *Stream) handle(ctx context.Context, walStart LSN, data []byte) error {
	m, err := decodeMessage(data)
	if err != nil {
		return fmt.Errorf("replication: decode at %s: %w", walStart, err)
	}
	switch m := m.(type) {
	case msgBegin:
		s.inTxn = true
		s.txnFinal, s.txnXid = m.finalLSN, m.xid
		// Idempotence: a transaction whose commit record precedes the applied position was
		// applied before (possible when a slot resends after a reconnect).
		s.skipTxn = m.finalLSN < s.applied()
	case msgCommit:
		s.inTxn = false
		catalogTxn := s.catalogTxn
		s.catalogTxn = false
		if s.skipTxn {
			s.skipTxn = false
			return nil
		}
		if err := s.cfg.Applier.Commit(m.endLSN); err != nil {
			return fmt.Errorf("replication: commit at %s: %w", m.endLSN, err)
		}
		if catalogTxn {
			// The catalog changed in this transaction: read it again now, before the position
			// moves past it (a changed catalog reloads, and the position moves only once the
			// reload is done), and let every table check made before lapse.
			s.waitVisible(ctx, s.txnXid)
			err := s.checkCatalog(ctx)
			if errors.Is(err, errResync) {
				s.setState(StateReconnecting) // no answers from these twins from now on
			}
			s.catalogEpoch.Add(1)
			if err != nil {
				return err
			}
		}
		s.setApplied(m.endLSN, max(time.Since(m.commitTime), 0))
		return s.maybePersist(false)
	case msgMessage:
		if m.prefix == catalogPrefix && !s.skipTxn {
			if m.transactional {
				s.catalogTxn = true
			} else {
				s.catalogEpoch.Add(1)
			}
		}
	case msgRelation:
		return s.relation(m)
	case msgType, msgIgnored:
	case msgInsert:
		if s.skipTxn {
			return nil
		}
		return s.each(m.relid, func(dst Sink, ri *relInfo) error { return s.upsert(dst, ri, walStart, nil, m.new) })
	case msgUpdate:
		if s.skipTxn {
			return nil
		}
		return s.each(m.relid, func(dst Sink, ri *relInfo) error { return s.upsert(dst, ri, walStart, m.old, m.new) })
	case msgDelete:
		if s.skipTxn {
			return nil
		}
		return s.each(m.relid, func(dst Sink, ri *relInfo) error {
			key, err := ri.keyOf(m.old)
			if err != nil {
				return fmt.Errorf("replication: apply delete on %s at %s: %w", ri.tt.table.QualifiedName(), walStart, err)
			}
			for _, t := range ri.tt.targets {
				if err := dst.Delete(t, key); err != nil {
					return fmt.Errorf("replication: apply delete %s at %s: %w", t, walStart, err)
				}
			}
			return nil
		})
	case msgTruncate:
		if s.skipTxn {
			return nil
		}
		for _, id := range m.relids {
			err := s.each(id, func(dst Sink, ri *relInfo) error {
				for _, t := range ri.tt.targets {
					if err := dst.Truncate(t); err != nil {
						return fmt.Errorf("replication: apply truncate %s at %s: %w", t, walStart, err)
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// each applies a change of relation relid to the Applier's twins of it (when replicated), and
// queues it for the table's twins being loaded apart (when one is: tablesync.go).
func (s *Stream) each(relid uint32, apply func(Sink, *relInfo) error) error {
	if ri := s.rels[relid]; ri != nil {
		if err := apply(s.cfg.Applier, ri); err != nil {
			return err
		}
	}
	sy := s.syncs[relid]
	if sy == nil {
		return nil
	}
	if sy.ri == nil {
		// pgoutput sends a Relation message before a relation's first change of a session.
		return fmt.Errorf("%w: a change of relation %d before its Relation message", errResync, relid)
	}
	return apply(queueSink{sy: sy, final: s.txnFinal}, sy.ri)
}

// relation maps a Relation message onto the selected table (and onto the table being loaded
// apart, when one is), or asks for a resynchronisation when the table no longer matches what
// was loaded (a vector or key column dropped, retyped, or its dimensions changed).
func (s *Stream) relation(m msgRelation) error {
	s.relMsgs[m.relid] = m
	_, perTable := s.cfg.Applier.(TableLoader)
	if sy := s.syncs[m.relid]; sy != nil {
		ri, err := mapRelation(sy.tt, m)
		if err != nil {
			// The table changed since its load began: a load begun after this transaction
			// (the catalog check at its end) copies what it is now.
			s.log.Info("table load abandoned: the table changed", "table", sy.tt.table.QualifiedName(), "reason", err)
			s.stopSync(m.relid)
			s.refreshDue = true
		} else {
			sy.ri = ri
		}
	}
	qn := m.namespace + "." + m.name
	tt := s.tables[qn]
	// The twins were loaded from one relation (by OID) under one name. Another relation under
	// that name (DROP + CREATE, a rename swap) or that relation under another name (a rename)
	// means the twin no longer holds what the name reads: retire it at once, so queries are
	// forwarded, and read the catalog as it is now (per table at the transaction's end; without
	// a TableLoader, a full reload).
	var stale []*tableTarget
	if tt != nil && tt.table.OID != m.relid {
		stale = append(stale, tt)
	}
	for n, o := range s.tables {
		if o.table.OID == m.relid && n != qn {
			stale = append(stale, o)
		}
	}
	if len(stale) > 0 {
		var names []string
		for _, o := range stale {
			names = append(names, o.table.QualifiedName())
			s.drop(o)
		}
		s.catalogEpoch.Add(1)
		if !perTable {
			s.setState(StateReconnecting)
			return fmt.Errorf("%w: relation %d is now %s: %s replaced or renamed", errResync, m.relid, qn, strings.Join(names, ", "))
		}
		s.log.Info("twins retired: table replaced or renamed", "relation", m.relid, "now", qn, "retired", strings.Join(names, ", "))
		s.refreshDue = true
		tt = s.tables[qn]
	}
	if tt == nil {
		if s.syncs[m.relid] == nil {
			s.log.Info("changes for a table not replicated are ignored", "table", qn)
		}
		delete(s.rels, m.relid)
		return nil
	}
	ri, err := mapRelation(tt, m)
	if err != nil && perTable && s.syncs[m.relid] != nil {
		// The table being loaded apart replaces these twins and no longer has what they hold.
		s.log.Info("twins retired: their table changed; its new twins are loading", "table", qn, "reason", err)
		s.drop(tt)
		s.catalogEpoch.Add(1)
		return nil
	}
	if err != nil {
		return err
	}
	s.rels[m.relid] = ri
	return nil
}

// mapRelation maps the columns of a Relation message onto tt, or returns errResync when tt's
// key, vector or include columns are not there with the types tt was loaded with.
func mapRelation(tt *tableTarget, m msgRelation) (*relInfo, error) {
	qn := m.namespace + "." + m.name
	find := func(name string) (relColumn, int) {
		for i, c := range m.columns {
			if c.name == name {
				return c, i
			}
		}
		return relColumn{}, -1
	}
	ri := &relInfo{tt: tt}
	for _, k := range tt.table.Key {
		c, i := find(k.Name)
		if i < 0 || c.typeOID != k.TypeOID {
			return nil, fmt.Errorf("%w: key column %s.%s dropped or retyped", errResync, qn, k.Name)
		}
		ri.key = append(ri.key, i)
	}
	for _, v := range tt.vectors {
		c, i := find(v.Name)
		if i < 0 || c.typeOID != v.TypeOID || c.typMod != v.TypMod {
			return nil, fmt.Errorf("%w: vector column %s.%s dropped, retyped or its dimensions changed", errResync, qn, v.Name)
		}
		ri.vectors = append(ri.vectors, i)
	}
	for _, n := range tt.include {
		c, i := find(n)
		want, _ := tt.table.Column(n)
		if i < 0 || c.typeOID != want.TypeOID {
			return nil, fmt.Errorf("%w: include column %s.%s dropped or retyped", errResync, qn, n)
		}
		ri.include = append(ri.include, i)
	}
	return ri, nil
}

// drop retires tt's twins and stops replicating it: its changes are ignored from now on.
func (s *Stream) drop(tt *tableTarget) {
	s.retire(tt)
	delete(s.tables, tt.table.QualifiedName())
	delete(s.rels, tt.table.OID)
	s.signature = signature(s.tables)
	s.twinsChanged = true
}

// retire stops the Applier answering for tt's targets (when it can: Retirer).
func (s *Stream) retire(tt *tableTarget) {
	r, ok := s.cfg.Applier.(Retirer)
	if !ok {
		return
	}
	for _, t := range tt.targets {
		r.Retire(t)
	}
}

// rejectUpsert handles an upsert of key (moved from oldKey, when set) that dst refused.
func (s *Stream) rejectUpsert(dst Sink, t Target, key, oldKey Key, err error) error {
	if oldKey != "" && !errors.Is(err, ErrRejectedHandled) {
		if derr := dst.Delete(t, oldKey); derr != nil {
			return fmt.Errorf("replication: apply update %s: %w", t, derr)
		}
	}
	return s.reject(dst, t, key, err)
}

func (ri *relInfo) keyOf(tuple []tupleCol) (Key, error) {
	var buf []byte
	for i, p := range ri.key {
		if p >= len(tuple) {
			return "", fmt.Errorf("%w: tuple has %d columns", ErrMalformed, len(tuple))
		}
		c := tuple[p]
		if c.kind != colBinary {
			return "", fmt.Errorf("%w: key column sent as %q, want binary", ErrMalformed, c.kind)
		}
		buf = appendKey(buf, c.data, len(ri.key) > 1 || i > 0)
	}
	return Key(buf), nil
}

func decodeCol(kind catalog.VectorType, c tupleCol) (Vector, error) {
	if c.kind == colText {
		return DecodeText(kind, c.data)
	}
	return DecodeBinary(kind, c.data)
}

// upsert applies an insert (old == nil) or an update of ri's relation to dst.
func (s *Stream) upsert(dst Sink, ri *relInfo, walStart LSN, old, new []tupleCol) error {
	qn := ri.tt.table.QualifiedName()
	key, err := ri.keyOf(new)
	if err != nil {
		return fmt.Errorf("replication: apply change on %s at %s: %w", qn, walStart, err)
	}
	var oldKey Key
	if old != nil {
		ok, err := ri.keyOf(old)
		if err != nil {
			return fmt.Errorf("replication: apply update on %s at %s: old key: %w", qn, walStart, err)
		}
		if ok != key {
			oldKey = ok
		}
	}
	var inc []Datum
	if len(ri.include) > 0 {
		inc = make([]Datum, len(ri.include))
		for i, p := range ri.include {
			if p >= len(new) {
				return fmt.Errorf("replication: apply change on %s at %s: %w: short tuple", qn, walStart, ErrMalformed)
			}
			switch new[p].kind {
			case colNull:
				inc[i].Null = true
			case colUnchanged:
				inc[i].Unchanged = true
			default:
				inc[i].Value = slices.Clone(new[p].data)
				inc[i].Text = new[p].kind == colText
			}
		}
	}
	for i, p := range ri.vectors {
		t := ri.tt.targets[i]
		if p >= len(new) {
			return fmt.Errorf("replication: apply change on %s at %s: %w: short tuple", qn, walStart, ErrMalformed)
		}
		col := new[p]
		switch col.kind {
		case colNull:
			// The row has no vector: not indexed, but the Applier learns the row exists.
			err = dst.Upsert(t, Row{Key: key, OldKey: oldKey, Include: inc})
		case colUnchanged:
			err = dst.Upsert(t, Row{Key: key, OldKey: oldKey, KeepVector: true, Include: inc})
		default:
			var v Vector
			v, err = decodeCol(ri.tt.vectors[i].Kind, col)
			if err == nil {
				err = dst.Upsert(t, Row{Key: key, OldKey: oldKey, Vector: v, Include: inc})
			}
		}
		if err != nil {
			if err := s.rejectUpsert(dst, t, key, oldKey, err); err != nil {
				return fmt.Errorf("replication: apply change at %s: %w", walStart, err)
			}
		}
	}
	return nil
}
