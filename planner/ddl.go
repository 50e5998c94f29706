package planner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/indexdef"
)

// IndexDef is a vector index defined through vecgate: `CREATE INDEX … USING hnsw|ivfflat` with,
// optionally, vecgate's own options in WITH (…), which are removed before Postgres sees the
// statement. Its Spec is what vecgate.indexes records: pgvector's options (m, ef_construction,
// lists) as written, vecgate's (quantizer, oversample, dims, include) and the mode.
type IndexDef struct {
	indexdef.Spec
	IfNotExists bool
	// Forward is the statement for Postgres with vecgate's options removed; "" for offload.
	Forward string
}

// vecgateOptions are the WITH (…) options that are vecgate's, not pgvector's.
var vecgateOptions = map[string]bool{"quantizer": true, "dims": true, "include": true, "oversample": true, "mode": true}

// refuse is the error of a CREATE or DROP INDEX that vecgate refuses: a *pgconn.PgError with the
// SQLSTATE and message Postgres would give (and, where Postgres gives one, a Detail), which the
// proxy answers the client with, every field as set.
func refuse(code, msg string) *pgconn.PgError {
	return &pgconn.PgError{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg}
}

// relOption is one pgvector option of a CREATE INDEX as Postgres would read it: its name as
// written and its value as text (defGetString: "true" when it has none).
type relOption struct {
	name, value string
}

// IndexOf recognises `CREATE INDEX … USING hnsw|ivfflat (<column> <opclass>) [WITH (…)]` on one
// plain column. It returns nil when sql is something else (forward it), a *pgconn.PgError when vecgate
// must refuse it.
//
// pgvector's own options (m, ef_construction, lists) are Postgres' to judge: a statement that
// goes to Postgres (no vecgate options, or mode mirror) is forwarded whatever their values, and
// Postgres' error reaches the client in its own words. An offloaded index never reaches
// Postgres, so IndexOf checks them as Postgres and pgvector would (checkRelOptions).
func IndexOf(sql string) (*IndexDef, error) {
	tree, stmt := parseOne(sql, "index")
	st := stmt.GetIndexStmt()
	if st == nil || (st.AccessMethod != "hnsw" && st.AccessMethod != "ivfflat") {
		return nil, nil
	}
	d := &IndexDef{Spec: indexdef.Spec{Name: st.Idxname, Method: st.AccessMethod, Table: st.Relation.GetRelname(),
		Schema: st.Relation.GetSchemaname(), Mode: indexdef.ModeMirror}, IfNotExists: st.IfNotExists}
	if d.Schema == "" {
		d.Schema = "public"
	}
	opts, ok, err := d.readOptions(st.Options)
	if !ok || err != nil {
		return nil, err
	}
	if !opts.own {
		d.Forward = sql
	}
	if ok, err := d.readColumn(st, opts.own); !ok || err != nil {
		return nil, err
	}
	if d.Name == "" && opts.own {
		return nil, refuse("0A000", "vecgate: name the index when it has vecgate options")
	}
	if opts.own && d.Mode == "mirror" {
		st.Options = opts.kept
		if d.Forward, err = pg.Deparse(tree); err != nil {
			return nil, fmt.Errorf("planner: deparse CREATE INDEX: %w", err)
		}
	}
	if d.Mode == "offload" {
		if err := checkRelOptions(d.Method, opts.pgvector); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// indexOptions are a CREATE INDEX's WITH (…) options split into pgvector's and vecgate's.
type indexOptions struct {
	kept     []*pg.Node  // pgvector's options, as parsed (for the statement Postgres sees)
	pgvector []relOption // pgvector's options, as Postgres reads them
	own      bool        // any vecgate option
}

// readOptions reads a CREATE INDEX's options into d: pgvector's as written, vecgate's checked.
// It returns ok false when the statement is not one for vecgate (forward it), an error when
// vecgate must refuse it.
func (d *IndexDef) readOptions(options []*pg.Node) (opts indexOptions, ok bool, err error) {
	for _, o := range options {
		de := o.GetDefElem()
		if de == nil || de.Defnamespace != "" {
			// No option of an index has a namespace: Postgres refuses it, in its words.
			return opts, false, nil
		}
		name := strings.ToLower(de.Defname)
		if !vecgateOptions[name] {
			opts.kept = append(opts.kept, o)
			v := relOptionValue(de.Arg)
			opts.pgvector = append(opts.pgvector, relOption{de.Defname, v})
			indexdef.SetPgvectorOption(de.Defname, v, &d.M, &d.EFConstruction, &d.Lists)
			continue
		}
		opts.own = true
		if err := d.setOwnOption(name, de.Arg); err != nil {
			return opts, false, err
		}
	}
	return opts, true, nil
}

// setOwnOption checks one of vecgate's options (name lower-cased) and records it in d.
func (d *IndexDef) setOwnOption(name string, arg *pg.Node) error {
	val, ok := defValue(arg)
	if !ok {
		return refuse("22023", fmt.Sprintf("vecgate: option %q needs a value", name))
	}
	switch name {
	case "mode":
		if val != "mirror" && val != "offload" {
			return refuse("22023", fmt.Sprintf("vecgate: invalid value for option \"mode\": %q (mirror or offload)", val))
		}
		d.Mode = val
	case "quantizer":
		switch val {
		case "none":
			d.Quantizer = ""
		case "sq8":
			d.Quantizer = val
		case "binary", "pq":
			if d.Method != "ivfflat" {
				return refuse("0A000", fmt.Sprintf("vecgate: quantizer %q needs USING ivfflat (HNSW indexes take none or sq8)", val))
			}
			d.Quantizer = val
		default:
			return refuse("22023", fmt.Sprintf("vecgate: invalid value for option \"quantizer\": %q (none, sq8, pq, binary)", val))
		}
	case "oversample":
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f < 1 || f > 100 {
			return refuse("22023", fmt.Sprintf("vecgate: invalid value for option \"oversample\": %q (1 to 100)", val))
		}
		d.Oversample = f
	case "include":
		cols, err := includeList(arg)
		if err != nil {
			return err
		}
		d.Include = cols
	case "dims":
		// Checked against the column's dimension where the column is known (cmd/vecgate).
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n >= ann.MaxDims {
			return refuse("22023", fmt.Sprintf("vecgate: invalid value for option \"dims\": %q (1 to the column's dimensions - 1)", val))
		}
		d.Dims = n
	default:
		return refuse("0A000", fmt.Sprintf("vecgate: option %q is not available for live indexes yet", name))
	}
	return nil
}

// readColumn reads the indexed column and its metric into d: one plain vector column with an
// operator class, no WHERE, no INCLUDE. It returns ok false when the index is not one for a
// twin (forward it), an error when it has vecgate options (own) that cannot apply.
func (d *IndexDef) readColumn(st *pg.IndexStmt, own bool) (ok bool, err error) {
	if len(st.IndexParams) != 1 || st.WhereClause != nil || len(st.IndexIncludingParams) > 0 {
		if own {
			return false, refuse("0A000", "vecgate: options apply to an index on one column, without WHERE or INCLUDE")
		}
		return false, nil
	}
	el := st.IndexParams[0].GetIndexElem()
	if el == nil || el.Name == "" || len(el.Opclass) == 0 {
		if own {
			return false, refuse("0A000", "vecgate: options apply to an index on a plain column with an operator class")
		}
		return false, nil
	}
	d.Column = el.Name
	opclass := el.Opclass[len(el.Opclass)-1].GetString_().GetSval()
	m, err := ann.ParseMetric(opclass)
	// vector columns only: halfvec ones get no twin (pgvector computes their distances in half
	// precision), so a plain CREATE INDEX on one is Postgres' alone.
	if err != nil || m == ann.Hamming || !strings.HasPrefix(opclass, "vector_") {
		if own {
			return false, refuse("0A000", fmt.Sprintf("vecgate: operator class %s is not supported for live indexes", opclass))
		}
		return false, nil
	}
	d.Metric = m
	return true, nil
}

// relOptionBounds are pgvector's options per access method, with their bounds and defaults
// (pgvector's hnsw.c and ivfflat.c).
var relOptionBounds = map[string]map[string]struct{ min, max, def int }{
	"hnsw":    {"m": {2, 100, 16}, "ef_construction": {4, 1000, 64}},
	"ivfflat": {"lists": {1, 32768, 100}},
}

// checkRelOptions judges pgvector's options of an index that Postgres will not see, with the
// errors Postgres and pgvector give for them (SQLSTATE, message and detail): reloptions.c
// (parseRelOptionsInternal, parse_one_reloption) reads the options in the order written, then
// pgvector's HNSW build requires ef_construction ≥ 2 × m.
func checkRelOptions(method string, opts []relOption) error {
	known := relOptionBounds[method]
	set := map[string]int{}
	for _, o := range opts {
		b, ok := known[o.name]
		if !ok {
			return refuse("22023", fmt.Sprintf("unrecognized parameter %q", o.name))
		}
		if _, dup := set[o.name]; dup {
			return refuse("22023", fmt.Sprintf("parameter %q specified more than once", o.name))
		}
		n, ok := indexdef.ParseInt(o.value)
		if !ok {
			return refuse("22023", fmt.Sprintf("invalid value for integer option %q: %s", o.name, o.value))
		}
		if n < b.min || n > b.max {
			e := refuse("22023", fmt.Sprintf("value %s out of bounds for option %q", o.value, o.name))
			e.Detail = fmt.Sprintf("Valid values are between \"%d\" and \"%d\".", b.min, b.max)
			return e
		}
		set[o.name] = n
	}
	if method == "hnsw" {
		m, ef := known["m"].def, known["ef_construction"].def
		if v, ok := set["m"]; ok {
			m = v
		}
		if v, ok := set["ef_construction"]; ok {
			ef = v
		}
		if ef < 2*m {
			return refuse("22023", "ef_construction must be greater than or equal to 2 * m")
		}
	}
	return nil
}

// relOptionValue is an option's value as Postgres' defGetString renders it for reloptions.
func relOptionValue(n *pg.Node) string {
	switch {
	case n == nil:
		return "true"
	case n.GetInteger() != nil:
		return strconv.Itoa(int(n.GetInteger().Ival))
	case n.GetFloat() != nil:
		return n.GetFloat().Fval
	case n.GetBoolean() != nil:
		return strconv.FormatBool(n.GetBoolean().Boolval)
	case n.GetString_() != nil:
		return n.GetString_().Sval
	case n.GetAStar() != nil:
		return "*"
	}
	var names []*pg.Node
	if tn := n.GetTypeName(); tn != nil {
		names = tn.Names
	} else if l := n.GetList(); l != nil {
		names = l.Items
	}
	parts := make([]string, 0, len(names))
	for _, x := range names {
		parts = append(parts, x.GetString_().GetSval())
	}
	return strings.Join(parts, ".")
}

func defValue(n *pg.Node) (string, bool) {
	if n == nil {
		return "", false
	}
	if s := n.GetString_(); s != nil {
		return strings.ToLower(s.Sval), true
	}
	if i := n.GetInteger(); i != nil {
		return strconv.Itoa(int(i.Ival)), true
	}
	if f := n.GetFloat(); f != nil {
		return f.Fval, true
	}
	if tn := n.GetTypeName(); tn != nil && len(tn.Names) > 0 { // WITH (quantizer = sq8): an identifier
		return strings.ToLower(tn.Names[len(tn.Names)-1].GetString_().GetSval()), true
	}
	if a, ok := constArg(n); ok {
		return strings.ToLower(a.Literal), true
	}
	return "", false
}

// DropIndexOf recognises `DROP INDEX [IF EXISTS] name [, …]` and returns the (schema, name)
// pairs (schema "public" when unqualified).
func DropIndexOf(sql string) ([][2]string, bool) {
	_, stmt := parseOne(sql, "drop")
	st := stmt.GetDropStmt()
	if st == nil || st.RemoveType != pg.ObjectType_OBJECT_INDEX {
		return nil, false
	}
	var out [][2]string
	for _, o := range st.Objects {
		l := o.GetList()
		if l == nil {
			return nil, false
		}
		var parts []string
		for _, it := range l.Items {
			parts = append(parts, it.GetString_().GetSval())
		}
		switch len(parts) {
		case 1:
			out = append(out, [2]string{"public", parts[0]})
		case 2:
			out = append(out, [2]string{parts[0], parts[1]})
		default:
			return nil, false
		}
	}
	return out, len(out) > 0
}
