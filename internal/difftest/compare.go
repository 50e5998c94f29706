package difftest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Class of a difference.
const (
	Hard   = "hard"   // a rule broken
	Recall = "recall" // a farther row instead of a nearer one, every rule kept
	// Pgvector: vecgate forwarded the statement and Postgres answered it through pgvector's own
	// (approximate) index scan, where the direct session is forced to an exact scan. Reported,
	// not a difference of vecgate's.
	Pgvector = "pgvector"
)

// Diff is one difference between vecgate's answer and Postgres'.
type Diff struct {
	Class string
	Kind  string // short category: sqlstate, error, rows, row-rule, order, distance, value, columns, recall, statement, format
	What  string // details
	Query int    // index of the query in the case (-1: a statement)
	Step  string // the SQL of the statement or query
	Path  string // how vecgate handled it
	// Session says where the session connected: "database 0" is the one vecgate follows,
	// "database 1" the other; and as which role.
	Session string
}

func (d *Diff) String() string {
	return fmt.Sprintf("[%s/%s] %s (vecgate path: %s; %s)\n  %s", d.Class, d.Kind, d.What, d.Path, d.Session, d.Step)
}

// compareRun compares every statement and query of a case run.
func compareRun(run *caseRun) []*Diff {
	var out []*Diff
	for _, s := range run.Stmts {
		if s.Only {
			continue
		}
		if s.V.String() != s.D.String() {
			out = append(out, &Diff{Class: Hard, Kind: "statement", Query: -1, Step: s.SQL,
				What: fmt.Sprintf("vecgate: %s; postgres: %s", s.V, s.D)})
		}
	}
	for i, qr := range run.Queries {
		for j := range qr.V {
			if d := compareQuery(qr, qr.V[j], qr.D[j]); d != nil {
				d.Query, d.Step, d.Path = i, qr.Q.SQL(), qr.V[0].Path
				if strings.HasPrefix(d.Path, "forwarded") && (d.Class == Recall || d.Kind == "rows" || d.Kind == "order" ||
					d.Kind == "error" && qr.V[j].Err != nil && qr.D[j].Err != nil && qr.V[j].Err.Code == qr.D[j].Err.Code) {
					// vecgate forwarded the statement: Postgres answered through vecgate's
					// session as it would directly, with pgvector's own (approximate) index
					// scan where the direct session is forced to an exact scan (its distances,
					// on normalized vectors for cosine, can order near-ties otherwise; and its error
					// text can depend on the plan: "different vector dimensions 3 and 2" from an
					// index scan, "2 and 3" from a sequential scan).
					d.Class, d.Kind = Pgvector, "pgvector-index"
				}
				if len(qr.V) > 1 {
					d.What = fmt.Sprintf("batched copy %d: %s", j+1, d.What)
				}
				out = append(out, d)
				break
			}
		}
	}
	return out
}

func hard(kind, format string, args ...any) *Diff {
	return &Diff{Class: Hard, Kind: kind, What: fmt.Sprintf(format, args...)}
}

func compareQuery(qr *queryRun, v, d *result) *Diff {
	q := qr.Q
	if v.Err != nil || d.Err != nil {
		return compareErrors(v, d)
	}
	if diff := compareFields(v, d); diff != nil {
		return diff
	}
	kc := q.keyCol()
	if kc < 0 && q.Proj[0] == "§ AS d" {
		return compareSortKeys(q, v, d)
	}
	if kc < 0 {
		return compareByPosition(q, v, d)
	}
	if qr.Oracle == nil {
		if len(v.Rows) == 0 && len(d.Rows) == 0 {
			return nil
		}
		return hard("oracle", "no sort keys from postgres: %s", qr.OErr)
	}
	vk, dk := keysOf(v, kc), keysOf(d, kc)
	if diff := checkRowRules(qr, vk, dk); diff != nil {
		return diff
	}
	vt, dt := tuples(qr.Oracle, vk), tuples(qr.Oracle, dk)
	less := func(a, b oracleRow) int { return cmpTuple(a, b, q) }
	if diff := checkOrder(vt, less); diff != nil {
		return diff
	}
	if diff := compareSortKeySets(qr, vk, dk, vt, dt, less); diff != nil {
		return diff
	}
	if diff := compareTieGroups(q, vk, dk, vt, less); diff != nil {
		return diff
	}
	return compareContents(q, v, d, vk, dk)
}

// compareErrors compares the answers when at least one of them is an error: the same SQLSTATE
// and message, or a difference.
func compareErrors(v, d *result) *Diff {
	switch {
	case v.Err == nil:
		return hard("error", "vecgate answered %d rows; postgres: %s", len(v.Rows), d.Err)
	case d.Err == nil:
		return hard("error", "vecgate: %s; postgres answered %d rows", v.Err, len(d.Rows))
	case v.Err.Code != d.Err.Code:
		return hard("sqlstate", "vecgate: %s; postgres: %s", v.Err, d.Err)
	case v.Err.Message != d.Err.Message:
		return hard("error", "vecgate: %s; postgres: %s", v.Err, d.Err)
	}
	return nil
}

// compareFields compares the row descriptions: names, types, formats and type modifiers.
func compareFields(v, d *result) *Diff {
	if len(v.Fields) != len(d.Fields) {
		return hard("columns", "vecgate %d columns, postgres %d", len(v.Fields), len(d.Fields))
	}
	for i := range v.Fields {
		a, b := v.Fields[i], d.Fields[i]
		if a.Name != b.Name || a.DataTypeOID != b.DataTypeOID || a.Format != b.Format || a.TypeModifier != b.TypeModifier {
			return hard("columns", "column %d: vecgate %s oid %d format %d typmod %d; postgres %s oid %d format %d typmod %d",
				i+1, a.Name, a.DataTypeOID, a.Format, a.TypeModifier, b.Name, b.DataTypeOID, b.Format, b.TypeModifier)
		}
	}
	return nil
}

// compareByPosition compares answers without a key column row by row, in order.
func compareByPosition(q *query, v, d *result) *Diff {
	if len(v.Rows) != len(d.Rows) {
		return hard("rows", "vecgate %d rows, postgres %d", len(v.Rows), len(d.Rows))
	}
	for i := range v.Rows {
		if diff := compareRow(q, v.Fields, v.Rows[i], d.Rows[i], false); diff != nil {
			diff.What = fmt.Sprintf("row %d: %s", i+1, diff.What)
			return diff
		}
	}
	return nil
}

// checkRowRules checks that every row vecgate returned is one Postgres shows this session and
// passes the WHERE, and that the oracle knows every row Postgres returned.
func checkRowRules(qr *queryRun, vk, dk []string) *Diff {
	q := qr.Q
	for i, k := range vk {
		o, ok := qr.Oracle[k]
		if !ok {
			return hard("row-rule", "vecgate row %d (key %s) is not a row of %s this session can see (another table or database, row-level security, deleted)", i+1, k, q.Ref)
		}
		if !o.Pass {
			return hard("row-rule", "vecgate row %d (key %s) fails the WHERE (%s)", i+1, k, q.Where)
		}
	}
	for _, k := range dk {
		if _, ok := qr.Oracle[k]; !ok {
			return hard("oracle", "postgres row %s missing from the oracle", k)
		}
	}
	return nil
}

// checkOrder checks that vecgate's rows come in ORDER BY order.
func checkOrder(vt []oracleRow, less func(a, b oracleRow) int) *Diff {
	for i := 1; i < len(vt); i++ {
		if less(vt[i-1], vt[i]) > 0 {
			return hard("order", "vecgate rows %d and %d out of ORDER BY order (%s then %s)", i, i+1, tupleString(vt[i-1]), tupleString(vt[i]))
		}
	}
	return nil
}

// compareSortKeySets compares the multisets of sort keys: as many rows as Postgres', none nearer
// than Postgres' (Postgres is exact), a farther one a recall miss.
func compareSortKeySets(qr *queryRun, vk, dk []string, vt, dt []oracleRow, less func(a, b oracleRow) int) *Diff {
	if len(vt) < len(dt) {
		// A short answer: every row kept the rules, some are missing.
		nulls := 0
		in := map[string]bool{}
		for _, k := range vk {
			in[k] = true
		}
		for _, k := range dk {
			if !in[k] && qr.Oracle[k].Null {
				nulls++
			}
		}
		return hard("rows", "vecgate returned %d rows, postgres %d (%d of the missing rows have a NULL distance)", len(vt), len(dt), nulls)
	}
	if len(vt) > len(dt) {
		return hard("rows", "vecgate returned %d rows, postgres %d", len(vt), len(dt))
	}
	sv, sd := slices.Clone(vt), slices.Clone(dt)
	slices.SortFunc(sv, less)
	slices.SortFunc(sd, less)
	for i := range sv {
		if c := less(sv[i], sd[i]); c != 0 {
			if c < 0 {
				return hard("rows", "vecgate's %d-th sort key %s comes before postgres' %s (postgres, exact, missed it?)", i+1, tupleString(sv[i]), tupleString(sd[i]))
			}
			// Farther: a recall miss, unless the index answered from memory (fast path) or
			// widened — still a recall miss, every rule held.
			return &Diff{Class: Recall, Kind: "recall", What: fmt.Sprintf("vecgate's %d-th sort key %s is farther than postgres' %s", i+1, tupleString(sv[i]), tupleString(sd[i]))}
		}
	}
	return nil
}

// compareTieGroups compares the keys within each group of rows with equal sort keys (the
// multisets of sort keys being the same). Tied rows may come in any order, and at the OFFSET and
// LIMIT boundaries different rows of the group may be chosen; with ORDER BY …, id the order is
// total.
func compareTieGroups(q *query, vk, dk []string, vt []oracleRow, less func(a, b oracleRow) int) *Diff {
	exact := q.Second == "id"
	n := len(vt)
	limitHit := n == q.Limit
	for i := 0; i < n; {
		j := i
		for j < n && less(vt[j], vt[i]) == 0 {
			j++
		}
		boundary := (i == 0 && q.Offset > 0) || (j == n && limitHit)
		if exact {
			if diff := compareTotalTies(vk, dk, vt, i, j); diff != nil {
				return diff
			}
		} else if !boundary && !sameKeySet(vk[i:j], dk[i:j]) {
			return hard("rows", "rows %d–%d (tied at %s): vecgate keys %v, postgres %v", i+1, j, tupleString(vt[i]), vk[i:j], dk[i:j])
		}
		i = j
	}
	return nil
}

// compareTotalTies compares the tie group vk[i:j] under a total order (ORDER BY …, id): the keys
// must match position by position.
func compareTotalTies(vk, dk []string, vt []oracleRow, i, j int) *Diff {
	for p := i; p < j; p++ {
		if vk[p] == dk[p] {
			continue
		}
		if sameKeySet(vk[i:j], dk[i:j]) {
			return hard("order", "row %d: vecgate key %s, postgres key %s (the same rows tied at %s in another order; ORDER BY …, id is total)", p+1, vk[p], dk[p], tupleString(vt[p]))
		}
		// Another row of the tie group: the index did not find the one with the
		// smaller key at that distance.
		return &Diff{Class: Recall, Kind: "tie", What: fmt.Sprintf("row %d: vecgate key %s, postgres key %s, both at %s (a tied row with a smaller key missed)", p+1, vk[p], dk[p], tupleString(vt[p]))}
	}
	return nil
}

// sameKeySet says whether a and b hold the same keys in any order.
func sameKeySet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// compareContents compares the rows' cells, matched by key (by position for volatile columns).
func compareContents(q *query, v, d *result, vk, dk []string) *Diff {
	dByKey := map[string][]cell{}
	for i, k := range dk {
		dByKey[k] = d.Rows[i]
	}
	for i, k := range vk {
		drow, ok := dByKey[k]
		if !ok {
			continue
		}
		if diff := compareRow(q, v.Fields, v.Rows[i], drow, true); diff != nil {
			diff.What = fmt.Sprintf("row %d (key %s): %s", i+1, k, diff.What)
			return diff
		}
		if diff := compareVolatile(q, v.Rows[i], d.Rows[i]); diff != nil {
			diff.What = fmt.Sprintf("row %d: %s", i+1, diff.What)
			return diff
		}
	}
	return nil
}

func keysOf(r *result, kc int) []string {
	out := make([]string, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = keyText(r.Fields[kc], row[kc])
	}
	return out
}

func tuples(o map[string]oracleRow, keys []string) []oracleRow {
	out := make([]oracleRow, len(keys))
	for i, k := range keys {
		out[i] = o[k]
	}
	return out
}

func tupleString(t oracleRow) string {
	s := "NULL"
	if !t.Null {
		s = strconv.FormatFloat(t.Tuple[0], 'g', -1, 64)
	}
	if !t.CatNull {
		s += fmt.Sprintf(" (cat %g)", t.Tuple[1])
	}
	return s
}

// cmpFloat orders like Postgres' float8: NaN after everything, NULL by nullsLast.
func cmpFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpTuple compares two rows' sort keys in the query's ORDER BY order (NULLS LAST for ASC,
// FIRST for DESC, as Postgres' defaults). The key itself, when it is the second ORDER BY key, is
// not in the tuple.
func cmpTuple(a, b oracleRow, q *query) int {
	c := 0
	switch {
	case a.Null && b.Null:
	case a.Null:
		c = 1
	case b.Null:
		c = -1
	default:
		c = cmpFloat(a.Tuple[0], b.Tuple[0])
	}
	if q.Desc {
		c = -c
	}
	if c != 0 || !strings.HasPrefix(q.Second, "cat") {
		return c
	}
	switch {
	case a.CatNull && b.CatNull:
		return 0
	case a.CatNull: // DESC: NULLS FIRST
		return -1
	case b.CatNull:
		return 1
	}
	return -cmpFloat(a.Tuple[1], b.Tuple[1])
}

// compareRow compares one row's cells: distance columns within 1e-6 relative (and in the text
// format the session asked for), everything else byte for byte. Volatile columns are compared by
// position (compareVolatile).
func compareRow(q *query, f []pgconn.FieldDescription, v, d []cell, skipVolatile bool) *Diff {
	for i := range v {
		kind := colOther
		if i < len(q.Kinds) {
			kind = q.Kinds[i]
		}
		if kind == colVolatile && skipVolatile {
			continue
		}
		a, b := v[i], d[i]
		if a.Null != b.Null {
			return hard("value", "column %s: vecgate %s, postgres %s", f[i].Name, cellString(a), cellString(b))
		}
		if a.Null || bytes.Equal(a.B, b.B) {
			continue
		}
		if kind != colDist {
			return hard("value", "column %s: vecgate %s, postgres %s", f[i].Name, cellString(a), cellString(b))
		}
		x, okx := floatOf(f[i], a)
		y, oky := floatOf(f[i], b)
		if !okx || !oky {
			return hard("value", "column %s: vecgate %s, postgres %s", f[i].Name, cellString(a), cellString(b))
		}
		if !closeEnough(x, y) {
			return hard("distance", "column %s: vecgate %s, postgres %s (relative difference %.3g)", f[i].Name, cellString(a), cellString(b), math.Abs(x-y)/math.Max(math.Abs(x), math.Abs(y)))
		}
		if f[i].Format == 0 && !sameFloatFormat(string(a.B), x, string(b.B), y) {
			return hard("format", "column %s: vecgate printed %s, postgres %s: not the same extra_float_digits", f[i].Name, a.B, b.B)
		}
	}
	return nil
}

func compareVolatile(q *query, v, d []cell) *Diff {
	for i, k := range q.Kinds {
		if k == colVolatile && i < len(v) && (v[i].Null != d[i].Null || !bytes.Equal(v[i].B, d[i].B)) {
			return hard("value", "volatile column %d: vecgate %s, postgres %s", i+1, cellString(v[i]), cellString(d[i]))
		}
	}
	return nil
}

func cellString(c cell) string {
	if c.Null {
		return "NULL"
	}
	for _, b := range c.B {
		if b < 0x20 || b > 0x7e {
			return fmt.Sprintf("%x", c.B)
		}
	}
	return string(c.B)
}

func floatOf(f pgconn.FieldDescription, c cell) (float64, bool) {
	if f.Format == 1 {
		switch {
		case f.DataTypeOID == 701 && len(c.B) == 8:
			return math.Float64frombits(binary.BigEndian.Uint64(c.B)), true
		case f.DataTypeOID == 700 && len(c.B) == 4:
			return float64(math.Float32frombits(binary.BigEndian.Uint32(c.B))), true
		}
		return 0, false
	}
	s := string(c.B)
	switch s {
	case "NaN":
		return math.NaN(), true
	case "Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	x, err := strconv.ParseFloat(s, 64)
	return x, err == nil
}

func closeEnough(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	return math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), math.Abs(b)) || math.Abs(a-b) < 1e-12
}

// pgFloat8Text is Postgres' float8 output for extra_float_digits efd.
func pgFloat8Text(v float64, efd int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	if efd > 0 {
		if v == 0 {
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		e := strconv.FormatFloat(v, 'e', -1, 64)
		exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
		if exp < -4 || exp >= 15 {
			return e
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', max(15+efd, 1), 64)
}

// sameFloatFormat says whether one extra_float_digits setting prints both strings from their
// values.
func sameFloatFormat(a string, x float64, b string, y float64) bool {
	for efd := -15; efd <= 1; efd++ {
		if pgFloat8Text(x, efd) == a && pgFloat8Text(y, efd) == b {
			return true
		}
	}
	return false
}

// compareSortKeys compares answers that project the ORDER BY distance but no key: the
// distances must come in order, as many as Postgres', each within 1e-6 relative of Postgres'
// at the same position; a farther one is a recall miss.
func compareSortKeys(q *query, v, d *result) *Diff {
	f := v.Fields[0]
	val := func(r *result, i int) (float64, bool, bool) {
		c := r.Rows[i][0]
		if c.Null {
			return 0, true, true
		}
		x, ok := floatOf(f, c)
		return x, false, ok
	}
	key := func(x float64, null bool) oracleRow { return oracleRow{Tuple: [2]float64{x}, Null: null} }
	for i := 1; i < len(v.Rows); i++ {
		a, an, ok1 := val(v, i-1)
		b, bn, ok2 := val(v, i)
		if ok1 && ok2 && cmpTuple(key(a, an), key(b, bn), q) > 0 && !closeEnough(a, b) {
			return hard("order", "vecgate rows %d and %d out of ORDER BY order (%s then %s)", i, i+1, cellString(v.Rows[i-1][0]), cellString(v.Rows[i][0]))
		}
	}
	if len(v.Rows) != len(d.Rows) {
		return hard("rows", "vecgate %d rows, postgres %d", len(v.Rows), len(d.Rows))
	}
	for i := range v.Rows {
		x, xn, ok1 := val(v, i)
		y, yn, ok2 := val(d, i)
		if !ok1 || !ok2 {
			return hard("value", "row %d: vecgate %s, postgres %s", i+1, cellString(v.Rows[i][0]), cellString(d.Rows[i][0]))
		}
		if xn == yn && (xn || closeEnough(x, y)) {
			if diff := compareRow(q, v.Fields, v.Rows[i], d.Rows[i], false); diff != nil {
				diff.What = fmt.Sprintf("row %d: %s", i+1, diff.What)
				return diff
			}
			continue
		}
		if cmpTuple(key(x, xn), key(y, yn), q) > 0 {
			return &Diff{Class: Recall, Kind: "recall", What: fmt.Sprintf("row %d: vecgate's distance %s is farther than postgres' %s", i+1, cellString(v.Rows[i][0]), cellString(d.Rows[i][0]))}
		}
		return hard("distance", "row %d: vecgate %s, postgres %s", i+1, cellString(v.Rows[i][0]), cellString(d.Rows[i][0]))
	}
	return nil
}
