package planner

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/ann"
)

// IndexDef is a vector index defined through vecgate: `CREATE INDEX … USING hnsw|ivfflat` with,
// optionally, vecgate's own options in WITH (…), which are removed before Postgres sees the
// statement.
type IndexDef struct {
	Schema, Name, Table, Column string
	Method                      string // hnsw or ivfflat
	Metric                      ann.Metric
	// Options as pgvector names them (m, ef_construction, lists) and vecgate's (quantizer,
	// oversample, dims, include: a []string), for vecgate.indexes.options.
	Options map[string]any
	// Mode is "mirror" (Postgres builds its own index too) or "offload" (only vecgate does).
	Mode        string
	IfNotExists bool
	// Forward is the statement for Postgres with vecgate's options removed; "" for offload.
	Forward string
}

// Include is the index's include option: the columns kept for filtering (nil for none).
func (d *IndexDef) Include() []string {
	cols, _ := d.Options["include"].([]string)
	return cols
}

// Dims is the dims option: index only the first Dims dimensions (0: all).
func (d *IndexDef) Dims() int {
	n, _ := d.Options["dims"].(int)
	return n
}

// Quantizer is the index's quantizer option ("" for none).
func (d *IndexDef) Quantizer() string {
	q, _ := d.Options["quantizer"].(string)
	if q == "none" {
		return ""
	}
	return q
}

// vecgateOptions are the WITH (…) options that are vecgate's, not pgvector's.
var vecgateOptions = map[string]bool{"quantizer": true, "dims": true, "include": true, "oversample": true, "mode": true}

// ErrDDL marks a CREATE or DROP INDEX that vecgate refuses; the message says why. The caller
// answers with SQLSTATE 22023 (invalid_parameter_value) or 0A000 as the error's Code says.
type ErrDDL struct {
	Code, Message string
}

func (e *ErrDDL) Error() string { return e.Message }

// IndexOf recognises `CREATE INDEX … USING hnsw|ivfflat (<column> <opclass>) [WITH (…)]` on one
// plain column. It returns nil when sql is something else (forward it), an *ErrDDL when vecgate
// must refuse it.
func IndexOf(sql string) (*IndexDef, error) {
	if !containsFold(sql, "index") {
		return nil, nil
	}
	tree, err := pg.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, nil
	}
	st := tree.Stmts[0].GetStmt().GetIndexStmt()
	if st == nil || (st.AccessMethod != "hnsw" && st.AccessMethod != "ivfflat") {
		return nil, nil
	}
	d := &IndexDef{Name: st.Idxname, Method: st.AccessMethod, Table: st.Relation.GetRelname(),
		Schema: st.Relation.GetSchemaname(), Options: map[string]any{}, Mode: "mirror", IfNotExists: st.IfNotExists}
	if d.Schema == "" {
		d.Schema = "public"
	}
	var kept []*pg.Node
	hasOwn := false
	for _, o := range st.Options {
		de := o.GetDefElem()
		if de == nil {
			kept = append(kept, o)
			continue
		}
		name := strings.ToLower(de.Defname)
		val, ok := defValue(de.Arg)
		if !ok {
			return nil, &ErrDDL{"22023", fmt.Sprintf("vecgate: option %q needs a value", name)}
		}
		if !vecgateOptions[name] {
			kept = append(kept, o)
			if n, err := strconv.Atoi(val); err == nil {
				d.Options[name] = n
			}
			if name == "lists" {
				// pgvector's bounds; checked here too because an offloaded index never reaches it.
				if n, err := strconv.Atoi(val); err != nil || n < 1 || n > 32768 {
					return nil, &ErrDDL{"22023", fmt.Sprintf("value %s out of bounds for option \"lists\"", val)}
				}
			}
			continue
		}
		hasOwn = true
		switch name {
		case "mode":
			if val != "mirror" && val != "offload" {
				return nil, &ErrDDL{"22023", fmt.Sprintf("vecgate: invalid value for option \"mode\": %q (mirror or offload)", val)}
			}
			d.Mode = val
		case "quantizer":
			switch val {
			case "none", "sq8":
				d.Options[name] = val
			case "binary", "pq":
				if d.Method != "ivfflat" {
					return nil, &ErrDDL{"0A000", fmt.Sprintf("vecgate: quantizer %q needs USING ivfflat (HNSW indexes take none or sq8)", val)}
				}
				d.Options[name] = val
			default:
				return nil, &ErrDDL{"22023", fmt.Sprintf("vecgate: invalid value for option \"quantizer\": %q (none, sq8, pq, binary)", val)}
			}
		case "oversample":
			f, err := strconv.ParseFloat(val, 64)
			if err != nil || f < 1 || f > 100 {
				return nil, &ErrDDL{"22023", fmt.Sprintf("vecgate: invalid value for option \"oversample\": %q (1 to 100)", val)}
			}
			d.Options[name] = f
		case "include":
			cols, err := includeList(de.Arg)
			if err != nil {
				return nil, err
			}
			d.Options[name] = cols
		case "dims":
			// Checked against the column's dimension where the column is known (cmd/vecgate).
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n >= ann.MaxDims {
				return nil, &ErrDDL{"22023", fmt.Sprintf("vecgate: invalid value for option \"dims\": %q (1 to the column's dimensions - 1)", val)}
			}
			d.Options[name] = n
		default:
			return nil, &ErrDDL{"0A000", fmt.Sprintf("vecgate: option %q is not available for live indexes yet", name)}
		}
	}
	if !hasOwn {
		d.Forward = sql
	}
	if len(st.IndexParams) != 1 || st.WhereClause != nil || len(st.IndexIncludingParams) > 0 {
		if hasOwn {
			return nil, &ErrDDL{"0A000", "vecgate: options apply to an index on one column, without WHERE or INCLUDE"}
		}
		return nil, nil
	}
	el := st.IndexParams[0].GetIndexElem()
	if el == nil || el.Name == "" || len(el.Opclass) == 0 {
		if hasOwn {
			return nil, &ErrDDL{"0A000", "vecgate: options apply to an index on a plain column with an operator class"}
		}
		return nil, nil
	}
	d.Column = el.Name
	opclass := el.Opclass[len(el.Opclass)-1].GetString_().GetSval()
	m, err := ann.ParseMetric(opclass)
	if err != nil || m == ann.Hamming || !strings.HasPrefix(opclass, "vector_") && !strings.HasPrefix(opclass, "halfvec_") {
		if hasOwn {
			return nil, &ErrDDL{"0A000", fmt.Sprintf("vecgate: operator class %s is not supported for live indexes", opclass)}
		}
		return nil, nil
	}
	d.Metric = m
	if d.Name == "" && hasOwn {
		return nil, &ErrDDL{"0A000", "vecgate: name the index when it has vecgate options"}
	}
	if hasOwn && d.Mode == "mirror" {
		st.Options = kept
		if d.Forward, err = pg.Deparse(tree); err != nil {
			return nil, fmt.Errorf("planner: deparse CREATE INDEX: %w", err)
		}
	}
	return d, nil
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
	if !containsFold(sql, "drop") {
		return nil, false
	}
	tree, err := pg.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, false
	}
	st := tree.Stmts[0].GetStmt().GetDropStmt()
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

// IsErrDDL unwraps an *ErrDDL.
func IsErrDDL(err error) (*ErrDDL, bool) {
	var e *ErrDDL
	ok := errors.As(err, &e)
	return e, ok
}
