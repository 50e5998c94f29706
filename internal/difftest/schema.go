package difftest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// keyType is a primary key's SQL type.
type keyType int

const (
	keyInt keyType = iota
	keyBigint
	keyUUID
	keyTextT
)

func (k keyType) sql() string {
	return [...]string{"int", "bigint", "uuid", "text"}[k]
}

// literal is key number n in this type, as an SQL literal.
func (k keyType) literal(n int) string {
	switch k {
	case keyBigint:
		return strconv.FormatInt(int64(n)+5_000_000_000, 10)
	case keyUUID:
		return fmt.Sprintf("'%08x-0000-4000-8000-%012x'", n*2654435761%(1<<32), n)
	case keyTextT:
		return fmt.Sprintf("'k%d'", n)
	}
	return strconv.Itoa(n)
}

// vecCol is a vector column.
type vecCol struct {
	Name string
	Dims int
	Type string // vector or halfvec
}

// index is a pgvector index.
type index struct {
	Col     string
	Method  string // hnsw or ivfflat
	Opclass string
	Lists   int
	// Expr: the index is on (col::halfvec(n)) of a vector column (feature halfexpr).
	Expr bool
}

// op is a pgvector distance operator.
type op struct {
	Sym, Opclass string
}

var ops = []op{{"<->", "l2"}, {"<#>", "ip"}, {"<=>", "cosine"}, {"<+>", "l1"}}

// bitOps are the distances of bit columns (feature bits); vecgate has twins for Hamming only.
var bitOps = []op{{"<~>", "hamming"}, {"<%>", "jaccard"}}

// table is one generated table (in database DB: 0 is the one vecgate follows, 1 the other).
type table struct {
	DB          int
	Schema      string
	Name        string
	Key         keyType
	Vecs        []vecCol
	Indexes     []index
	Partitioned bool
	RLS         bool   // ENABLE + FORCE ROW LEVEL SECURITY, policy cat % 3 <> 1, owned by the owner role
	Rows        int    // initial rows
	seed        uint64 // data seed
}

func (t *table) qualified() string { return t.Schema + "." + t.Name }

// twinTables are the tables whose twins answer for t: t, or a partitioned table's partitions.
func (t *table) twinTables() []string {
	if !t.Partitioned {
		return []string{t.qualified()}
	}
	return []string{t.qualified() + "_p0", t.qualified() + "_p1"}
}

// world is everything the generator created.
type world struct {
	Tables []*table
	Roles  roles
	Seq    string // a sequence for nextval
	DBName [2]string
}

// roles are the cluster-wide roles a run creates (unique names).
type roles struct {
	All, None, Col, Owner string
	Password              string
}

func (r roles) list() []string { return []string{r.All, r.None, r.Col, r.Owner} }

// genWorld draws the schema.
func genWorld(cfg *Config, rng *rand.Rand, prefix string) *world {
	w := &world{Seq: "dt_seq"}
	w.Roles = roles{All: prefix + "_all", None: prefix + "_none", Col: prefix + "_col", Owner: prefix + "_owner", Password: "dt-pw-" + prefix}
	ntab := 2 + rng.IntN(2)
	for i := range ntab {
		t := genTable(cfg, rng, 0, "public", fmt.Sprintf("t%d", i))
		if i == 0 && cfg.on("rls") {
			t.RLS = true
		}
		w.Tables = append(w.Tables, t)
	}
	// Same-named tables elsewhere have t1's key type and columns (other data), mostly: candidate
	// keys from the wrong twin then name real rows instead of failing to cast.
	shadow := func(db int, schema string) *table {
		t := genTable(cfg, rng, db, schema, "t1")
		if rng.IntN(4) != 0 {
			t.Key, t.Vecs, t.Indexes = w.Tables[1].Key, w.Tables[1].Vecs, w.Tables[1].Indexes
		}
		return t
	}
	if cfg.on("schemas") {
		w.Tables = append(w.Tables, shadow(0, "s2"))
	}
	if cfg.on("partitions") {
		t := genTable(cfg, rng, 0, "public", "tp")
		t.Key, t.Partitioned = keyInt, true
		w.Tables = append(w.Tables, t)
	}
	if cfg.on("otherdb") {
		w.Tables = append(w.Tables, shadow(1, "public"))
	}
	return w
}

func genTable(cfg *Config, rng *rand.Rand, db int, schema, name string) *table {
	t := &table{DB: db, Schema: schema, Name: name, seed: rng.Uint64(), Rows: 200 + rng.IntN(900)}
	if cfg.on("keys") {
		t.Key = keyType(rng.IntN(4))
	}
	nv := 1
	if cfg.on("twovec") && rng.IntN(2) == 0 {
		nv = 2
	}
	for i := range nv {
		c := vecCol{Name: fmt.Sprintf("e%d", i+1), Dims: 2 + rng.IntN(7), Type: "vector"}
		if i == 1 && cfg.on("halfvec") && rng.IntN(2) == 0 {
			c.Type = "halfvec" // components are eighths: exact halves
		}
		t.Vecs = append(t.Vecs, c)
		n := 1 + rng.IntN(2)
		for range n {
			ix := index{Col: c.Name, Method: "hnsw", Opclass: "l2"}
			if cfg.on("ops") {
				ix.Opclass = ops[rng.IntN(len(ops))].Opclass
			}
			if cfg.on("ivfflat") && ix.Opclass != "l1" && rng.IntN(3) == 0 {
				ix.Method, ix.Lists = "ivfflat", 2+rng.IntN(8)
			}
			if cfg.on("halfexpr") && c.Type == "vector" && rng.IntN(3) == 0 {
				ix.Expr = true
			}
			t.Indexes = append(t.Indexes, ix)
		}
	}
	if cfg.on("sparse") && rng.IntN(3) == 0 {
		c := vecCol{Name: "s1", Dims: 4 + rng.IntN(30), Type: "sparsevec"}
		t.Vecs = append(t.Vecs, c)
		for range 1 + rng.IntN(2) {
			ix := index{Col: c.Name, Method: "hnsw", Opclass: "l2"}
			if cfg.on("ops") {
				ix.Opclass = ops[rng.IntN(len(ops))].Opclass
			}
			t.Indexes = append(t.Indexes, ix)
		}
	}
	if cfg.on("bits") && rng.IntN(3) == 0 {
		c := vecCol{Name: "b1", Dims: 4 + rng.IntN(12), Type: "bit"}
		t.Vecs = append(t.Vecs, c)
		ix := index{Col: c.Name, Method: "hnsw", Opclass: "hamming"}
		if cfg.on("ivfflat") && rng.IntN(3) == 0 {
			ix.Method, ix.Lists = "ivfflat", 2+rng.IntN(4)
		}
		t.Indexes = append(t.Indexes, ix)
		if rng.IntN(3) == 0 {
			t.Indexes = append(t.Indexes, index{Col: c.Name, Method: "hnsw", Opclass: "jaccard"})
		}
	}
	return t
}

// rowValues returns the data of row n of t as SQL values (key, vectors, cat, note, flag, meta), drawn from
// the table's seed so that the reproduction and the live table agree.
func (t *table) row(cfg *Config, rng *rand.Rand, n int) []string {
	vals := []string{t.Key.literal(n)}
	for _, c := range t.Vecs {
		vals = append(vals, randValue(cfg, rng, c))
	}
	vals = append(vals, strconv.Itoa(rng.IntN(7)), fmt.Sprintf("'n%d'", rng.IntN(50)))
	switch r := rng.IntN(10); {
	case r == 0:
		vals = append(vals, "NULL", "NULL")
	default:
		vals = append(vals, strconv.FormatBool(r%2 == 0), fmt.Sprintf(`'{"n": %d, "tag": "t%d", "w": %g}'`, n, rng.IntN(5), float64(rng.IntN(100))/8))
	}
	return vals
}

// randValue is a value of column c: randVector's, or for a bit column a bit string (NULL
// sometimes).
func randValue(cfg *Config, rng *rand.Rand, c vecCol) string {
	switch c.Type {
	case "bit":
		if cfg.on("nulls") && rng.IntN(100) < 4 {
			return "NULL"
		}
		return "'" + randBits(rng, c.Dims) + "'"
	case "sparsevec":
		v := randVector(cfg, rng, c.Dims)
		if v == "NULL" {
			return v
		}
		return "'" + sparseText(strings.Trim(v, "'"), rng.IntN(3)) + "'"
	}
	return randVector(cfg, rng, c.Dims)
}

// sparseText writes a vector literal's values in sparsevec's text form, keeping every keep+1-th
// non-zero one (so the zero vector and duplicates stay as randVector made them).
func sparseText(vec string, keep int) string {
	parts := strings.Split(strings.Trim(vec, "[]"), ",")
	var els []string
	for i, p := range parts {
		if p != "0" && p != "-0" && i%(keep+1) == 0 {
			els = append(els, fmt.Sprintf("%d:%s", i+1, p))
		}
	}
	return "{" + strings.Join(els, ",") + "}/" + strconv.Itoa(len(parts))
}

// randBits is a bit string of n bits.
func randBits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(2))
	}
	return string(b)
}

// randVector is a vector literal with small components (ties and duplicates are common), NULL or
// zero sometimes.
func randVector(cfg *Config, rng *rand.Rand, dims int) string {
	r := rng.IntN(100)
	switch {
	case cfg.on("nulls") && r < 4:
		return "NULL"
	case cfg.on("dups") && r < 7:
		return "'" + vectorText(make([]float64, dims)) + "'"
	}
	v := make([]float64, dims)
	for i := range v {
		if cfg.on("dups") && r < 40 {
			v[i] = float64(rng.IntN(3) - 1)
		} else {
			v[i] = float64(rng.IntN(41)-20) / 8
		}
	}
	return "'" + vectorText(v) + "'"
}

func vectorText(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', -1, 32)
	}
	return "[" + strings.Join(s, ",") + "]"
}

func (t *table) columns() []string {
	c := []string{"id"}
	for _, v := range t.Vecs {
		c = append(c, v.Name)
	}
	return append(c, "cat", "note", "flag", "meta")
}

// ddl returns the statements that create t (without data or indexes).
func (t *table) ddl() []string {
	var cols []string
	// A partitioned table's key is (id, cat) half the time (drawn from its data seed): a
	// composite key, as partitioned tables often have.
	composite := t.Partitioned && t.seed%2 == 0
	if composite {
		cols = append(cols, "id "+t.Key.sql())
	} else {
		cols = append(cols, "id "+t.Key.sql()+" PRIMARY KEY")
	}
	for _, v := range t.Vecs {
		cols = append(cols, fmt.Sprintf("%s %s(%d)", v.Name, v.Type, v.Dims))
	}
	cols = append(cols, "cat int", "note text", "flag bool", "meta jsonb")
	if composite {
		cols = append(cols, "PRIMARY KEY (id, cat)")
	}
	q := fmt.Sprintf("CREATE TABLE %s (%s)", t.qualified(), strings.Join(cols, ", "))
	if !t.Partitioned {
		return []string{q}
	}
	return []string{
		q + " PARTITION BY RANGE (id)",
		fmt.Sprintf("CREATE TABLE %s_p0 PARTITION OF %s FOR VALUES FROM (MINVALUE) TO (%d)", t.qualified(), t.qualified(), t.Rows/2),
		fmt.Sprintf("CREATE TABLE %s_p1 PARTITION OF %s FOR VALUES FROM (%d) TO (MAXVALUE)", t.qualified(), t.qualified(), t.Rows/2),
	}
}

// inserts returns INSERT statements for rows [from, to) drawn from rng.
func (t *table) inserts(cfg *Config, rng *rand.Rand, from, to int) []string {
	var out []string
	for lo := from; lo < to; lo += 200 {
		var rows []string
		for n := lo; n < min(lo+200, to); n++ {
			rows = append(rows, "("+strings.Join(t.row(cfg, rng, n), ", ")+")")
		}
		out = append(out, fmt.Sprintf("INSERT INTO %s (%s) VALUES %s", t.qualified(), strings.Join(t.columns(), ", "), strings.Join(rows, ", ")))
	}
	return out
}

// indexDDL returns the CREATE INDEX statements of t.
func (t *table) indexDDL() []string {
	var out []string
	for i, ix := range t.Indexes {
		with := ""
		if ix.Method == "ivfflat" {
			with = fmt.Sprintf(" WITH (lists = %d)", ix.Lists)
		}
		col, typ := ix.Col, t.vecType(ix.Col)
		if ix.Expr {
			col, typ = "("+t.halfExpr(ix.Col)+")", "halfvec"
		}
		out = append(out, fmt.Sprintf("CREATE INDEX %s_ix%d ON %s USING %s (%s %s_%s_ops)%s",
			t.Name, i, t.qualified(), ix.Method, col, typ, ix.Opclass, with))
	}
	return out
}

// privileges returns the GRANTs, ownership and policies of t for the roles.
func (t *table) privileges(r roles) []string {
	q := t.qualified()
	out := []string{
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s", q, r.All),
		fmt.Sprintf("GRANT SELECT (id, %s, cat) ON %s TO %s", t.Vecs[0].Name, q, r.Col),
	}
	if t.RLS {
		out = append(out,
			fmt.Sprintf("ALTER TABLE %s OWNER TO %s", q, r.Owner),
			fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY", q),
			fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY", q),
			fmt.Sprintf("CREATE POLICY %s_pol ON %s USING (cat %% 3 <> 1)", t.Name, q),
			fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s", q, r.All))
	} else {
		out = append(out, fmt.Sprintf("GRANT SELECT ON %s TO %s", q, r.Owner))
	}
	return out
}

// setupSQL returns the statements that build database db of the world (schema, data, indexes,
// privileges), the rows drawn from each table's own seed.
func (w *world) setupSQL(cfg *Config, db int) []string {
	r := w.Roles
	out := []string{
		"CREATE EXTENSION IF NOT EXISTS vector",
		"CREATE SCHEMA IF NOT EXISTS s2",
		"GRANT USAGE ON SCHEMA s2 TO PUBLIC",
		"CREATE SEQUENCE " + w.Seq,
		"GRANT USAGE, SELECT, UPDATE ON SEQUENCE " + w.Seq + " TO PUBLIC",
	}
	if db == 0 {
		// Replicated, indexed: commits here move vecgate's applied position (catch-up marker).
		out = append(out, "CREATE TABLE public.dt_marker (id int PRIMARY KEY, e vector(2))",
			"INSERT INTO public.dt_marker VALUES (1, '[1,1]')",
			"CREATE INDEX ON public.dt_marker USING hnsw (e vector_l2_ops)")
	}
	_ = r
	for _, t := range w.Tables {
		if t.DB != db {
			continue
		}
		out = append(out, w.tableSQL(cfg, t)...)
	}
	return out
}

func (w *world) tableSQL(cfg *Config, t *table) []string {
	out := t.ddl()
	out = append(out, t.inserts(cfg, rand.New(rand.NewPCG(t.seed, 1)), 0, t.Rows)...)
	out = append(out, t.indexDDL()...)
	return append(out, t.privileges(w.Roles)...)
}

// roleSQL creates the run's roles (cluster-wide).
func (r roles) roleSQL() []string {
	var out []string
	for _, n := range r.list() {
		out = append(out, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", n, r.Password))
	}
	return out
}

// vecType is the type of t's vector column name.
func (t *table) vecType(name string) string {
	for _, v := range t.Vecs {
		if v.Name == name && v.Type != "" {
			return v.Type
		}
	}
	return "vector"
}

// halfExpr is the expression `name::halfvec(n)` of t's vector column name (feature halfexpr).
func (t *table) halfExpr(name string) string {
	for _, v := range t.Vecs {
		if v.Name == name {
			return fmt.Sprintf("%s::halfvec(%d)", name, v.Dims)
		}
	}
	return name
}
