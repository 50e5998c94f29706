package planner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/pgout"
	"github.com/vecgate/vecgate/internal/sqltext"
)

// Keys of several columns. A target whose KeyColumns has more than one column (a composite
// primary key, as every partitioned table whose key includes its partition key has) holds each
// row's key as an ann.TextKey of the bytes replication identifies the row by: each column's
// binary send form prefixed by its 4-byte big-endian length (replication.Key). The candidate
// filter is then a semi-join to the candidates as typed rows,
//
//	(t.a, t.b) OPERATOR(pg_catalog.=) ANY (SELECT k.c1, k.c2
//	    FROM pg_catalog.jsonb_to_recordset(<candidates>) AS k(c1 pg_catalog.int4, c2 pg_catalog.text))
//
// with the candidates one jsonb value (`[{"c1":"1","c2":"x"},…]`), a literal or the one
// parameter the proxy binds, as for a single-column key. Measured with EXPLAIN ANALYZE on 200k
// rows and a btree on (a, b): Postgres plans it as a nested loop of index scans (2,000
// candidates ≈ 9 ms, the same as unnest of two arrays), where a row-constructor IN list of the
// same candidates is a BitmapOr of 2,000 index scans (≈ 64 ms, 10 ms of it planning).

// composite reports whether t's key has several columns.
func (t Target) composite() bool { return len(t.KeyColumns) > 1 }

// keyColumns returns the names of t's key columns.
func (t Target) keyColumns() []string {
	if t.composite() {
		return t.KeyColumns
	}
	return []string{t.Key}
}

// keyTypeName is the pg_catalog type a composite key column's values are read as in the
// candidate rows (the SQL types live reports: smallint, integer, bigint, uuid, text).
func keyTypeName(typ string) string {
	switch typ {
	case "smallint":
		return "pg_catalog.int2"
	case "integer":
		return "pg_catalog.int4"
	case "bigint":
		return "pg_catalog.int8"
	case "uuid":
		return "pg_catalog.uuid"
	}
	return "pg_catalog.text"
}

// keyFilter is the rewrite's candidate filter on the table referred to as ref: `ref.key =
// ANY(<ids>)` or, for a composite key, the semi-join above, with idsMarker where the
// candidates go.
func (t Target) keyFilter(ref string) (*pg.Node, error) {
	if !t.composite() {
		keyRef := pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode(ref), pg.MakeStrNode(t.Key)}, -1)
		marker := pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode(idsMarker)}, -1)
		return pg.MakeAExprNode(pg.A_Expr_Kind_AEXPR_OP_ANY, []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode("=")}, keyRef, marker, -1), nil
	}
	if len(t.KeyTypes) != len(t.KeyColumns) {
		return nil, errors.New("planner: composite key without its types")
	}
	cols := make([]string, len(t.KeyColumns))
	outs := make([]string, len(t.KeyColumns))
	defs := make([]string, len(t.KeyColumns))
	for i, c := range t.KeyColumns {
		cols[i] = sqltext.QuoteIdent(ref) + "." + sqltext.QuoteIdent(c)
		outs[i] = "vecgate_k.c" + strconv.Itoa(i+1)
		defs[i] = "c" + strconv.Itoa(i+1) + " " + keyTypeName(t.KeyTypes[i])
	}
	sql := fmt.Sprintf("SELECT WHERE (%s) OPERATOR(pg_catalog.=) ANY (SELECT %s FROM pg_catalog.jsonb_to_recordset(%s) AS vecgate_k(%s))",
		strings.Join(cols, ", "), strings.Join(outs, ", "), idsMarker, strings.Join(defs, ", "))
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("planner: composite key filter: %w", err)
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().WhereClause, nil
}

// keyTargets is the select list of the key's columns of ref (a nested node's probe).
func (t Target) keyTargets(ref string) []*pg.Node {
	var out []*pg.Node
	for _, c := range t.keyColumns() {
		out = append(out, pg.MakeResTargetNodeWithVal(
			pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode(ref), pg.MakeStrNode(c)}, -1), -1))
	}
	return out
}

// keyParam is the candidates as parameter $n of a prepared rewrite.
func (t Target) keyParam(n int) string {
	if t.composite() {
		return "$" + strconv.Itoa(n) + "::pg_catalog.jsonb"
	}
	return "$" + strconv.Itoa(n) + "::" + t.KeyType + "[]"
}

// keysLiteral renders the candidates for a simple Query: an SQL array of the key type, or a
// composite key's jsonb literal.
func (t Target) keysLiteral(res []ann.Result) string {
	if t.composite() {
		return sqltext.QuoteLiteral(t.keysJSON(res)) + "::pg_catalog.jsonb"
	}
	return arrayLiteral(res, t.KeyType)
}

// keysText renders the candidates as the text value of the prepared rewrite's parameter.
func (t Target) keysText(res []ann.Result) string {
	if t.composite() {
		return t.keysJSON(res)
	}
	return textArray(res)
}

// keysJSON is a composite key's candidates as jsonb_to_recordset reads them: one object per
// key, each column's text form as a JSON string under c1, c2, …. A key whose bytes do not
// decode as the columns' types (none should) is left out: a candidate fewer only widens.
func (t Target) keysJSON(res []ann.Result) string {
	var b strings.Builder
	b.WriteByte('[')
	first := true
	for _, r := range res {
		parts, ok := t.keyParts(r.Key.Text())
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteByte('{')
		for i, p := range parts {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"c` + strconv.Itoa(i+1) + `":`)
			writeJSONString(&b, p)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String()
}

// keyParts splits a composite key's bytes into its columns' text forms.
func (t Target) keyParts(k string) ([]string, bool) {
	parts := make([]string, 0, len(t.KeyTypes))
	for _, typ := range t.KeyTypes {
		if len(k) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32([]byte(k[:4]))
		if uint64(n) > uint64(len(k)-4) {
			return nil, false
		}
		col := k[4 : 4+n]
		k = k[4+n:]
		switch typ {
		case "smallint", "integer", "bigint":
			var v int64
			switch len(col) {
			case 2:
				v = int64(int16(binary.BigEndian.Uint16([]byte(col))))
			case 4:
				v = int64(int32(binary.BigEndian.Uint32([]byte(col))))
			case 8:
				v = int64(binary.BigEndian.Uint64([]byte(col)))
			default:
				return nil, false
			}
			parts = append(parts, strconv.FormatInt(v, 10))
		case "uuid":
			if len(col) != 16 {
				return nil, false
			}
			var u [16]byte
			copy(u[:], col)
			parts = append(parts, ann.UUIDKey(u).String())
		default:
			parts = append(parts, col)
		}
	}
	return parts, k == ""
}

// compositeKey encodes column values (their binary send forms) as a composite key's bytes.
func compositeKey(cols ...[]byte) ann.Key {
	var b []byte
	for _, c := range cols {
		b = binary.BigEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return ann.TextKey(string(b))
}

// placeholderKey is the i-th (from 1) placeholder key of t's type, for EXPLAIN.
func (t Target) placeholderKey(i int) ann.Key {
	if !t.composite() {
		return placeholderOf(t.KeyType, i)
	}
	cols := make([][]byte, len(t.KeyTypes))
	for j, typ := range t.KeyTypes {
		switch k := placeholderOf(typ, i); k.Kind() {
		case ann.KindInt:
			switch typ {
			case "smallint":
				cols[j] = binary.BigEndian.AppendUint16(nil, uint16(k.Int()))
			case "integer":
				cols[j] = binary.BigEndian.AppendUint32(nil, uint32(k.Int()))
			default:
				cols[j] = binary.BigEndian.AppendUint64(nil, uint64(k.Int()))
			}
		case ann.KindUUID:
			u := k.UUID()
			cols[j] = u[:]
		default:
			cols[j] = []byte(k.Text())
		}
	}
	return compositeKey(cols...)
}

// placeholderOf is the i-th placeholder key of one column's type.
func placeholderOf(typ string, i int) ann.Key {
	switch typ {
	case "uuid":
		var u [16]byte
		binary.BigEndian.PutUint32(u[12:], uint32(i))
		return ann.UUIDKey(u)
	case "smallint", "integer", "bigint":
		return ann.IntKey(int64(i))
	}
	return ann.TextKey(strconv.Itoa(i))
}

// writeJSONString writes s as a JSON string: quotes, backslashes and control characters
// escaped, every other byte as it is (the statement's encoding is UTF8).
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// keySignature names what of t a rewrite is built for: its key columns and their types, and a
// partitioned table's leaves (the rewrite's guard names them: partition.go). Rewrites, and
// statements prepared with them, are reused only for the same.
func (t Target) keySignature() string {
	var b strings.Builder
	if !t.composite() {
		b.WriteString(t.Key + "\x00" + t.KeyType)
	} else {
		b.WriteString(strings.Join(t.KeyColumns, "\x00") + "\x00\x00" + strings.Join(t.KeyTypes, "\x00"))
	}
	for i, o := range t.Leaves {
		b.WriteString("\x00" + strconv.FormatUint(uint64(o), 10))
		if i < len(t.LeafBounds) {
			b.WriteString(" " + t.LeafBounds[i])
		}
	}
	return b.String()
}

// encodeKeyPart encodes, for an answer from memory, output o — a column of t's composite key —
// of the row keyed k, in the client's format.
func (t Target) encodeKeyPart(k ann.Key, o Output, format int16) ([]byte, error) {
	parts, ok := t.keyParts(k.Text())
	if !ok || o.Held >= len(parts) {
		return nil, fmt.Errorf("planner: composite key %q does not decode", k.Text())
	}
	return pgout.Encode(pgout.FamilyOf(o.Type), []byte(parts[o.Held]), true, format)
}
