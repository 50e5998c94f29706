package difftest

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestFloatFormat checks pgFloat8Text, which decides whether vecgate printed a distance in the
// session's extra_float_digits, against Postgres' own float8 output.
func TestFloatFormat(t *testing.T) {
	c := pgtest.Connect(t, pgtest.DSN(t))
	ctx := context.Background()
	vals := []float64{0, 1, 0.1, 1.0 / 3, 2.0 / 3, 1e-5, 1.5e-5, 123456.789, 1e15, 1.5e15, 1e14, 12345678901234567,
		0.019419324309079777, 1.4142135623730951, -6.375, 3.0973779233409666, 1e-300, 7.25715738101318e-05}
	for efd := -15; efd <= 3; efd++ {
		if _, err := c.Exec(ctx, fmt.Sprintf("SET extra_float_digits = %d", efd)); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			var got string
			// Binary in, text out: Postgres formats the exact value.
			if err := c.QueryRow(ctx, "SELECT $1::float8::text", pgx.QueryExecModeDescribeExec, v).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := pgFloat8Text(v, efd); got != want {
				t.Errorf("extra_float_digits %d, %v: postgres %q, pgFloat8Text %q", efd, v, got, want)
			}
		}
	}
}

func textResult(cols []string, rows ...[]string) *result {
	r := &result{}
	for _, c := range cols {
		r.Fields = append(r.Fields, pgconn.FieldDescription{Name: c, DataTypeOID: 25})
	}
	for _, row := range rows {
		var cs []cell
		for _, v := range row {
			cs = append(cs, cell{B: []byte(v)})
		}
		r.Rows = append(r.Rows, cs)
	}
	return r
}

// TestCompareTies pins the comparison rules on made-up answers: ties at the LIMIT boundary may
// differ, ties inside the answer may come in any order but must be the same rows, out of order
// is hard, a farther row is a recall miss, a row the oracle does not know is hard.
func TestCompareTies(t *testing.T) {
	q := &query{Proj: []string{"id"}, Kinds: []colKind{colKey}, Limit: 3}
	oracle := map[string]oracleRow{
		"a": {Tuple: [2]float64{1}, Pass: true},
		"b": {Tuple: [2]float64{2}, Pass: true},
		"c": {Tuple: [2]float64{2}, Pass: true},
		"d": {Tuple: [2]float64{3}, Pass: true},
		"e": {Tuple: [2]float64{3}, Pass: true},
		"f": {Tuple: [2]float64{4}, Pass: true},
		"x": {Tuple: [2]float64{0}, Pass: false},
	}
	ids := func(k ...string) *result {
		var rows [][]string
		for _, s := range k {
			rows = append(rows, []string{s})
		}
		return textResult([]string{"id"}, rows...)
	}
	for _, tc := range []struct {
		name   string
		limit  int
		v, d   []string
		want   string // "" no difference, else class/kind
		second string
	}{
		{name: "same", limit: 3, v: []string{"a", "b", "c"}, d: []string{"a", "b", "c"}},
		{name: "tie inside, other order", limit: 3, v: []string{"a", "c", "b"}, d: []string{"a", "b", "c"}},
		{name: "tie at the limit, other row", limit: 4, v: []string{"a", "b", "c", "e"}, d: []string{"a", "b", "c", "d"}},
		{name: "tie inside, other row", limit: 5, v: []string{"a", "b", "d", "e", "f"}, d: []string{"a", "c", "d", "e", "f"}, want: "hard/rows"},
		{name: "out of order", limit: 3, v: []string{"b", "a", "c"}, d: []string{"a", "b", "c"}, want: "hard/order"},
		{name: "farther", limit: 3, v: []string{"a", "b", "d"}, d: []string{"a", "b", "c"}, want: "recall/recall"},
		{name: "fails where", limit: 2, v: []string{"x", "a"}, d: []string{"a", "b"}, want: "hard/row-rule"},
		{name: "unknown row", limit: 2, v: []string{"a", "zz"}, d: []string{"a", "b"}, want: "hard/row-rule"},
		{name: "short", limit: 3, v: []string{"a", "b"}, d: []string{"a", "b", "c"}, want: "hard/rows"},
		{name: "total order, other order", limit: 3, second: "id", v: []string{"a", "c", "b"}, d: []string{"a", "b", "c"}, want: "hard/order"},
		{name: "total order, other tied row", limit: 4, second: "id", v: []string{"a", "b", "c", "e"}, d: []string{"a", "b", "c", "d"}, want: "recall/tie"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qq := *q
			qq.Limit, qq.Second = tc.limit, tc.second
			qr := &queryRun{Q: &qq, Oracle: oracle}
			d := compareQuery(qr, ids(tc.v...), ids(tc.d...))
			got := ""
			if d != nil {
				got = d.Class + "/" + d.Kind
			}
			if got != tc.want {
				t.Errorf("got %q (%v), want %q", got, d, tc.want)
			}
		})
	}
}

// TestCompareDistances: distances within 1e-6 relative pass, beyond fail; a distance printed
// with other extra_float_digits than Postgres' fails.
func TestCompareDistances(t *testing.T) {
	q := &query{Proj: []string{"id", "§ AS d"}, Kinds: []colKind{colKey, colDist}, Limit: 1}
	oracle := map[string]oracleRow{"a": {Tuple: [2]float64{0.1}, Pass: true}}
	res := func(d string) *result {
		r := textResult([]string{"id", "d"}, []string{"a", d})
		r.Fields[1].DataTypeOID = 701
		return r
	}
	for _, tc := range []struct{ v, d, want string }{
		{"0.1", "0.1", ""},
		{"0.10000001", "0.1", ""},
		{"0.1000002", "0.1", "hard/distance"},
		{"0.100000000000000", "0.1", "hard/format"},
		{"0.10000000000000001", "0.1", "hard/format"},
		// Ambiguous from the text alone (shortest output of a nearby value): not flagged.
		{"0.333333333333333", "0.3333333333333333", ""},
	} {
		qr := &queryRun{Q: q, Oracle: oracle}
		d := compareQuery(qr, res(tc.v), res(tc.d))
		got := ""
		if d != nil {
			got = d.Class + "/" + d.Kind
		}
		if got != tc.want {
			t.Errorf("%s vs %s: got %q (%v), want %q", tc.v, tc.d, got, d, tc.want)
		}
	}
}
