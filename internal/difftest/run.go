package difftest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// pgErr is an error as Postgres (or vecgate) reported it.
type pgErr struct {
	Code, Message string
}

func (e *pgErr) String() string {
	if e == nil {
		return "no error"
	}
	return e.Code + " " + e.Message
}

func toPgErr(err error) *pgErr {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &pgErr{Code: pe.Code, Message: pe.Message}
	}
	return &pgErr{Code: "client", Message: err.Error()}
}

type cell struct {
	B    []byte
	Null bool
}

// result is one statement's answer on one side.
type result struct {
	Err    *pgErr
	Fields []pgconn.FieldDescription
	Rows   [][]cell
	Path   string // vecgate side: intercepted, fast, forwarded:<reason>, or "" when unknown
}

// oracleRow is what Postgres says, in the direct session, about one key a side returned: its
// sort key and whether it passes the WHERE.
type oracleRow struct {
	Tuple   [2]float64
	Null    bool // distance NULL
	CatNull bool
	Pass    bool
}

// queryRun is one compared query's answers.
type queryRun struct {
	Q      *query
	V, D   []*result // one result, or one per batched copy
	Oracle map[string]oracleRow
	OErr   string
}

// stmtRun is one statement's outcome on both sides.
type stmtRun struct {
	SQL  string
	V, D *pgErr
	Only bool // run through vecgate only
}

// caseRun is everything a case produced.
type caseRun struct {
	Queries []*queryRun
	Stmts   []*stmtRun
}

var directPrelude = []string{"SET enable_indexscan = off", "SET enable_bitmapscan = off"}

// runCase runs c through vecgate and directly, segment by segment (each segment whole through
// vecgate, then whole directly).
func (e *env) runCase(ctx context.Context, c *Case) (*caseRun, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	vc, err := e.connect(ctx, c.DB, c.User, true)
	if err != nil {
		return nil, fmt.Errorf("connect through vecgate: %w", err)
	}
	defer vc.Close(context.Background())
	dc, err := e.connect(ctx, c.DB, c.User, false)
	if err != nil {
		return nil, fmt.Errorf("connect directly: %w", err)
	}
	defer dc.Close(context.Background())
	if err := execAll(ctx, dc, directPrelude); err != nil {
		return nil, err
	}
	needVec := false
	for _, q := range c.queries() {
		needVec = needVec || q.Mode == modeCacheBin
	}
	if needVec {
		for _, conn := range []*pgx.Conn{vc, dc} {
			if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
				return nil, fmt.Errorf("register vector types: %w", err)
			}
		}
	}
	run := &caseRun{}
	for _, sg := range c.Segs {
		var qrs []*queryRun
		var srs []*stmtRun
		for _, st := range sg.Steps {
			if st.Q != nil {
				qr := &queryRun{Q: st.Q}
				qr.V = e.runQuery(ctx, vc, c.DB, st.Q, true)
				qrs = append(qrs, qr)
				continue
			}
			sr := &stmtRun{SQL: st.SQL, Only: st.Write}
			_, err := vc.Exec(ctx, st.SQL, pgx.QueryExecModeSimpleProtocol)
			sr.V = toPgErr(err)
			srs = append(srs, sr)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		qi, si := 0, 0
		for _, st := range sg.Steps {
			if st.Q != nil {
				qr := qrs[qi]
				qi++
				qr.D = e.runQuery(ctx, dc, c.DB, st.Q, false)
				e.oracle(ctx, dc, qr, sg.Block)
				continue
			}
			sr := srs[si]
			si++
			if st.Write {
				continue
			}
			_, err := dc.Exec(ctx, st.SQL, pgx.QueryExecModeSimpleProtocol)
			sr.D = toPgErr(err)
		}
		run.Queries = append(run.Queries, qrs...)
		run.Stmts = append(run.Stmts, srs...)
	}
	return run, ctx.Err()
}

// runQuery sends q on conn in its mode and collects the answers.
func (e *env) runQuery(ctx context.Context, conn *pgx.Conn, db int, q *query, via bool) []*result {
	volatile := false
	for _, k := range q.Kinds {
		volatile = volatile || k == colVolatile
	}
	if volatile {
		_, _ = e.admin[db].Exec(ctx, "SELECT setval('"+e.seq+"', 1, false)")
	}
	var before counters
	if via {
		before, _ = e.metrics(ctx)
	}
	sql := q.SQL()
	var out []*result
	switch q.Mode {
	case modeSimple:
		out = append(out, collect(conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)))
	case modeSimpleArg:
		out = append(out, collect(conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol, q.Vec)))
	case modeExecText:
		out = append(out, collect(conn.Query(ctx, sql, pgx.QueryExecModeExec, q.Vec)))
	case modeCacheText:
		out = append(out, collect(conn.Query(ctx, sql, pgx.QueryExecModeCacheStatement, q.Vec)))
	case modeCacheBin:
		out = append(out, collect(conn.Query(ctx, sql, pgx.QueryExecModeCacheStatement, pgvector.NewVector(parseVec(q.Vec)))))
	case modeBatch:
		b := &pgx.Batch{}
		b.Queue(sql, q.Vec)
		b.Queue(sql, q.Vec)
		br := conn.SendBatch(ctx, b)
		out = append(out, collectBatch(br), collectBatch(br))
		if err := br.Close(); err != nil && out[0].Err == nil && out[1].Err == nil {
			out[1].Err = toPgErr(err)
		}
	}
	if via {
		if after, err := e.metrics(ctx); err == nil {
			d := after.sub(before)
			switch {
			case d.Fast > 0:
				out[0].Path = "fast"
			case d.Intercepted > 0:
				out[0].Path = "intercepted"
			case len(d.Forwarded) > 0:
				var rs []string
				for r := range d.Forwarded {
					rs = append(rs, r)
				}
				out[0].Path = "forwarded:" + strings.Join(rs, "+")
			default:
				out[0].Path = "forwarded:not-a-candidate"
			}
		}
	}
	return out
}

func parseVec(s string) []float32 {
	s = strings.Trim(s, "[]")
	var v []float32
	for _, f := range strings.Split(s, ",") {
		x, _ := strconv.ParseFloat(f, 32)
		v = append(v, float32(x))
	}
	return v
}

func collect(rows pgx.Rows, err error) *result {
	r := &result{}
	if err != nil {
		r.Err = toPgErr(err)
		return r
	}
	defer rows.Close()
	r.Fields = append(r.Fields, rows.FieldDescriptions()...)
	for rows.Next() {
		raw := rows.RawValues()
		row := make([]cell, len(raw))
		for i, b := range raw {
			if b == nil {
				row[i].Null = true
			} else {
				row[i].B = append([]byte{}, b...)
			}
		}
		r.Rows = append(r.Rows, row)
	}
	rows.Close()
	r.Err = toPgErr(rows.Err())
	return r
}

func collectBatch(br pgx.BatchResults) *result {
	rows, err := br.Query()
	return collect(rows, err)
}

// keyText decodes a key cell to Postgres' text form.
func keyText(f pgconn.FieldDescription, c cell) string {
	if c.Null {
		return "NULL"
	}
	if f.Format == 0 {
		return string(c.B)
	}
	b := c.B
	switch f.DataTypeOID {
	case 23:
		if len(b) == 4 {
			return strconv.FormatInt(int64(int32(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))), 10)
		}
	case 20:
		if len(b) == 8 {
			var v uint64
			for _, x := range b {
				v = v<<8 | uint64(x)
			}
			return strconv.FormatInt(int64(v), 10)
		}
	case 2950:
		if len(b) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		}
	}
	return string(b)
}

// oracle asks the direct session, in its own state, for the sort keys of every key either side
// returned and whether each passes the WHERE.
func (e *env) oracle(ctx context.Context, dc *pgx.Conn, qr *queryRun, block bool) {
	q := qr.Q
	kc := q.keyCol()
	if kc < 0 {
		return
	}
	keys := map[string]bool{}
	for _, rs := range [][]*result{qr.V, qr.D} {
		for _, r := range rs {
			if r.Err != nil || len(r.Fields) <= kc {
				continue
			}
			for _, row := range r.Rows {
				keys[keyText(r.Fields[kc], row[kc])] = true
			}
		}
	}
	if len(keys) == 0 {
		return
	}
	var list []string
	for k := range keys {
		list = append(list, k)
	}
	vq := *q
	vq.Mode = modeSimple
	where := "true"
	if q.Where != "" {
		where = vq.whereSQL()
	}
	cat := "NULL::int"
	if strings.HasPrefix(q.Second, "cat") {
		cat = "cat"
	}
	sql := fmt.Sprintf("SELECT id::text, (%s)::float8, %s, (%s) IS TRUE FROM %s WHERE id::text = ANY($1)", vq.dist(), cat, where, q.Ref)
	if block {
		if _, err := dc.Exec(ctx, "SAVEPOINT dt_oracle", pgx.QueryExecModeSimpleProtocol); err != nil {
			qr.OErr = err.Error()
			return
		}
	}
	rows, err := dc.Query(ctx, sql, pgx.QueryExecModeDescribeExec, list) // binary float8: exact whatever extra_float_digits
	m := map[string]oracleRow{}
	if err == nil {
		for rows.Next() {
			var k string
			var d *float64
			var c *int32
			var pass bool
			if err = rows.Scan(&k, &d, &c, &pass); err != nil {
				break
			}
			o := oracleRow{Pass: pass, Null: d == nil, CatNull: c == nil}
			if d != nil {
				o.Tuple[0] = *d
			}
			if c != nil {
				o.Tuple[1] = float64(*c)
			}
			m[k] = o
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		qr.OErr = err.Error()
	} else {
		qr.Oracle = m
	}
	if block {
		if err != nil {
			_, _ = dc.Exec(ctx, "ROLLBACK TO SAVEPOINT dt_oracle", pgx.QueryExecModeSimpleProtocol)
		}
		_, _ = dc.Exec(ctx, "RELEASE SAVEPOINT dt_oracle", pgx.QueryExecModeSimpleProtocol)
	}
}
