package planner

import (
	"context"
	"fmt"
	"github.com/vecgate/vecgate/internal/canon"
	"slices"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/ann"
)

// In-index filtering: when the WHERE clause tests columns the live index keeps (INCLUDE columns,
// `col = v` or `col IN (…)`), the search is restricted to the rows that pass those tests, so the
// candidates vecgate sends are all rows Postgres can return. When few rows pass, they are searched
// exactly instead of through the graph. Postgres still applies the whole WHERE to the candidates:
// the filter only decides which candidates are sent, so a value vecgate cannot put in canonical
// form leaves its conjunct out of the filter (a wider filter), never excludes a row Postgres
// would return.

// FilterIndex is what in-index filtering needs of a live index (live.Index implements it).
type FilterIndex interface {
	// IncludeType is the type family of a column the index keeps ("int", "text", "uuid",
	// "bool"), "" when it does not keep it.
	IncludeType(column string) string
	// Select returns the rows whose columns hold one of the allowed canonical values (every
	// column must match): a key test, the keys when at most limit rows match, and the number of
	// matching rows (exact when countExact).
	Select(allowed map[string][]string, limit int) (match func(ann.Key) bool, keys []ann.Key, count int, countExact, ok bool)
	// SearchKeys returns the k nearest among keys by exact distance (ann.ErrUnsupported when the
	// index keeps only codes).
	SearchKeys(ctx context.Context, q []float32, k int, keys []ann.Key) ([]ann.Result, error)
}

// Type families of INCLUDE columns, and their canonical forms (the same as live's): int →
// decimal digits, text → the string, uuid → its 16 bytes, bool → "t" or "f".
const (
	familyInt  = canon.Int
	familyText = canon.Text
	familyUUID = canon.UUID
	familyBool = canon.Bool
)

// ExactSubsetRows: when at most this many rows pass the in-index filter (or no more than the
// round's candidates), they are searched exactly, without the graph.
const ExactSubsetRows = 4096

// filterValue is a filter's value as it arrives: a literal, or a bound parameter's bytes in text
// or binary format with the type Parse declared (0: inferred by Postgres).
type filterValue struct {
	arg    Arg
	data   []byte
	null   bool
	binary bool
	oid    uint32
}

// inFilter is the part of a statement's WHERE that the index applies.
type inFilter struct {
	idx     FilterIndex
	allowed map[string][]string // column → canonical values (intersected per column)
	columns []string            // sorted, for EXPLAIN
}

// buildFilter returns the in-index filter for sh's column-equality conjuncts on columns idx
// keeps, or nil when there is none. value gives each Arg's value (literal or parameter).
func buildFilter(sh *Shape, idx FilterIndex, value func(Arg) (filterValue, bool)) *inFilter {
	if idx == nil || len(sh.Filters) == 0 {
		return nil
	}
	f := &inFilter{idx: idx, allowed: map[string][]string{}}
	for _, c := range sh.Filters {
		fam := idx.IncludeType(c.Column)
		if fam == "" || c.Key != "" {
			continue
		}
		var vals []string
		ok := true
		for _, a := range c.Values {
			fv, present := sh.certainValue(a, value)
			if !present {
				ok = false
				break
			}
			if fv.null {
				continue // `col = NULL` is never true: the value allows no row
			}
			v, vok := canonical(fam, fv)
			if !vok {
				ok = false
				break
			}
			if !slices.Contains(vals, v) {
				vals = append(vals, v)
			}
		}
		if !ok {
			continue
		}
		if prev, seen := f.allowed[c.Column]; seen { // `col = 1 AND col IN (1, 2)`: both hold
			var both []string
			for _, v := range prev {
				if slices.Contains(vals, v) {
					both = append(both, v)
				}
			}
			vals = both
		} else {
			f.columns = append(f.columns, c.Column)
		}
		if vals == nil {
			vals = []string{}
		}
		f.allowed[c.Column] = vals
	}
	if len(f.allowed) == 0 {
		return nil
	}
	sort.Strings(f.columns)
	return f
}

// Type OIDs a parameter may be declared with (pg_type.oid; these are fixed).
const (
	oidBool    = 16
	oidInt8    = 20
	oidInt2    = 21
	oidInt4    = 23
	oidText    = 25
	oidUnknown = 705
	oidVarchar = 1043
	oidUUID    = 2950
	oidJSONB   = 3802
)

// canonical puts a value compared with a column of family fam in the family's canonical form.
// It reports false whenever it is not sure the value compares as that: a cast or declared type
// of another kind, a type modifier, a literal of another kind, text that is not ASCII (its bytes
// depend on the client encoding), a string literal with a backslash (its meaning depends on
// standard_conforming_strings), or input it does not read exactly as Postgres would.
func canonical(fam string, v filterValue) (string, bool) {
	if v.arg.CastMod {
		return "", false
	}
	switch fam {
	case familyInt:
		if !oneOf(v.arg.Cast, "", "int2", "int4", "int8") || !oidOneOf(v.oid, oidInt2, oidInt4, oidInt8) {
			return "", false
		}
		if v.binary {
			return canon.IntBinary(v.data)
		}
		return canon.IntText(v.text())
	case familyText:
		if !oneOf(v.arg.Cast, "", "text", "varchar") || !oidOneOf(v.oid, oidText, oidVarchar, oidUnknown) {
			return "", false
		}
		if !v.arg.IsParam() && !v.arg.Quoted {
			return "", false // a number literal compared with text: Postgres' business
		}
		s := v.text()
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return "", false
			}
		}
		if !v.arg.IsParam() && strings.Contains(s, `\`) {
			return "", false // its meaning depends on standard_conforming_strings
		}
		return s, true
	case familyUUID:
		if !oneOf(v.arg.Cast, "", "uuid") || !oidOneOf(v.oid, oidUUID) || !v.arg.IsParam() && !v.arg.Quoted {
			return "", false
		}
		if v.binary {
			return canon.UUIDBinary(v.data)
		}
		return canon.UUIDText(v.text())
	case familyBool:
		if !oneOf(v.arg.Cast, "", "bool") || !oidOneOf(v.oid, oidBool) ||
			!v.arg.IsParam() && !v.arg.Quoted && v.arg.Literal != "true" && v.arg.Literal != "false" {
			return "", false
		}
		if v.binary {
			return canon.BoolBinary(v.data)
		}
		return canon.BoolText(v.text())
	}
	return "", false
}

func (v filterValue) text() string {
	if v.arg.IsParam() {
		return string(v.data)
	}
	return v.arg.Literal
}

// certainValue is a's value for one execution, when its type is certain: false when it is
// missing, or an undeclared parameter used in several places, which may take its type from
// another one (`$1::float8` elsewhere): only a declared type is then certain.
func (sh *Shape) certainValue(a Arg, value func(Arg) (filterValue, bool)) (filterValue, bool) {
	fv, present := value(a)
	return fv, present && !(a.IsParam() && fv.oid == 0 && sh.paramUses[a.Param] > 1)
}

func oneOf(s string, list ...string) bool { return slices.Contains(list, s) }

func oidOneOf(oid uint32, list ...uint32) bool { return oid == 0 || slices.Contains(list, oid) }

// selection is what the index says about the rows that pass the filter for one round.
type selection struct {
	ok         bool // the index can filter on every column asked
	match      func(ann.Key) bool
	keys       []ann.Key // the passing rows, when few: they are searched exactly
	count      int       // how many rows pass (an upper bound unless countExact)
	countExact bool
}

// sel asks the index for the rows that pass, listed when there are at most ExactSubsetRows of
// them or no more than the round's n candidates.
func (f *inFilter) sel(n int) selection {
	var s selection
	s.match, s.keys, s.count, s.countExact, s.ok = f.idx.Select(f.allowed, max(ExactSubsetRows, n))
	return s
}

// String says how the index searched with the filter, for EXPLAIN.
func (s selection) String(ivf bool) string {
	about := "≈"
	if s.countExact {
		about = ""
	}
	how := "graph"
	if ivf {
		how = "lists"
	}
	return fmt.Sprintf("%s, %s%d matching rows", how, about, s.count)
}

// String describes the filter for EXPLAIN.
func (f *inFilter) String() string {
	return strings.Join(f.columns, ", ")
}

// includeList reads `include = 'a, "B", c'`: column names separated by commas, folded to lower
// case unless double-quoted, as identifiers are.
func includeList(n *pg.Node) ([]string, error) {
	bad := func(why string) error {
		return refuse("22023", "vecgate: invalid value for option \"include\": "+why+" (a list of column names, e.g. 'tenant_id, category')")
	}
	var raw string
	switch {
	case n.GetString_() != nil:
		raw = n.GetString_().Sval
	case n.GetTypeName() != nil && len(n.GetTypeName().Names) > 0: // include = tenant_id
		raw = n.GetTypeName().Names[len(n.GetTypeName().Names)-1].GetString_().GetSval()
	default:
		if a, ok := constArg(n); ok && a.Quoted {
			raw = a.Literal
		} else {
			return nil, bad("not a string")
		}
	}
	var cols []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		var name string
		switch {
		case len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"':
			name = strings.ReplaceAll(part[1:len(part)-1], `""`, `"`)
		case strings.ContainsAny(part, "\" \t\n"):
			return nil, bad(fmt.Sprintf("%q", part))
		default:
			name = strings.ToLower(part)
		}
		if name == "" {
			return nil, bad("empty column name")
		}
		if !slices.Contains(cols, name) {
			cols = append(cols, name)
		}
	}
	return cols, nil
}
