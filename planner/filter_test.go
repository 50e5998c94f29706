package planner_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/planner"
)

// filterIndex is a fake live index keeping INCLUDE columns: rows 1..n, tenant_id = key % 100.
type filterIndex struct {
	n       int
	types   map[string]string
	asked   []map[string][]string // every Select's allowed values
	exactly int                   // SearchKeys calls
	graph   int                   // filtered Search calls
}

func (x *filterIndex) Dims() int { return 2 }
func (x *filterIndex) Len() int  { return x.n }

// Complete: the fake holds every row of its table.
func (x *filterIndex) Complete() bool { return true }

func (x *filterIndex) Search(_ context.Context, _ []float32, k int, opts ann.SearchOptions) ([]ann.Result, error) {
	if opts.Filter != nil {
		x.graph++
	}
	var out []ann.Result
	for i := 1; i <= x.n && len(out) < k; i++ {
		if opts.Filter == nil || opts.Filter(ann.IntKey(int64(i))) {
			out = append(out, ann.Result{Key: ann.IntKey(int64(i)), Distance: float64(i)})
		}
	}
	return out, nil
}

func (x *filterIndex) IncludeType(col string) string { return x.types[col] }

func (x *filterIndex) Select(allowed map[string][]string, limit int) (func(ann.Key) bool, []ann.Key, int, bool, bool) {
	x.asked = append(x.asked, allowed)
	match := func(k ann.Key) bool {
		return slices.Contains(allowed["tenant_id"], fmt.Sprint(k.Int()%100))
	}
	var keys []ann.Key
	for i := 1; i <= x.n; i++ {
		if match(ann.IntKey(int64(i))) {
			keys = append(keys, ann.IntKey(int64(i)))
		}
	}
	if len(keys) > limit {
		return match, nil, len(keys), true, true
	}
	if keys == nil {
		keys = []ann.Key{}
	}
	return match, keys, len(keys), true, true
}

func (x *filterIndex) SearchKeys(_ context.Context, _ []float32, k int, keys []ann.Key) ([]ann.Result, error) {
	x.exactly++
	var out []ann.Result
	for _, key := range keys[:min(k, len(keys))] {
		out = append(out, ann.Result{Key: key, Distance: float64(key.Int())})
	}
	return out, nil
}

type fakeSearcher struct{ ix planner.Index }

func (s fakeSearcher) Find(schema, table, column string, m ann.Metric) (planner.Target, bool) {
	return planner.Target{Index: s.ix, Key: "id", KeyType: "bigint", Name: "docs_emb", Exact: true}, true
}

func newFilterIndex(n int) *filterIndex {
	return &filterIndex{n: n, types: map[string]string{"tenant_id": "int", "category": "text", "flag": "bool", "u": "uuid"}}
}

// render shows a Select's allowed values: column=v1|v2, columns sorted, uuids in hex.
func render(allowed map[string][]string) string {
	var parts []string
	for col, vals := range allowed {
		vs := slices.Clone(vals)
		for i, v := range vs {
			if col == "u" {
				vs[i] = hex.EncodeToString([]byte(v))
			}
		}
		parts = append(parts, col+"="+strings.Join(vs, "|"))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// firstFilter runs q's first round and renders the filter it asked ix for ("" when it searched
// without one).
func firstFilter(t *testing.T, q *planner.Query, ix *filterIndex, label string) string {
	t.Helper()
	if _, _, _, err := q.Next(context.Background(), 0); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	if len(ix.asked) == 0 {
		return ""
	}
	return render(ix.asked[0])
}

// TestFilterLiterals: WHERE values written in the statement are put in canonical form per
// column type; any value vecgate is not sure of leaves its conjunct out of the filter.
func TestFilterLiterals(t *testing.T) {
	const head = `SELECT id FROM docs WHERE `
	const tail = ` ORDER BY emb <-> '[1,2]' LIMIT 10`
	for _, tc := range []struct{ where, want string }{
		{`tenant_id = 5`, "tenant_id=5"},
		{`tenant_id = '05'`, "tenant_id=5"},
		{`tenant_id = ' +7 '`, "tenant_id=7"},
		{`5 = tenant_id`, "tenant_id=5"},
		{`tenant_id IN (1, '2', 2, '01')`, "tenant_id=1|2"},
		{`tenant_id = '5'::bigint`, "tenant_id=5"},
		{`tenant_id = 3000000000`, "tenant_id=3000000000"},
		{`tenant_id = 5.0`, ""},
		{`tenant_id = '0x10'`, ""},
		{`tenant_id = '1_000'`, ""},
		{`tenant_id = 5::float8`, ""},
		{`tenant_id = '5'::numeric`, ""},
		{`tenant_id IN (1, 2.5)`, ""},
		{`tenant_id = 1 AND tenant_id = 2`, "tenant_id="},
		{`tenant_id IN (1, 2) AND tenant_id IN (2, 3)`, "tenant_id=2"},
		{`tenant_id = 5 AND price > 3`, "tenant_id=5"},
		{`other = 5`, ""},
		{`tenant_id = 5 OR tenant_id = 6`, ""},
		{`category = 'news'`, "category=news"},
		{`category = 'news'::text`, "category=news"},
		{`category = 'news'::varchar`, "category=news"},
		{`category = 'news  '::char(6)`, ""},
		{`category = 'news'::varchar(2)`, ""},
		{`category = 'Ünï'`, ""},
		{`category = 'a\\b'`, ""},
		{`category = E'a\\b'`, ""},
		{`category = 'x'::public.text`, ""},
		{`category = 'x'::pg_catalog.text`, "category=x"},
		{`category = 5`, ""},
		{`flag = true`, "flag=t"},
		{`flag = 'yes'`, "flag=t"},
		{`flag = ' OFF'`, "flag=f"},
		{`flag = 'fa'`, "flag=f"},
		{`flag = 'o'`, ""},
		{`flag = '1'`, "flag=t"},
		{`u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'`, "u=a0eebc999c0b4ef8bb6d6bb9bd380a11"},
		{`u = '{a0eebc999c0b4ef8bb6d6bb9bd380a11}'`, "u=a0eebc999c0b4ef8bb6d6bb9bd380a11"},
		{`u = 'a0eebc99'`, ""},
		{`tenant_id = 5 AND category = 'x' AND flag`, "category=x tenant_id=5"},
	} {
		ix := newFilterIndex(1000)
		p := planner.New(fakeSearcher{ix})
		q, err := p.PlanSimple(head+tc.where+tail, planner.Settings{})
		if err != nil {
			t.Fatalf("%s: %v", tc.where, err)
		}
		if got := firstFilter(t, q, ix, tc.where); got != tc.want {
			t.Errorf("WHERE %s: filter %q, want %q", tc.where, got, tc.want)
		}
	}
}

func be32(n int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
func be64(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// TestFilterParameters: bound values in text and binary format, with and without declared types.
func TestFilterParameters(t *testing.T) {
	vec := []byte("[1,2]")
	u, _ := hex.DecodeString("a0eebc999c0b4ef8bb6d6bb9bd380a11")
	for _, tc := range []struct {
		sql     string
		params  [][]byte
		formats []int16
		oids    []uint32
		want    string
	}{
		{`tenant_id = $2`, [][]byte{vec, []byte("05")}, nil, nil, "tenant_id=5"},
		{`tenant_id = $2`, [][]byte{vec, be32(7)}, []int16{0, 1}, nil, "tenant_id=7"},
		{`tenant_id = $2`, [][]byte{vec, be64(-7)}, []int16{0, 1}, []uint32{0, 20}, "tenant_id=-7"},
		{`tenant_id = $2`, [][]byte{vec, be64(7)}, []int16{0, 1}, []uint32{0, 701}, ""},     // float8
		{`tenant_id = $2`, [][]byte{vec, []byte("7")}, nil, []uint32{0, 1700}, ""},          // numeric
		{`tenant_id = $2`, [][]byte{vec, []byte("7")}, nil, []uint32{0, 20}, "tenant_id=7"}, // pgx exec mode: int8 as text
		{`tenant_id = $2::int8`, [][]byte{vec, be64(9)}, []int16{0, 1}, nil, "tenant_id=9"},
		{`tenant_id = $2::float8`, [][]byte{vec, be64(9)}, []int16{0, 1}, nil, ""},
		{`tenant_id = $2`, [][]byte{vec, nil}, nil, nil, "tenant_id="},
		{`tenant_id IN ($2, $3)`, [][]byte{vec, []byte("1"), be32(2)}, []int16{0, 0, 1}, nil, "tenant_id=1|2"},
		{`tenant_id = $2 AND $2::float8 > 0`, [][]byte{vec, be64(7)}, []int16{0, 1}, nil, ""},
		{`tenant_id = $2 AND $2::float8 > 0`, [][]byte{vec, be64(7)}, []int16{0, 1}, []uint32{0, 20}, "tenant_id=7"},
		{`category = $2`, [][]byte{vec, []byte("news")}, []int16{0, 1}, nil, "category=news"},
		{`category = $2`, [][]byte{vec, []byte("news ")}, nil, []uint32{0, 1042}, ""}, // bpchar
		{`u = $2`, [][]byte{vec, u}, []int16{0, 1}, nil, "u=a0eebc999c0b4ef8bb6d6bb9bd380a11"},
		{`u = $2`, [][]byte{vec, []byte("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11")}, nil, nil, "u=a0eebc999c0b4ef8bb6d6bb9bd380a11"},
		{`flag = $2`, [][]byte{vec, {1}}, []int16{0, 1}, nil, "flag=t"},
		{`flag = $2`, [][]byte{vec, []byte("false")}, nil, []uint32{0, 16}, "flag=f"},
	} {
		ix := newFilterIndex(1000)
		p := planner.New(fakeSearcher{ix})
		pr, err := p.Prepare(`SELECT id FROM docs WHERE ` + tc.sql + ` ORDER BY emb <-> $1 LIMIT 10`)
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		pr.ParamOIDs = tc.oids
		q, err := p.Bind(pr, tc.params, tc.formats, planner.Settings{})
		if err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		if got := firstFilter(t, q, ix, tc.sql); got != tc.want {
			t.Errorf("WHERE %s %v %v %v: filter %q, want %q", tc.sql, tc.params[1:], tc.formats, tc.oids, got, tc.want)
		}
	}
}

// TestFilterRounds: a filter that allows few rows searches them exactly and, when they are fewer
// than asked, ends without widening or forwarding; one that allows many goes through the graph
// with the filter and widens as before.
func TestFilterRounds(t *testing.T) {
	ctx := context.Background()
	small := newFilterIndex(1000) // tenant 5: 10 rows
	p := planner.New(fakeSearcher{small})
	q, err := p.PlanSimple(`SELECT id FROM docs WHERE tenant_id = 5 AND title <> 'x' ORDER BY emb <-> '[1,2]' LIMIT 20`, planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	sql, done, fwd, err := q.Next(ctx, 0)
	if err != nil || done || fwd || small.exactly != 1 || len(q.Keys()) != 10 || !strings.Contains(q.Filtered, "exact over the 10") {
		t.Fatalf("first round: %q done=%v forward=%v err=%v exact searches %d keys %v (%s)", sql, done, fwd, err, small.exactly, q.Keys(), q.Filtered)
	}
	if _, done, fwd, _ := q.Next(ctx, 7); !done || fwd {
		t.Fatalf("after 7 of 10 rows: done=%v forward=%v, want done (every match was a candidate)", done, fwd)
	}

	// 1,000 rows pass, more than the 20 candidates: searched exactly, but Postgres' other
	// condition may leave fewer than LIMIT rows, and the next round must widen.
	mid := newFilterIndex(100_000)
	p = planner.New(fakeSearcher{mid})
	q, err = p.PlanSimple(`SELECT id FROM docs WHERE tenant_id = 5 AND title <> 'x' ORDER BY emb <-> '[1,2]' LIMIT 10`, planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if _, done, fwd, err := q.Next(ctx, 0); err != nil || done || fwd || mid.exactly != 1 || len(q.Keys()) != 20 {
		t.Fatalf("first round: done=%v forward=%v err=%v exact searches %d keys %d", done, fwd, err, mid.exactly, len(q.Keys()))
	}
	if _, done, fwd, _ := q.Next(ctx, 3); done || fwd || q.Candidates != 80 || mid.exactly != 2 {
		t.Fatalf("after 3 of 10 rows: done=%v forward=%v candidates %d, want a wider exact round", done, fwd, q.Candidates)
	}

	big := newFilterIndex(1_000_000) // tenant 5: 10,000 rows
	p = planner.New(fakeSearcher{big})
	q, err = p.PlanSimple(`SELECT id FROM docs WHERE tenant_id = 5 ORDER BY emb <-> '[1,2]' LIMIT 10`, planner.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if _, done, fwd, err := q.Next(ctx, 0); err != nil || done || fwd || big.graph != 1 || big.exactly != 0 {
		t.Fatalf("first round: done=%v forward=%v err=%v graph %d exact %d", done, fwd, err, big.graph, big.exactly)
	}
	for _, k := range q.Keys() {
		if k.Int()%100 != 5 {
			t.Fatalf("candidate %v does not pass the filter", k)
		}
	}
	if !strings.Contains(q.Filtered, "graph") || len(q.FilterColumns()) != 1 {
		t.Fatalf("Filtered %q, columns %v", q.Filtered, q.FilterColumns())
	}
	if _, done, fwd, _ := q.Next(ctx, 3); done || fwd || q.Candidates != 80 {
		t.Fatalf("after 3 rows: done=%v forward=%v candidates %d, want a wider round", done, fwd, q.Candidates)
	}
}

// TestIndexOfInclude: `include` names columns as identifiers (folded unless double-quoted) and is
// removed from what Postgres sees.
func TestIndexOfInclude(t *testing.T) {
	for sql, want := range map[string]string{
		`CREATE INDEX d ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'tenant_id, Category, "Lang"', m = 8)`: `[tenant_id category Lang] forward=CREATE INDEX d ON docs USING hnsw (emb vector_l2_ops) WITH (m=8)`,
		`CREATE INDEX d ON docs USING hnsw (emb vector_l2_ops) WITH (include = tenant_id, mode = offload)`:            `[tenant_id] forward=`,
		`CREATE INDEX d ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'a,,b')`:                               `error 22023`,
		`CREATE INDEX d ON docs USING hnsw (emb vector_l2_ops) WITH (include = 'a b')`:                                `error 22023`,
		`CREATE INDEX d ON docs USING hnsw (emb vector_l2_ops) WITH (include = 5)`:                                    `error 22023`,
	} {
		d, err := planner.IndexOf(sql)
		var got string
		if e := (*pgconn.PgError)(nil); errors.As(err, &e) {
			got = "error " + e.Code
		} else if err != nil || d == nil {
			got = fmt.Sprint(err)
		} else {
			got = fmt.Sprintf("%v forward=%s", d.Include, d.Forward)
		}
		if got != want {
			t.Errorf("%s\n got: %s\nwant: %s", sql, got, want)
		}
	}
}

// FuzzFilterParameter: any bound value, in either format and with any declared type, plans
// without panicking, and a value put in the filter for an integer column is the integer Postgres
// reads from it.
func FuzzFilterParameter(f *testing.F) {
	f.Add([]byte("05"), false, uint32(0), 0)
	f.Add(be32(7), true, uint32(23), 0)
	f.Add([]byte("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), false, uint32(0), 3)
	f.Add([]byte(" yes "), false, uint32(16), 2)
	f.Fuzz(func(t *testing.T, data []byte, bin bool, oid uint32, col int) {
		cols := []string{"tenant_id", "category", "flag", "u"}
		column := cols[(col%len(cols)+len(cols))%len(cols)]
		ix := newFilterIndex(200)
		p := planner.New(fakeSearcher{ix})
		pr, err := p.Prepare(`SELECT id FROM docs WHERE ` + column + ` = $2 ORDER BY emb <-> $1 LIMIT 10`)
		if err != nil {
			t.Fatal(err)
		}
		pr.ParamOIDs = []uint32{0, oid}
		format := int16(0)
		if bin {
			format = 1
		}
		q, err := p.Bind(pr, [][]byte{[]byte("[1,2]"), data}, []int16{0, format}, planner.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := q.Next(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		if column != "tenant_id" || len(ix.asked) == 0 || bin {
			return
		}
		for _, v := range ix.asked[0]["tenant_id"] {
			n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			if err != nil || strconv.FormatInt(n, 10) != v {
				t.Fatalf("%q filtered as %q", data, v)
			}
		}
	})
}
