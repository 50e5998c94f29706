package difftest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// execMode is how a query is sent.
type execMode int

const (
	modeSimple    execMode = iota // Query message, vector literal in the text
	modeSimpleArg                 // pgx simple protocol, the vector interpolated by pgx
	modeExecText                  // extended protocol, unnamed statement, text vector parameter
	modeCacheText                 // extended protocol, named prepared statement, text parameter
	modeCacheBin                  // extended protocol, named prepared statement, binary parameter
	modeBatch                     // pgx batch (one pipeline, one Sync), the query twice
)

var modeNames = [...]string{"simple", "simple-arg", "exec-text", "cache-text", "cache-binary", "batch"}

func (m execMode) String() string { return modeNames[m] }

// colKind is what a projected column is, for comparison.
type colKind int

const (
	colKey colKind = iota
	colDist
	colOther
	colVolatile
)

// query is one generated vector query.
type query struct {
	T       *table
	Ref     string // the table as written (qualified or not)
	Col     vecCol
	Op      op
	Vec     string // vector text, e.g. [1,0.5]
	Proj    []string
	Kinds   []colKind
	Where   string
	Desc    bool
	Second  string // "", "id", "cat DESC"
	Limit   int
	Offset  int
	Mode    execMode
	CastVec bool
	// Expr: the distance is on the column's expression `col::halfvec(n)` (feature halfexpr); the
	// vector is cast to VecType when CastVec ("" : the column's type).
	Expr    bool
	VecType string
	// Wrap puts the query inside a statement: 1 a CTE, 2 a FROM subquery, 3 LATERAL
	// (vecgate rewrites the top-k node in place: planner/nested.go).
	Wrap int
}

func (q *query) vecExpr() string {
	var v string
	switch q.Mode {
	case modeSimple:
		v = "'" + q.Vec + "'"
	default:
		v = "$1"
	}
	if q.CastVec || q.Mode == modeExecText || q.Mode == modeCacheText {
		v += "::" + cmp.Or(q.VecType, q.Col.Type, "vector")
	}
	return v
}

// colExpr is the distance's left side: the column, or its expression.
func (q *query) colExpr() string {
	if q.Expr {
		return q.T.halfExpr(q.Col.Name)
	}
	return q.Col.Name
}

func (q *query) dist() string { return q.colExpr() + " " + q.Op.Sym + " " + q.vecExpr() }

// whereSQL renders the WHERE clause (the query vector and distance written in).
func (q *query) whereSQL() string {
	return strings.ReplaceAll(strings.ReplaceAll(q.Where, "¤", q.vecExpr()), "§", q.dist())
}

// SQL renders the query.
func (q *query) SQL() string {
	proj := make([]string, len(q.Proj))
	for i, p := range q.Proj {
		proj[i] = strings.ReplaceAll(strings.ReplaceAll(p, "¤", q.vecExpr()), "§", q.dist())
	}
	s := "SELECT " + strings.Join(proj, ", ") + " FROM " + q.Ref
	if q.Where != "" {
		s += " WHERE " + q.whereSQL()
	}
	s += " ORDER BY " + q.dist()
	if q.Desc {
		s += " DESC"
	}
	if q.Second != "" {
		s += ", " + q.Second
	}
	s += " LIMIT " + strconv.Itoa(q.Limit)
	if q.Offset > 0 {
		s += " OFFSET " + strconv.Itoa(q.Offset)
	}
	switch q.Wrap {
	case 1:
		s = "WITH w AS (" + s + ") SELECT * FROM w"
	case 2:
		s = "SELECT * FROM (" + s + ") w"
	case 3:
		s = "SELECT w.* FROM (SELECT 1) one, LATERAL (" + s + ") w"
	}
	return s
}

// keyCol is the index of the key column in the projection, or -1.
func (q *query) keyCol() int {
	for i, k := range q.Kinds {
		if k == colKey {
			return i
		}
	}
	return -1
}

// step is one statement of a case, or a compared query.
type step struct {
	SQL   string
	Q     *query // non-nil: a compared query
	Write bool   // a committed write outside a block: run through vecgate only
	Pin   bool   // never dropped by shrinking (the settings that make the index exact)
}

// segment is a run of steps executed whole through vecgate, then whole directly: a transaction
// block, or one statement outside any.
type segment struct {
	Steps []step
	Block bool
}

// Case is one session: where it connects, and its segments.
type Case struct {
	ID   int
	DB   int    // 0: the database vecgate follows; 1: the other one
	User string // "" is the superuser of AdminDSN
	Segs []segment
}

// queries returns the compared queries of c in order.
func (c *Case) queries() []*query {
	var out []*query
	for _, sg := range c.Segs {
		for _, st := range sg.Steps {
			if st.Q != nil {
				out = append(out, st.Q)
			}
		}
	}
	return out
}

// gen draws cases.
type gen struct {
	cfg  *Config
	rng  *rand.Rand
	w    *world
	keys map[*table]int // next key number per table (shared with writers)
	next func(t *table) int
}

func (g *gen) pick(n int) int        { return g.rng.IntN(n) }
func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

func (g *gen) genCase(id int) *Case {
	c := &Case{ID: id}
	cfg := g.cfg
	if cfg.on("otherdb") && g.chance(0.12) {
		c.DB = 1
	}
	if cfg.on("roles") && g.chance(0.4) {
		rs := []string{g.w.Roles.All, g.w.Roles.None, g.w.Roles.Owner}
		if cfg.on("colgrants") {
			rs = append(rs, g.w.Roles.Col)
		}
		c.User = rs[g.pick(len(rs))]
	}
	var pre []string
	pre = append(pre, "SET hnsw.ef_search = 1000", "SET ivfflat.probes = 100")
	if cfg.on("roles") && c.User == "" && g.chance(0.15) {
		rs := []string{g.w.Roles.All, g.w.Roles.None, g.w.Roles.Owner}
		pre = append(pre, "SET ROLE "+rs[g.pick(len(rs))])
	}
	if cfg.on("schemas") && g.chance(0.2) {
		pre = append(pre, []string{"SET search_path TO s2, public", "SET search_path TO public, s2", "SET search_path TO s2"}[g.pick(3)])
	}
	if cfg.on("encoding") && g.chance(0.15) {
		pre = append(pre, []string{"SET client_encoding TO 'LATIN1'", "SET client_encoding TO 'SQL_ASCII'", "SET client_encoding TO 'UTF8'"}[g.pick(3)])
	}
	if cfg.on("floats") && g.chance(0.3) {
		pre = append(pre, fmt.Sprintf("SET extra_float_digits = %d", []int{-15, -3, 0, 1, 2, 3}[g.pick(6)]))
	}
	if cfg.on("knobs") && g.chance(0.2) {
		pre = append(pre, []string{"SET vecgate.enabled = off", "SET vecgate.exact_distances = on",
			"SET vecgate.consistency = 'strong'", "SET vecgate.consistency = 'eventual'", "SET hnsw.iterative_scan = relaxed_order"}[g.pick(5)])
	}
	g.rng.Shuffle(len(pre)-2, func(i, j int) { pre[i+2], pre[j+2] = pre[j+2], pre[i+2] })
	for i, s := range pre {
		c.Segs = append(c.Segs, segment{Steps: []step{{SQL: s, Pin: i < 2}}})
	}
	nq := 1 + g.pick(3)
	for range nq {
		switch {
		case cfg.on("blocks") && g.chance(0.25):
			c.Segs = append(c.Segs, g.block(c))
		case cfg.on("writes") && g.chance(0.25):
			t := g.tableFor(c.DB)
			c.Segs = append(c.Segs, segment{Steps: []step{{SQL: g.write(t), Write: true}}})
			c.Segs = append(c.Segs, segment{Steps: []step{{Q: g.query(c.DB, t)}}})
		default:
			c.Segs = append(c.Segs, segment{Steps: []step{{Q: g.query(c.DB, nil)}}})
		}
		if cfg.on("schemas") && g.chance(0.1) {
			c.Segs = append(c.Segs, segment{Steps: []step{{SQL: "SET search_path TO s2, public"}}})
		}
	}
	return c
}

func (g *gen) block(c *Case) segment {
	sg := segment{Block: true}
	begin := []string{"BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN ISOLATION LEVEL READ COMMITTED", "START TRANSACTION READ ONLY"}[g.pick(4)]
	sg.Steps = append(sg.Steps, step{SQL: begin})
	if g.cfg.on("knobs") && g.chance(0.3) {
		sg.Steps = append(sg.Steps, step{SQL: []string{"SET LOCAL hnsw.ef_search = 1000", "SET LOCAL vecgate.enabled = off", "SET LOCAL vecgate.exact_distances = on"}[g.pick(3)]})
	}
	t := g.tableFor(c.DB)
	wrote := false
	if !strings.Contains(begin, "READ ONLY") && g.chance(0.4) {
		sg.Steps = append(sg.Steps, step{SQL: g.write(t)})
		wrote = true
	}
	for range 1 + g.pick(2) {
		sg.Steps = append(sg.Steps, step{Q: g.query(c.DB, t)})
	}
	end := "ROLLBACK"
	if !wrote && g.chance(0.5) {
		end = "COMMIT"
	}
	sg.Steps = append(sg.Steps, step{SQL: end})
	return sg
}

func (g *gen) tableFor(db int) *table {
	var ts []*table
	for _, t := range g.w.Tables {
		if t.DB == 0 {
			ts = append(ts, t)
		}
	}
	t := ts[g.pick(len(ts))]
	if db == 1 {
		// The other database has only its own t1; asking for any other name errors (42P01), alike.
		for _, u := range g.w.Tables {
			if u.DB == 1 && g.chance(0.8) {
				return u
			}
		}
	}
	return t
}

// write draws an INSERT, UPDATE or DELETE on t.
func (g *gen) write(t *table) string {
	q := t.qualified()
	switch g.pick(3) {
	case 0:
		n := g.next(t)
		vals := t.row(g.cfg, g.rng, n)
		return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", q, strings.Join(t.columns(), ", "), strings.Join(vals, ", "))
	case 1:
		if g.chance(0.3) { // the row's other columns, its vector untouched
			return fmt.Sprintf(`UPDATE %s SET note = 'n%d', meta = jsonb_set(coalesce(meta, '{}'), '{w}', '%d') WHERE id = %s`,
				q, g.pick(50), g.pick(100), t.Key.literal(g.pick(t.Rows)))
		}
		c := t.Vecs[g.pick(len(t.Vecs))]
		return fmt.Sprintf("UPDATE %s SET %s = %s WHERE id = %s", q, c.Name, randValue(g.cfg, g.rng, c), t.Key.literal(g.pick(t.Rows)))
	default:
		return fmt.Sprintf("DELETE FROM %s WHERE id = %s", q, t.Key.literal(g.pick(t.Rows)))
	}
}

// query draws a vector query on t (or a table of database db when t is nil).
func (g *gen) query(db int, t *table) *query {
	cfg := g.cfg
	if t == nil {
		t = g.tableFor(db)
	}
	q := &query{T: t, Ref: t.Name}
	if t.Schema != "public" || g.chance(0.2) {
		q.Ref = t.qualified()
	}
	q.Col = t.Vecs[g.pick(len(t.Vecs))]
	if cfg.on("halfexpr") && q.Col.Type == "vector" && g.chance(0.5) {
		// On the expression when an index has it (mostly), else now and then.
		for _, ix := range t.Indexes {
			q.Expr = q.Expr || ix.Col == q.Col.Name && ix.Expr
		}
		q.Expr = q.Expr || g.chance(0.1)
	}
	// Mostly an operator an index exists for.
	var cands []op
	for _, ix := range t.Indexes {
		if ix.Col == q.Col.Name && ix.Expr == q.Expr {
			for _, o := range ops {
				if o.Opclass == ix.Opclass {
					cands = append(cands, o)
				}
			}
		}
	}
	if len(cands) == 0 || cfg.on("ops") && g.chance(0.1) {
		cands = ops
	}
	if q.Col.Type == "bit" {
		cands = nil
		for _, ix := range t.Indexes {
			for _, o := range bitOps {
				if ix.Col == q.Col.Name && o.Opclass == ix.Opclass {
					cands = append(cands, o)
				}
			}
		}
	}
	q.Op = cands[g.pick(len(cands))]
	dims := q.Col.Dims
	if cfg.on("errors") && g.chance(0.03) {
		dims++
	}
	v := randVector(g.cfg, g.rng, dims)
	if v == "NULL" {
		v = "'" + vectorText(make([]float64, dims)) + "'"
	}
	q.Vec = strings.Trim(v, "'")
	if q.Expr && g.chance(0.5) {
		// Components between halves: the query vector's rounding decides the order.
		x := make([]float64, dims)
		for i := range x {
			x[i] = float64(g.pick(4001)-2000) / 800
		}
		q.Vec = vectorText(x)
	}
	q.Mode = modeSimple
	if cfg.on("extended") {
		q.Mode = execMode(g.pick(5))
	}
	if cfg.on("pipelines") && g.chance(0.1) {
		q.Mode = modeBatch
	}
	switch q.Col.Type {
	case "bit":
		q.Vec, q.VecType = randBits(g.rng, dims), fmt.Sprintf("bit(%d)", dims)
	case "sparsevec":
		q.Vec = sparseText(q.Vec, g.pick(2))
		if g.chance(0.5) {
			q.VecType = fmt.Sprintf("sparsevec(%d)", dims)
		}
	}
	if q.Mode == modeCacheBin && (q.Col.Type == "bit" || q.Col.Type == "sparsevec") {
		q.Mode = modeCacheText // not sent as a pgvector binary vector
	}
	q.CastVec = g.chance(0.3)
	if q.Expr && g.chance(0.5) {
		q.VecType = []string{"vector", "halfvec", fmt.Sprintf("halfvec(%d)", dims)}[g.pick(3)]
	}
	// Projection.
	switch r := g.pick(10); {
	case r < 3 || !cfg.on("projection"):
		q.Proj, q.Kinds = []string{"id"}, []colKind{colKey}
	case r < 6:
		q.Proj, q.Kinds = []string{"id", "§ AS d"}, []colKind{colKey, colDist}
	case r < 7 && g.chance(0.5):
		q.Proj, q.Kinds = []string{"id", "cat", "note"}, []colKind{colKey, colOther, colOther}
	case r < 7:
		q.Proj, q.Kinds = []string{"id", "note", "meta", "flag", "§ AS d"}, []colKind{colKey, colOther, colOther, colOther, colDist}
	case r < 8:
		q.Proj, q.Kinds = []string{"id", "1 - (" + q.colExpr() + " <=> ¤) AS sim"}, []colKind{colKey, colDist}
	case r < 9:
		q.Proj, q.Kinds = []string{"id", q.Col.Name, "§ AS d"}, []colKind{colKey, colOther, colDist}
	default:
		q.Proj, q.Kinds = []string{"§ AS d"}, []colKind{colDist}
	}
	if cfg.on("volatile") && g.chance(0.08) {
		q.Proj = append(q.Proj, "nextval('"+g.w.Seq+"')")
		q.Kinds = append(q.Kinds, colVolatile)
	}
	if cfg.on("where") && g.chance(0.4) {
		ws := []string{
			fmt.Sprintf("cat = %d", g.pick(7)),
			fmt.Sprintf("cat < %d", g.pick(7)),
			"cat IN (1, 2, 5)",
			q.Col.Name + " IS NOT NULL",
			fmt.Sprintf("note <> 'n%d'", g.pick(50)),
			fmt.Sprintf("id <> %s", t.Key.literal(g.pick(t.Rows))),
			fmt.Sprintf("cat = %d OR note = 'n%d'", g.pick(7), g.pick(50)),
			fmt.Sprintf("flag = true AND note IN ('n%d', 'n%d')", g.pick(50), g.pick(50)),
			fmt.Sprintf("note = 'n%d'", g.pick(50)),
			fmt.Sprintf(`meta @> '{"tag": "t%d"}'`, g.pick(5)),
			fmt.Sprintf(`meta @> '{"w": %d.50}' OR NOT meta ? 'n'`, g.pick(12)),
			fmt.Sprintf(`meta ? 'tag' AND meta->>'tag' <> 't%d'`, g.pick(5)),
			// Thresholds on the distance or the similarity: the nearest rows pass.
			fmt.Sprintf("§ < %s", []string{"0.5", "1", "2.25", "4"}[g.pick(4)]),
			fmt.Sprintf("1 - (%s <=> ¤) > %s", q.colExpr(), []string{"-0.5", "0", "0.5", "0.875"}[g.pick(4)]),
			fmt.Sprintf("cat IN (1, 2, 5) AND § <= %s", []string{"1", "3"}[g.pick(2)]),
		}
		q.Where = ws[g.pick(len(ws))]
	}
	q.Desc = cfg.on("desc") && g.chance(0.1)
	if cfg.on("secondkey") && g.chance(0.15) {
		q.Second = []string{"id", "cat DESC"}[g.pick(2)]
	}
	switch r := g.pick(10); {
	case r < 6:
		q.Limit = 1 + g.pick(10)
	case r < 9:
		q.Limit = 10 + g.pick(60)
	default:
		q.Limit = []int{0, 2000, 5000}[g.pick(3)]
	}
	if cfg.on("offset") && g.chance(0.2) {
		q.Offset = []int{1, 3, 10, 50, 3000}[g.pick(5)]
	}
	if cfg.on("wrappers") && g.chance(0.15) {
		q.Wrap = 1 + g.pick(3)
	}
	return q
}

// session names the case's database and role.
func (c *Case) session(admin string) string {
	u := c.User
	if u == "" {
		u = admin
	}
	return fmt.Sprintf("database %d, role %s", c.DB, u)
}
