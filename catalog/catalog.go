package catalog

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/indexdef"
)

// Querier is what Discover needs: *pgx.Conn, *pgxpool.Pool and pgx.Tx all satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Metric is a pgvector distance, named by its SQL operator.
type Metric int

// Metrics, one per pgvector distance operator.
const (
	MetricUnknown      Metric = iota
	MetricL2                  // <->
	MetricInnerProduct        // <#> (negative inner product)
	MetricCosine              // <=>
	MetricL1                  // <+>
	MetricHamming             // <~> (bit)
	MetricJaccard             // <%> (bit)
)

var metricOps = [...]string{"", "<->", "<#>", "<=>", "<+>", "<~>", "<%>"}
var metricNames = [...]string{"unknown", "l2", "inner_product", "cosine", "l1", "hamming", "jaccard"}

// Operator returns pgvector's SQL operator for m ("" for MetricUnknown).
func (m Metric) Operator() string {
	if m < 0 || int(m) >= len(metricOps) {
		return ""
	}
	return metricOps[m]
}

// String returns a lower-case name ("l2", "cosine", …).
func (m Metric) String() string {
	if m < 0 || int(m) >= len(metricNames) {
		return "Metric(" + strconv.Itoa(int(m)) + ")"
	}
	return metricNames[m]
}

// MetricForOperator maps a SQL operator such as "<=>" to its Metric.
func MetricForOperator(op string) (Metric, bool) {
	for i, o := range metricOps {
		if i > 0 && o == op {
			return Metric(i), true
		}
	}
	return MetricUnknown, false
}

// MetricForOpclass maps a pgvector operator class name (vector_l2_ops, halfvec_cosine_ops,
// bit_hamming_ops, sparsevec_ip_ops, …) to its Metric.
func MetricForOpclass(opclass string) (Metric, bool) {
	i := strings.IndexByte(opclass, '_')
	if i < 0 || !strings.HasSuffix(opclass, "_ops") {
		return MetricUnknown, false
	}
	prefix, dist := opclass[:i], strings.TrimSuffix(opclass[i+1:], "_ops")
	switch prefix {
	case "vector", "halfvec", "sparsevec":
		switch dist {
		case "l2":
			return MetricL2, true
		case "ip":
			return MetricInnerProduct, true
		case "cosine":
			return MetricCosine, true
		case "l1":
			return MetricL1, true
		}
	case "bit":
		switch dist {
		case "hamming":
			return MetricHamming, true
		case "jaccard":
			return MetricJaccard, true
		}
	}
	return MetricUnknown, false
}

// VectorType is one of the column types vecgate indexes.
type VectorType int

// Vector types.
const (
	TypeUnknown   VectorType = iota
	TypeVector               // vector(n): float4
	TypeHalfvec              // halfvec(n): float2
	TypeBit                  // bit(n)
	TypeSparsevec            // sparsevec(n)
)

var typeNames = [...]string{"unknown", "vector", "halfvec", "bit", "sparsevec"}

// String returns the SQL type name.
func (t VectorType) String() string {
	if t < 0 || int(t) >= len(typeNames) {
		return "VectorType(" + strconv.Itoa(int(t)) + ")"
	}
	return typeNames[t]
}

// bitOID is the built-in bit type.
const bitOID = 1560

// Column is one attribute of a table.
type Column struct {
	Num     int16  // attnum
	Name    string // attname
	TypeOID uint32 // atttypid (database specific for pgvector types)
	Type    string // format_type(atttypid, atttypmod), e.g. "vector(768)"
	TypMod  int32
	NotNull bool
	// Deterministic is false for a column whose collation is nondeterministic (equality is not
	// bytewise, e.g. case-insensitive ICU collations).
	Deterministic bool
	// Generated is set for a generated (stored) column: Postgres 17 cannot publish it (not in a
	// publication's column list, never sent by pgoutput).
	Generated bool
}

// VectorColumn is a column of a pgvector type (or a column that looks like one but is not usable,
// in which case Skip says why).
type VectorColumn struct {
	Column
	Kind VectorType
	Dims int    // from the typmod; 0 when the column has no declared dimension
	Skip string // non-empty: not replicated, and why
}

// Index is a pgvector index defined in Postgres.
type Index struct {
	Name           string // index name (same schema as the table)
	Column         string // indexed column ("" for an expression index)
	Method         string // "hnsw" or "ivfflat"
	Opclass        string
	Metric         Metric
	M              int // hnsw m (default 16)
	EfConstruction int // hnsw ef_construction (default 64)
	Lists          int // ivfflat lists (default 100)
	Valid          bool
	Partial        bool // has a WHERE predicate
	Expression     bool // indexes an expression, not a plain column
	// Expr is set for an expression index catalog recognises (expression.go): the expression
	// applied to Column, whose result has ExprDims dimensions (halfvec(n), bit(n)). An
	// expression index without it has Column "".
	Expr     IndexExpr
	ExprDims int
}

// pgvector defaults for index options.
const (
	DefaultM              = 16
	DefaultEfConstruction = 64
	DefaultLists          = 100
)

// Table is a table with at least one vector column.
type Table struct {
	OID             uint32
	Schema, Name    string
	ReplicaIdentity byte     // relreplident: 'd' default, 'i' index, 'f' full, 'n' nothing
	Columns         []Column // all live columns, by attnum
	Key             []Column // key columns in key order
	KeySource       string   // "primary key" or "replica identity index <name>"
	Vectors         []VectorColumn
	Indexes         []Index
	// Persistence is relpersistence: 'p' permanent, 'u' unlogged, 't' temporary. Only permanent
	// tables can be published.
	Persistence byte
	Skip        string // non-empty: not replicated, and why
	// Partitioned is set for a partitioned table (relkind 'p'), Leaves then lists its leaf
	// partitions, at every level of sub-partitioning, by OID (partition.go).
	Partitioned bool
	Leaves      []Leaf
	PartKey     *PartKey // its partition key when that is one plain column
}

// Ident returns the quoted, schema-qualified name, safe to splice into SQL.
func (t *Table) Ident() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// QualifiedName returns schema.name unquoted (for logs and map keys).
func (t *Table) QualifiedName() string { return t.Schema + "." + t.Name }

// Column returns the live column called name.
func (t *Table) Column(name string) (Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return Column{}, false
}

// Vector returns the vector column called name.
func (t *Table) Vector(name string) (VectorColumn, bool) {
	for _, c := range t.Vectors {
		if c.Name == name {
			return c, true
		}
	}
	return VectorColumn{}, false
}

// Catalog is the result of one discovery.
type Catalog struct {
	// TypeOIDs maps each pgvector type found in this database to its OID. Types whose extension
	// version lacks them (halfvec, sparsevec before pgvector 0.7) are absent.
	TypeOIDs map[VectorType]uint32
	Tables   []Table // sorted by schema, name
}

// Table returns the table schema.name, or nil.
func (c *Catalog) Table(schema, name string) *Table {
	for i := range c.Tables {
		if c.Tables[i].Schema == schema && c.Tables[i].Name == name {
			return &c.Tables[i]
		}
	}
	return nil
}

// Kind returns the vector type of a type OID in this database.
func (c *Catalog) Kind(oid uint32) VectorType {
	for k, o := range c.TypeOIDs {
		if o == oid {
			return k
		}
	}
	return TypeUnknown
}

// Discover reads the catalogs of the database q is connected to.
func Discover(ctx context.Context, q Querier) (*Catalog, error) {
	cat := &Catalog{TypeOIDs: map[VectorType]uint32{TypeBit: bitOID}}
	if err := discoverTypes(ctx, q, cat); err != nil {
		return nil, err
	}
	oids := make([]uint32, 0, len(cat.TypeOIDs))
	for _, o := range cat.TypeOIDs {
		oids = append(oids, o)
	}
	tables, err := discoverColumns(ctx, q, cat, oids)
	if err != nil {
		return nil, err
	}
	if len(tables) == 0 {
		return cat, nil
	}
	byOID := make(map[uint32]*Table, len(tables))
	relids := make([]uint32, 0, len(tables))
	for _, t := range tables {
		byOID[t.OID] = t
		relids = append(relids, t.OID)
	}
	if err := discoverKeys(ctx, q, byOID, relids); err != nil {
		return nil, err
	}
	if err := discoverIndexes(ctx, q, byOID, relids); err != nil {
		return nil, err
	}
	if err := discoverLeaves(ctx, q, tables); err != nil {
		return nil, err
	}
	if err := recognizeExpressions(ctx, q, cat, byOID, relids); err != nil {
		return nil, err
	}
	for _, t := range tables {
		decideSkip(t)
		cat.Tables = append(cat.Tables, *t)
	}
	sort.Slice(cat.Tables, func(i, j int) bool {
		a, b := cat.Tables[i], cat.Tables[j]
		if a.Schema != b.Schema {
			return a.Schema < b.Schema
		}
		return a.Name < b.Name
	})
	return cat, nil
}

func discoverTypes(ctx context.Context, q Querier, cat *Catalog) error {
	rows, err := q.Query(ctx, `
		SELECT t.oid, t.typname
		FROM pg_type t
		JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'vector'
		WHERE t.typname IN ('vector', 'halfvec', 'sparsevec')`)
	if err != nil {
		return fmt.Errorf("catalog: look up pgvector types: %w", err)
	}
	var oid uint32
	var name string
	_, err = pgx.ForEachRow(rows, []any{&oid, &name}, func() error {
		switch name {
		case "vector":
			cat.TypeOIDs[TypeVector] = oid
		case "halfvec":
			cat.TypeOIDs[TypeHalfvec] = oid
		case "sparsevec":
			cat.TypeOIDs[TypeSparsevec] = oid
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: look up pgvector types: %w", err)
	}
	return nil
}

// discoverColumns lists every ordinary table that has a column of a vector type, or of an
// array/domain over one (reported as unsupported).
func discoverColumns(ctx context.Context, q Querier, cat *Catalog, oids []uint32) ([]*Table, error) {
	rows, err := q.Query(ctx, `
		SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.relpersistence::text, c.relreplident::text,
		       a.attnum, a.attname, a.atttypid, a.atttypmod, a.attnotnull, a.attgenerated <> '',
		       format_type(a.atttypid, a.atttypmod), t.typelem, t.typbasetype,
		       coalesce((SELECT coll.collisdeterministic FROM pg_collation coll WHERE coll.oid = a.attcollation), true)
		FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
		JOIN pg_type t ON t.oid = a.atttypid
		WHERE c.relkind IN ('r', 'p')
		  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
		  AND EXISTS (
		        SELECT 1 FROM pg_attribute a2 JOIN pg_type t2 ON t2.oid = a2.atttypid
		        WHERE a2.attrelid = c.oid AND a2.attnum > 0 AND NOT a2.attisdropped
		          AND (a2.atttypid = ANY($1) OR t2.typelem = ANY($1) OR t2.typbasetype = ANY($1)))
		ORDER BY c.oid, a.attnum`, oids)
	if err != nil {
		return nil, fmt.Errorf("catalog: list vector columns: %w", err)
	}
	isVec := func(o uint32) bool {
		for _, v := range oids {
			if v == o {
				return true
			}
		}
		return false
	}
	var tables []*Table
	var cur *Table
	var (
		oid                                  uint32
		schema, name, kind, persistence, rid string
		col                                  Column
		elem, base                           uint32
	)
	_, err = pgx.ForEachRow(rows, []any{&oid, &schema, &name, &kind, &persistence, &rid,
		&col.Num, &col.Name, &col.TypeOID, &col.TypMod, &col.NotNull, &col.Generated, &col.Type, &elem, &base, &col.Deterministic}, func() error {
		if cur == nil || cur.OID != oid {
			cur = &Table{OID: oid, Schema: schema, Name: name}
			if len(rid) == 1 {
				cur.ReplicaIdentity = rid[0]
			}
			if len(persistence) == 1 {
				cur.Persistence = persistence[0]
			}
			// What a publication cannot hold is skipped here, so that one such table does not
			// make the whole publication fail (and every table with it).
			switch {
			case kind == "p":
				cur.Partitioned = true
				cur.Skip = "partitioned table: its partitions are replicated individually"
			case cur.Persistence == 'u':
				cur.Skip = "unlogged table: its changes are not in the WAL, Postgres cannot publish it"
			case cur.Persistence == 't':
				cur.Skip = "temporary table: Postgres cannot publish it"
			}
			tables = append(tables, cur)
		}
		cur.Columns = append(cur.Columns, col)
		switch {
		case isVec(col.TypeOID):
			vc := VectorColumn{Column: col, Kind: cat.Kind(col.TypeOID)}
			if col.TypMod > 0 {
				vc.Dims = int(col.TypMod)
			}
			switch {
			case col.Generated:
				vc.Skip = "generated column: Postgres 17 cannot publish generated columns"
			case vc.Kind == TypeBit && vc.Dims == 0:
				vc.Skip = "bit column without a length"
			}
			cur.Vectors = append(cur.Vectors, vc)
		case isVec(elem):
			cur.Vectors = append(cur.Vectors, VectorColumn{Column: col, Kind: TypeUnknown,
				Skip: "unsupported type " + col.Type + " (array of a vector type)"})
		case isVec(base):
			cur.Vectors = append(cur.Vectors, VectorColumn{Column: col, Kind: TypeUnknown,
				Skip: "unsupported type " + col.Type + " (domain over a vector type)"})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog: list vector columns: %w", err)
	}
	return tables, nil
}

func discoverKeys(ctx context.Context, q Querier, byOID map[uint32]*Table, relids []uint32) error {
	rows, err := q.Query(ctx, `
		SELECT i.indrelid, ic.relname, i.indisprimary, i.indisreplident, i.indkey::int2[]
		FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		WHERE i.indrelid = ANY($1) AND (i.indisprimary OR i.indisreplident) AND i.indisvalid
		ORDER BY i.indrelid, i.indisprimary DESC`, relids)
	if err != nil {
		return fmt.Errorf("catalog: list keys: %w", err)
	}
	var (
		relid         uint32
		iname         string
		primary, repl bool
		keys          []int16
	)
	_, err = pgx.ForEachRow(rows, []any{&relid, &iname, &primary, &repl, &keys}, func() error {
		t := byOID[relid]
		if t == nil {
			return nil
		}
		use := false
		switch t.ReplicaIdentity {
		case 'i':
			use = repl
		case 'd', 'f':
			use = primary
		}
		if !use || len(t.Key) > 0 {
			return nil
		}
		var cols []Column
		for _, k := range keys {
			found := false
			for _, c := range t.Columns {
				if c.Num == k {
					cols = append(cols, c)
					found = true
				}
			}
			if !found { // expression key column (k == 0): not usable
				return nil
			}
		}
		t.Key = cols
		if primary && t.ReplicaIdentity != 'i' {
			t.KeySource = "primary key"
		} else {
			t.KeySource = "replica identity index " + iname
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: list keys: %w", err)
	}
	return nil
}

func discoverIndexes(ctx context.Context, q Querier, byOID map[uint32]*Table, relids []uint32) error {
	rows, err := q.Query(ctx, `
		SELECT i.indrelid, ic.relname, am.amname, i.indkey::int2[],
		       ARRAY(SELECT opc.opcname::text FROM unnest(i.indclass::oid[]) WITH ORDINALITY k(oid, ord)
		             JOIN pg_opclass opc ON opc.oid = k.oid ORDER BY k.ord),
		       coalesce(ic.reloptions, '{}'::text[]), i.indisvalid,
		       i.indpred IS NOT NULL, i.indexprs IS NOT NULL
		FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid
		JOIN pg_am am ON am.oid = ic.relam
		WHERE am.amname IN ('hnsw', 'ivfflat') AND i.indrelid = ANY($1)
		ORDER BY i.indrelid, ic.relname`, relids)
	if err != nil {
		return fmt.Errorf("catalog: list pgvector indexes: %w", err)
	}
	var (
		relid                    uint32
		name, am                 string
		keys                     []int16
		opcs, opts               []string
		valid, partial, exprIndx bool
	)
	_, err = pgx.ForEachRow(rows, []any{&relid, &name, &am, &keys, &opcs, &opts, &valid, &partial, &exprIndx}, func() error {
		t := byOID[relid]
		if t == nil {
			return nil
		}
		ix := Index{Name: name, Method: am, Valid: valid, Partial: partial, Expression: exprIndx}
		if len(keys) > 0 && keys[0] != 0 {
			for _, c := range t.Columns {
				if c.Num == keys[0] {
					ix.Column = c.Name
				}
			}
		}
		if len(opcs) > 0 {
			ix.Opclass = opcs[0]
			ix.Metric, _ = MetricForOpclass(opcs[0])
		}
		if am == "hnsw" {
			ix.M, ix.EfConstruction = DefaultM, DefaultEfConstruction
		} else {
			ix.Lists = DefaultLists
		}
		for _, o := range opts {
			if k, v, ok := strings.Cut(o, "="); ok {
				indexdef.SetPgvectorOption(k, v, &ix.M, &ix.EfConstruction, &ix.Lists)
			}
		}
		t.Indexes = append(t.Indexes, ix)
		return nil
	})
	if err != nil {
		return fmt.Errorf("catalog: list pgvector indexes: %w", err)
	}
	return nil
}

func decideSkip(t *Table) {
	if t.Skip != "" {
		return
	}
	usable := 0
	for _, v := range t.Vectors {
		if v.Skip == "" {
			usable++
		}
	}
	switch {
	case usable == 0:
		t.Skip = "no vector column of a supported type"
	case t.ReplicaIdentity == 'n':
		t.Skip = "replica identity NOTHING: updates and deletes cannot be replicated"
	case len(t.Key) == 0 && t.ReplicaIdentity == 'f':
		t.Skip = "replica identity FULL without a primary key: no key to identify rows"
	case len(t.Key) == 0:
		t.Skip = "no primary key or replica identity index"
	}
	for _, k := range t.Key {
		if k.Generated && t.Skip == "" {
			t.Skip = "key column " + k.Name + " is generated: Postgres 17 cannot publish generated columns"
		}
		for _, v := range t.Vectors {
			if k.Num == v.Num && t.Skip == "" {
				t.Skip = "a vector column is part of the key"
			}
		}
	}
}
