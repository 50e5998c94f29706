package live_test

import (
	"context"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

func includeInfo() replication.TargetInfo {
	ti := info()
	ti.Include = []string{"tenant_id", "category", "flag", "u", "score"}
	ti.IncludeTypes = []string{"integer", "character varying(20)", "boolean", "uuid", "numeric"}
	return ti
}

func int4(n int32) replication.Datum {
	return replication.Datum{Value: binary.BigEndian.AppendUint32(nil, uint32(n))}
}

func incRow(n int64, tenant int32, category string, v ...float32) replication.Row {
	r := row(n, v...)
	u := make([]byte, 16)
	u[15] = byte(n)
	r.Include = []replication.Datum{int4(tenant), {Value: []byte(category)}, {Value: []byte{byte(n % 2)}}, {Value: u}, {Value: []byte{0, 1}}}
	return r
}

// selected returns the keys whose columns hold the allowed values, checked three ways: the key
// list, the match function over every key, and the count.
func selected(t *testing.T, ix *live.Index, allowed map[string][]string) []int64 {
	t.Helper()
	match, keys, count, exact, ok := ix.Select(allowed, 100)
	if !ok {
		t.Fatalf("Select(%v) not ok", allowed)
	}
	var got []int64
	for _, k := range keys {
		got = append(got, k.Int())
	}
	slices.Sort(got)
	var matched []int64
	for n := int64(0); n < 20; n++ {
		if match(ann.IntKey(n)) {
			matched = append(matched, n)
		}
	}
	if !slices.Equal(got, matched) || !exact || count != len(got) {
		t.Fatalf("Select(%v): keys %v, match %v, count %d exact %v", allowed, got, matched, count, exact)
	}
	return got
}

// TestIncludeSync: the INCLUDE values an index keeps follow inserts, updates (with and without a
// new vector, a TOASTed value left unchanged), key changes, NULL vectors, deletes and truncate.
func TestIncludeSync(t *testing.T) {
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{includeInfo()}); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 6; i++ {
		if err := s.Upsert(target, incRow(i, int32(i%3), "c"+string(rune('0'+i%2)), float32(i), 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	ix, ok := s.Lookup("public", "items", "emb", ann.L2)
	if !ok {
		t.Fatal("no index")
	}
	for col, want := range map[string]string{"tenant_id": "int", "category": "text", "flag": "bool", "u": "uuid", "score": "", "nope": ""} {
		if got := ix.IncludeType(col); got != want {
			t.Errorf("IncludeType(%s) = %q, want %q", col, got, want)
		}
	}
	if _, _, _, _, ok := ix.Select(map[string][]string{"score": {"1"}}, 10); ok {
		t.Error("Select on a column of an unsupported type")
	}
	check := func(what string, allowed map[string][]string, want ...int64) {
		t.Helper()
		if got := selected(t, ix, allowed); !slices.Equal(got, want) {
			t.Fatalf("%s: %v selects %v, want %v", what, allowed, got, want)
		}
	}
	check("insert", map[string][]string{"tenant_id": {"1"}}, 1, 4)
	check("insert", map[string][]string{"tenant_id": {"1", "2", "7"}}, 1, 2, 4, 5)
	check("insert", map[string][]string{"tenant_id": {"1", "2"}, "category": {"c0"}}, 2, 4)
	check("insert", map[string][]string{"flag": {"t"}}, 1, 3, 5)
	check("insert", map[string][]string{"u": {string(append(make([]byte, 15), 6))}}, 6)
	check("insert", map[string][]string{"tenant_id": {}}) // `tenant_id = NULL`

	// The tenant changes, the (TOASTed) vector does not: pgoutput sends no vector.
	r := incRow(1, 2, "c1")
	r.Vector, r.KeepVector = replication.Vector{}, true
	if err := s.Upsert(target, r); err != nil {
		t.Fatal(err)
	}
	check("tenant update", map[string][]string{"tenant_id": {"1"}}, 4)
	check("tenant update", map[string][]string{"tenant_id": {"2"}}, 1, 2, 5)

	// A TOASTed category left unchanged by an update keeps its value; the tenant is NULL now.
	r = incRow(2, 0, "", 2, 0, 0)
	r.Include[0] = replication.Datum{Null: true}
	r.Include[1] = replication.Datum{Unchanged: true}
	if err := s.Upsert(target, r); err != nil {
		t.Fatal(err)
	}
	check("unchanged", map[string][]string{"category": {"c0"}}, 2, 4, 6)
	check("NULL", map[string][]string{"tenant_id": {"2"}}, 1, 5)

	// Key change 4 → 9 with the vector unchanged and the category unchanged.
	r = incRow(9, 1, "")
	r.OldKey, r.Vector, r.KeepVector = key(4), replication.Vector{}, true
	r.Include[1] = replication.Datum{Unchanged: true}
	if err := s.Upsert(target, r); err != nil {
		t.Fatal(err)
	}
	check("key change", map[string][]string{"tenant_id": {"1"}}, 9)
	check("key change", map[string][]string{"category": {"c0"}}, 2, 6, 9)

	// Text from pgoutput (a type sent without its binary form).
	r = incRow(3, 0, "c0", 3, 0, 0)
	r.Include[0] = replication.Datum{Value: []byte("-7"), Text: true}
	if err := s.Upsert(target, r); err != nil {
		t.Fatal(err)
	}
	check("text", map[string][]string{"tenant_id": {"-7"}}, 3)

	// A NULL vector and a delete take rows out.
	if err := s.Upsert(target, replication.Row{Key: key(5), Include: incRow(5, 2, "c1").Include}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(target, key(9)); err != nil {
		t.Fatal(err)
	}
	check("NULL vector", map[string][]string{"tenant_id": {"2"}}, 1)
	check("delete", map[string][]string{"tenant_id": {"1"}})
	if err := s.Commit(1); err != nil { // a new HNSW twin takes its first rows at the commit
		t.Fatal(err)
	}
	// Tenant 1's id is free now; a new value takes it, and tenant 1 still selects nothing.
	if err := s.Upsert(target, incRow(11, 42, "c1", 11, 0, 0)); err != nil {
		t.Fatal(err)
	}
	check("id reuse", map[string][]string{"tenant_id": {"1"}})
	check("id reuse", map[string][]string{"tenant_id": {"42"}}, 11)
	check("id reuse", map[string][]string{"tenant_id": {"1", "42", "2"}}, 1, 11)
	if err := s.Delete(target, key(11)); err != nil {
		t.Fatal(err)
	}
	if n := ix.IncludeRows(); n != ix.Len() {
		t.Fatalf("%d rows with include values, %d indexed", n, ix.Len())
	}

	// Exact search over the selected keys.
	_, keys, _, _, _ := ix.Select(map[string][]string{"category": {"c0"}}, 100)
	res, err := ix.SearchKeys(context.Background(), []float32{5, 0, 0}, 10, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Key.Int() != 6 || res[0].Distance != 1 || res[2].Key.Int() != 2 {
		t.Fatalf("SearchKeys: %v", res)
	}

	if err := s.Truncate(target); err != nil {
		t.Fatal(err)
	}
	ix, _ = s.Lookup("public", "items", "emb", ann.L2)
	if ix.IncludeType("tenant_id") != "int" {
		t.Fatal("truncate lost the include columns")
	}
	check("truncate", map[string][]string{"category": {"c0"}})
}

// TestIncludeColumns: definitions become the stream's column lists, without duplicates.
func TestIncludeColumns(t *testing.T) {
	s := live.New(nil)
	s.SetDefinitions([]indexdef.Spec{
		{Schema: "public", Table: "docs", Include: []string{"tenant_id", "category"}},
		{Schema: "public", Table: "docs", Include: []string{"category", "lang"}},
		{Schema: "app", Table: "docs"},
	})
	got := s.IncludeColumns()
	if len(got) != 2 || !slices.Equal(got["public.docs"], []string{"tenant_id", "category", "lang"}) || !slices.Equal(got["*"], []string{"*"}) {
		t.Fatalf("%v", got)
	}
	noCover := live.NewWith(nil, live.Options{})
	noCover.SetDefinitions(s.Definitions())
	if got := noCover.IncludeColumns(); len(got) != 1 {
		t.Fatalf("covering off: %v", got)
	}
}

// TestIncludeSnapshot: INCLUDE values survive a snapshot and its reading back.
func TestIncludeSnapshot(t *testing.T) {
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{includeInfo()}); err != nil {
		t.Fatal(err)
	}
	load(t, s, 12, func(i int64) replication.Row {
		return incRow(i, int32(i%3), "c"+string(rune('0'+i%2)), float32(i), 0, 0)
	})
	r := live.New(nil)
	snapshotInto(t, s, r)
	ix, ok := r.Lookup("public", "items", "emb", ann.L2)
	if !ok || ix.IncludeType("category") != "text" || ix.IncludeType("score") != "" || ix.IncludeRows() != 12 || ix.RelOID != 16384 {
		t.Fatalf("read back: %v %q %d, relation OID %d", ok, ix.IncludeType("category"), ix.IncludeRows(), ix.RelOID)
	}
	if got := selected(t, ix, map[string][]string{"tenant_id": {"1"}, "category": {"c0"}}); !slices.Equal(got, []int64{4, 10}) {
		t.Fatalf("read back selects %v", got)
	}
	// Replication goes on after the snapshot: the values keep following.
	if err := r.Upsert(target, incRow(4, 2, "c0", 4, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if got := selected(t, ix, map[string][]string{"tenant_id": {"1"}}); !slices.Equal(got, []int64{1, 7, 10}) {
		t.Fatalf("after an update: %v", got)
	}
}

// TestIncludeUnknownUnchanged: an update that leaves a TOASTed INCLUDE value unchanged, for a row
// whose values vecgate does not hold (it had a NULL vector), makes that value unknown: the column
// is no longer filtered in the index rather than hiding the row.
func TestIncludeUnknownUnchanged(t *testing.T) {
	s := live.New(nil)
	if err := s.Reset([]replication.TargetInfo{includeInfo()}); err != nil {
		t.Fatal(err)
	}
	if err := s.Upsert(target, incRow(1, 1, "c0", 1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	r := incRow(2, 1, "c0")
	r.Vector = replication.Vector{} // NULL vector: the row is not held
	if err := s.Upsert(target, r); err != nil {
		t.Fatal(err)
	}
	r = incRow(2, 1, "", 2, 0, 0) // the vector is set, the category left unchanged
	r.Include[1] = replication.Datum{Unchanged: true}
	if err := s.Upsert(target, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(1); err != nil {
		t.Fatal(err)
	}
	ix, _ := s.Lookup("public", "items", "emb", ann.L2)
	if _, _, _, _, ok := ix.Select(map[string][]string{"category": {"c0"}}, 100); ok {
		t.Fatal("category still filtered in the index with row 2's value unknown")
	}
	if got := selected(t, ix, map[string][]string{"tenant_id": {"1"}}); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("tenant 1: %v", got)
	}
}
