package hnsw_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/internal/anntest"
	"github.com/vecgate/vecgate/internal/fileformat"
)

// mixedKey gives row i an integer, uuid or text key (most integer, as tables have).
func mixedKey(i int) ann.Key {
	switch i % 7 {
	case 3:
		var u [16]byte
		u[0], u[15] = byte(i), byte(i>>8)
		return ann.UUIDKey(u)
	case 5:
		return ann.TextKey("row-" + strconv.Itoa(i+1))
	}
	return ann.IntKey(int64(i) * 1000)
}

// historyIndex builds, single-threaded (so deterministically), an index that has been through
// what the node tables must survive: mixed key kinds, many upper levels (m 4), deletes, a
// compaction, inserts into the freed slots (and their upper rows), upserts and tombstones left.
func historyIndex(t testing.TB) (*hnsw.Index, anntest.Dataset) {
	ds := makeData(600, 8, 20, false)
	for i := range ds.Keys {
		ds.Keys[i] = mixedKey(i)
	}
	cfg := hnsw.DefaultConfig(ann.L2, ds.Dims)
	cfg.M, cfg.Seed, cfg.Threads, cfg.CompactRatio = 4, 7, 1, -1
	x, err := hnsw.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.AddBatch(context.Background(), ds.Keys[:500], ds.Data[:500*ds.Dims]); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 500; i += 4 {
		x.Delete(ds.Keys[i])
	}
	x.Compact()
	for i := 500; i < 600; i++ {
		if err := x.Add(ds.Keys[i], ds.Row(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 60; i += 4 { // upserts: the old node becomes a tombstone
		if err := x.Add(ds.Keys[i], ds.Row(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	x.Delete(ds.Keys[2])
	return x, ds
}

// TestLoadFormat1Golden: a file the index wrote before int keys and upper rows were stored
// compactly (testdata/format1-mixed.hnsw, format 1) still loads, answers, and saves byte for byte
// as the same build saves today; and today's file (format 2) is the format-1 body followed by the
// drift section (bound, re-quantisations, side list), so nothing else changed. To write the file
// again with an older version of the package: GOLDEN_OUT=path go test -run TestLoadFormat1Golden.
func TestLoadFormat1Golden(t *testing.T) {
	x, ds := historyIndex(t)
	var buf bytes.Buffer
	if err := x.Save(&buf); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("GOLDEN_OUT"); out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	golden, err := os.ReadFile("testdata/format1-mixed.hnsw")
	if err != nil {
		t.Fatal(err)
	}
	// Header (magic, kind, version) and the CRC-64 trailer aside, format 2 appends to format 1.
	const trailer = 8
	body1 := golden[fileformat.HeaderSize : len(golden)-trailer]
	if b := buf.Bytes(); len(b) < len(golden) || !bytes.Equal(b[fileformat.HeaderSize:fileformat.HeaderSize+len(body1)], body1) {
		t.Errorf("today's build saves %d bytes that do not extend the format-1 file's %d", buf.Len(), len(golden))
	}
	y, err := hnsw.Load(bytes.NewReader(golden), hnsw.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if y.Len() != x.Len() || y.Tombstones() != x.Tombstones() {
		t.Fatalf("loaded Len %d tombstones %d, want %d %d", y.Len(), y.Tombstones(), x.Len(), x.Tombstones())
	}
	var again bytes.Buffer
	if err := y.Save(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("loaded format-1 file saves other bytes than the index built alike")
	}
	for _, q := range ds.Queries {
		a, _ := x.Search(context.Background(), q, 10, ann.SearchOptions{})
		b, _ := y.Search(context.Background(), q, 10, ann.SearchOptions{})
		if len(a) != 10 || !slices.Equal(a, b) {
			t.Fatalf("loaded file answers %v, built index %v", b, a)
		}
	}
}

// TestKeyKinds: integer, uuid and text keys in one index, through upserts, deletes, compaction,
// reordering and a save and load: every key reads back its own vector and is found by its own
// vector, filters see the right keys, and Len counts each key once.
func TestKeyKinds(t *testing.T) {
	x, ds := historyIndex(t)
	want := map[ann.Key][]float32{}
	for i := range 600 {
		switch {
		case i < 500 && i%4 == 0, i == 2:
			// deleted
		case i < 60 && i%4 == 1:
			want[ds.Keys[i]] = ds.Row(i + 1) // upserted
		default:
			want[ds.Keys[i]] = ds.Row(i)
		}
	}
	check := func(stage string, x *hnsw.Index) {
		t.Helper()
		if x.Len() != len(want) {
			t.Fatalf("%s: Len %d, want %d", stage, x.Len(), len(want))
		}
		for i := range 600 {
			k := ds.Keys[i]
			v, ok := x.Vector(k)
			if w, live := want[k]; ok != live || (ok && !slices.Equal(v, w)) {
				t.Fatalf("%s: key %v: vector %v %v, want %v %v", stage, k, v, ok, w, live)
			}
		}
		for k, v := range want {
			res, err := x.Search(context.Background(), v, 1, ann.SearchOptions{EF: 100})
			if err != nil || len(res) != 1 || res[0].Distance != 0 {
				t.Fatalf("%s: key %v not found by its vector: %v %v", stage, k, res, err)
			}
			if res[0].Key != k && !slices.Equal(want[res[0].Key], v) {
				t.Fatalf("%s: key %v's vector finds %v", stage, k, res[0].Key)
			}
		}
		for _, kind := range []ann.KeyKind{ann.KindInt, ann.KindUUID, ann.KindText} {
			filter := func(k ann.Key) bool { return k.Kind() == kind }
			res, err := x.Search(context.Background(), ds.Queries[0], 10, ann.SearchOptions{Filter: filter})
			if err != nil || len(res) != 10 {
				t.Fatalf("%s: filter on kind %d: %v %v", stage, kind, res, err)
			}
			for _, r := range res {
				if _, ok := want[r.Key]; !ok || r.Key.Kind() != kind {
					t.Fatalf("%s: filter on kind %d returned %v", stage, kind, r.Key)
				}
			}
		}
	}
	check("built", x)
	y := reload(t, x)
	check("loaded", y)
	x.Compact()
	check("compacted", x)
	x.Reorder()
	check("reordered", x)
	// Reordered, saved and loaded: the same answers.
	z := reload(t, x)
	check("reordered and loaded", z)
	for _, q := range ds.Queries {
		a, _ := x.Search(context.Background(), q, 10, ann.SearchOptions{})
		b, _ := z.Search(context.Background(), q, 10, ann.SearchOptions{})
		if !slices.Equal(a, b) {
			t.Fatalf("reordered index answers %v, after load %v", a, b)
		}
	}
}

// TestUpperRowReuse: nodes with upper levels deleted and compacted leave their upper rows for
// later nodes of the same level, so churn (delete, compact, insert again) does not grow memory,
// and the graph stays searchable.
func TestUpperRowReuse(t *testing.T) {
	ds := makeData(2000, 8, 30, false)
	x := build(t, ann.L2, ds, func(c *hnsw.Config) { c.M, c.CompactRatio = 4, -1 })
	mem := x.MemoryBytes()
	for round := range 5 {
		for i := round % 3; i < 2000; i += 3 {
			x.Delete(ds.Keys[i])
		}
		x.Compact()
		for i := round % 3; i < 2000; i += 3 {
			if err := x.Add(ds.Keys[i], ds.Row(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := x.MemoryBytes(); got > mem*11/10 {
		t.Errorf("memory grew from %d to %d over delete/compact/insert rounds", mem, got)
	}
	if r := anntest.Recall(t, x, ann.L2, ds, 10, ann.SearchOptions{EF: 80}, nil); r < 0.9 {
		t.Errorf("recall after churn %.3f", r)
	}
}

// TestBytesPerNode pins the memory of an index with integer keys: at 128 dimensions and m 16 a
// node holds its vector (512 B) and level-0 list (132 B); the rest (key, key map entry, upper
// rows, level, tombstone flag, and the slack of 5,120 slots for 5,000 nodes) was 147 B before
// integer keys, their map and upper lists were stored compactly, 47 B after.
func TestBytesPerNode(t *testing.T) {
	const n, dims = 5000, 128
	ds := makeData(n, dims, 1, false)
	x := build(t, ann.L2, ds, func(c *hnsw.Config) { c.Threads = 2 })
	const fixed = dims*4 + (2*16+1)*4
	per := float64(x.MemoryBytes()) / float64(x.Len())
	t.Logf("%.1f bytes per node, %.1f beyond the vector and level-0 list", per, per-fixed)
	if per > fixed+55 {
		t.Errorf("%.1f bytes per node; want at most %d", per, fixed+55)
	}
}

// TestConcurrentNodeTables runs searches (plain and filtered on keys) against inserts that grow
// the upper rows (m 4: a quarter of the nodes have upper levels), the first text and uuid keys
// (which allocate the general key table) arriving mid-way, upserts, and deletes that compact
// (freeing upper rows that later inserts reuse). Under -race it checks the node tables' locking;
// at the end every key is found with its latest vector.
func TestConcurrentNodeTables(t *testing.T) {
	const n = 3000
	ds := makeData(n, 8, 20, false)
	cfg := hnsw.DefaultConfig(ann.L2, ds.Dims)
	cfg.M, cfg.Threads, cfg.CompactRatio = 4, 2, 0.05
	x, err := hnsw.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.AddBatch(context.Background(), ds.Keys[:100], ds.Data[:100*ds.Dims]); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				opts := ann.SearchOptions{}
				if w == 1 {
					opts.Filter = func(k ann.Key) bool { return k.Kind() != ann.KindInt || k.Int()%2 == 0 }
				}
				if _, err := x.Search(context.Background(), ds.Queries[i%len(ds.Queries)], 5, opts); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for i := 100 + w; i < n; i += 2 {
				if err := x.Add(mixedKey(i), ds.Row(i)); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					x.Delete(mixedKey(i - 50))
				}
				if i%11 == 0 { // upsert an earlier row with its own vector
					if err := x.Add(mixedKey(i-20), ds.Row(i-20)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	x.Compact()
	deleted := func(i int) bool { return i >= 100 && i+50 < n && (i+50)%5 == 0 }
	live := 0
	for i := 100; i < n; i++ {
		v, ok := x.Vector(mixedKey(i))
		if deleted(i) {
			// A delete may run before the row's upsert re-adds it: either is right.
			continue
		}
		live++
		if !ok || !slices.Equal(v, ds.Row(i)) {
			t.Fatalf("row %d (%v): %v %v", i, mixedKey(i), v, ok)
		}
	}
	if live < n/2 {
		t.Fatalf("only %d live rows checked", live)
	}
}
