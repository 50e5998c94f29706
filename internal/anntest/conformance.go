package anntest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/vecgate/vecgate/ann"
)

// Impl describes an ann.Index implementation (one configuration of it) to
// [Conformance].
type Impl struct {
	// New returns an empty index for metric m and dims dimensions. An error
	// wrapping ann.ErrUnsupported skips the metric.
	New func(m ann.Metric, dims int) (ann.Index, error)
	// Load reads what the index's Save wrote.
	Load func(r io.Reader) (ann.Index, error)
	// Exhaustive are search options under which a search of the suite's
	// sets (at most 400 rows) ranks every row by its exact distance.
	Exhaustive ann.SearchOptions
	// Estimates: reported distances are estimates (codes without the
	// vectors), so results are held to the contract (order, k, filter, no
	// deleted key) but not to the exact answer.
	Estimates bool
}

// Metrics are the metrics Conformance tries.
var Metrics = []ann.Metric{ann.L2, ann.InnerProduct, ann.Cosine, ann.L1}

// Conformance runs the contract of ann.Index (ann/doc.go) against impl, per
// metric: an empty index; exact top-k at exhaustive settings on a small set
// as it grows, with and without a filter; upserts and deletes against a
// model; exact ties; Save/Load round trips; and the rejection of invalid
// vectors and k.
func Conformance(t *testing.T, impl Impl) {
	for _, m := range Metrics {
		t.Run(m.Name(), func(t *testing.T) {
			if _, err := impl.New(m, 4); errors.Is(err, ann.ErrUnsupported) {
				t.Skipf("%v unsupported", m)
			}
			s := suite{impl: impl, m: m}
			t.Run("Empty", s.empty)
			t.Run("ExactAsItGrows", s.exactAsItGrows)
			t.Run("UpsertDelete", s.upsertDelete)
			t.Run("Ties", s.ties)
			t.Run("SaveLoad", s.saveLoad)
			t.Run("Invalid", s.invalid)
		})
	}
}

type suite struct {
	impl Impl
	m    ann.Metric
}

const dims = 16

func (s suite) index(t *testing.T) ann.Index {
	t.Helper()
	x, err := s.impl.New(s.m, dims)
	if err != nil {
		t.Fatal(err)
	}
	if x.Metric() != s.m || x.Dims() != dims || x.Len() != 0 {
		t.Fatalf("new index: metric %v dims %d len %d, want %v %d 0", x.Metric(), x.Dims(), x.Len(), s.m, dims)
	}
	return x
}

// filled returns a new index holding ds's rows (added one at a time), and its model.
func (s suite) filled(t *testing.T, ds Dataset) (ann.Index, Model) {
	t.Helper()
	x := s.index(t)
	md := Model{}
	for i, key := range ds.Keys {
		if err := x.Add(key, ds.Row(i)); err != nil {
			t.Fatal(err)
		}
		md[key] = ds.Row(i)
	}
	return x, md
}

// Model is the rows an index should hold, to hold it against the exact answer.
type Model map[ann.Key][]float32

// Dataset returns the model's rows (of dims floats) in key order, so Exact's ties are
// deterministic.
func (md Model) Dataset(dims int, queries [][]float32) Dataset {
	keys := slices.SortedFunc(maps.Keys(md), func(a, b ann.Key) int { return cmp.Compare(a.String(), b.String()) })
	ds := Dataset{Dims: dims, Keys: keys, Queries: queries}
	for _, k := range keys {
		ds.Data = append(ds.Data, md[k]...)
	}
	return ds
}

// Exact returns the k rows of the model nearest q under m among those keep accepts (nil: all).
func (md Model) Exact(m ann.Metric, dims int, q []float32, k int, keep func(ann.Key) bool) []ann.Result {
	ds := md.Dataset(dims, nil)
	var keepRow func(int) bool
	if keep != nil {
		keepRow = func(i int) bool { return keep(ds.Keys[i]) }
	}
	return Exact(m, ds, q, k, false, keepRow)
}

// check searches x for every query (k results, exhaustive options, with keep as
// the filter when set) and compares with the model's exact answer.
func (s suite) check(t *testing.T, x ann.Index, md Model, queries [][]float32, k int, keep func(ann.Key) bool) {
	t.Helper()
	if x.Len() != len(md) {
		t.Fatalf("Len %d, want %d", x.Len(), len(md))
	}
	opts := s.impl.Exhaustive
	opts.Filter = keep
	for _, q := range queries {
		got, err := x.Search(context.Background(), q, k, opts)
		if err != nil {
			t.Fatal(err)
		}
		CheckOrdered(t, got, k)
		for _, r := range got {
			if _, ok := md[r.Key]; !ok {
				t.Fatalf("returned %v, which the index should not hold", r.Key)
			}
			if keep != nil && !keep(r.Key) {
				t.Fatalf("returned %v, which the filter refuses", r.Key)
			}
		}
		want := md.Exact(s.m, dims, q, k, keep)
		if s.impl.Estimates {
			if len(got) != len(want) {
				t.Fatalf("%d results, want %d", len(got), len(want))
			}
			continue
		}
		SameResults(t, got, want)
	}
}

func (s suite) empty(t *testing.T) {
	x := s.index(t)
	q := RandomVector(rand.New(rand.NewPCG(1, 1)), dims)
	if _, err := x.Search(context.Background(), q, 3, s.impl.Exhaustive); !errors.Is(err, ann.ErrEmpty) {
		t.Fatalf("search of an empty index: %v, want ErrEmpty", err)
	}
	if x.Delete(ann.IntKey(1)) {
		t.Fatal("Delete of an absent key reported it present")
	}
}

// exactAsItGrows adds a random set one row at a time and checks exact answers at a few sizes
// (an IVF index trains on the way).
func (s suite) exactAsItGrows(t *testing.T) {
	x := s.index(t)
	ds := Random(300, dims, 8, 7)
	md := Model{}
	even := func(k ann.Key) bool { return k.Int()%2 == 0 }
	for i, key := range ds.Keys {
		if err := x.Add(key, ds.Row(i)); err != nil {
			t.Fatal(err)
		}
		md[key] = ds.Row(i)
		if n := i + 1; n == 1 || n == 50 || n == 300 {
			s.check(t, x, md, ds.Queries, 10, nil)
			s.check(t, x, md, ds.Queries, 7, even)
		}
	}
	// k larger than the index: every row.
	s.check(t, x, md, ds.Queries[:2], 400, nil)
}

func (s suite) upsertDelete(t *testing.T) {
	ds := Random(300, dims, 8, 11)
	x, md := s.filled(t, ds)
	r := rand.New(rand.NewPCG(11, 2))
	// Upserts move rows; a query at a moved row's new place must find it.
	for i := 0; i < 300; i += 7 {
		v := RandomVector(r, dims)
		if err := x.Add(ds.Keys[i], v); err != nil {
			t.Fatal(err)
		}
		md[ds.Keys[i]] = v
	}
	s.check(t, x, md, append(slices.Clone(ds.Queries), md[ds.Keys[7]]), 10, nil)
	// Deletes: reported once, never returned.
	for i := 0; i < 300; i += 3 {
		if !x.Delete(ds.Keys[i]) {
			t.Fatalf("Delete(%v) reported it absent", ds.Keys[i])
		}
		if x.Delete(ds.Keys[i]) {
			t.Fatalf("second Delete(%v) reported it present", ds.Keys[i])
		}
		delete(md, ds.Keys[i])
	}
	s.check(t, x, md, ds.Queries, 10, nil)
	// A deleted key comes back with Add.
	if err := x.Add(ds.Keys[3], ds.Queries[0]); err != nil {
		t.Fatal(err)
	}
	md[ds.Keys[3]] = ds.Queries[0]
	s.check(t, x, md, ds.Queries, 10, nil)
	for k := range md {
		x.Delete(k)
	}
	if x.Len() != 0 {
		t.Fatalf("Len %d after deleting everything", x.Len())
	}
	if _, err := x.Search(context.Background(), ds.Queries[0], 3, s.impl.Exhaustive); !errors.Is(err, ann.ErrEmpty) {
		t.Fatalf("search after deleting everything: %v, want ErrEmpty", err)
	}
}

// ties: every row three times under different keys.
func (s suite) ties(t *testing.T) {
	ds := WithDuplicates(Random(100, dims, 6, 13), 3)
	x, md := s.filled(t, ds)
	s.check(t, x, md, ds.Queries, 10, nil)
}

func (s suite) saveLoad(t *testing.T) {
	ds := Random(300, dims, 8, 17)
	x, md := s.filled(t, ds)
	// Every key kind, and a deleted row.
	extra := map[ann.Key][]float32{ann.TextKey("héllo"): ds.Queries[0], ann.UUIDKey([16]byte{1, 2, 3}): ds.Queries[1]}
	for k, v := range extra {
		if err := x.Add(k, v); err != nil {
			t.Fatal(err)
		}
	}
	x.Delete(ds.Keys[5])
	var buf bytes.Buffer
	if err := x.Save(&buf); err != nil {
		t.Fatal(err)
	}
	y, err := s.impl.Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if y.Len() != x.Len() || y.Metric() != s.m || y.Dims() != dims {
		t.Fatalf("loaded: len %d metric %v dims %d, want %d %v %d", y.Len(), y.Metric(), y.Dims(), x.Len(), s.m, dims)
	}
	for _, q := range ds.Queries {
		for _, opts := range []ann.SearchOptions{{}, s.impl.Exhaustive} {
			a, errA := x.Search(context.Background(), q, 10, opts)
			b, errB := y.Search(context.Background(), q, 10, opts)
			if errA != nil || errB != nil || !slices.Equal(a, b) {
				t.Fatalf("results differ after load (%+v):\n before %v (%v)\n after  %v (%v)", opts, a, errA, b, errB)
			}
		}
	}
	// The loaded index keeps working.
	if err := y.Add(ann.TextKey("new"), ds.Queries[2]); err != nil {
		t.Fatal(err)
	}
	if !y.Delete(ds.Keys[6]) || y.Delete(ds.Keys[5]) {
		t.Fatal("Delete after load reported the wrong presence")
	}
	delete(md, ds.Keys[5])
	delete(md, ds.Keys[6])
	maps.Copy(md, extra)
	md[ann.TextKey("new")] = ds.Queries[2]
	s.check(t, y, md, ds.Queries, 10, nil)
	// Damage is refused.
	data := buf.Bytes()
	for _, n := range []int{0, 15, len(data) / 2, len(data) - 1} {
		if _, err := s.impl.Load(bytes.NewReader(data[:n])); !errors.Is(err, ann.ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", n, err)
		}
	}
	bad := slices.Clone(data)
	bad[len(bad)/2] ^= 1
	if _, err := s.impl.Load(bytes.NewReader(bad)); !errors.Is(err, ann.ErrCorrupt) {
		t.Fatalf("flipped bit: %v, want ErrCorrupt", err)
	}
}

func (s suite) invalid(t *testing.T) {
	ds := Random(20, dims, 1, 19)
	x, _ := s.filled(t, ds)
	good := ds.Queries[0]
	with := func(i int, f float32) []float32 { v := slices.Clone(good); v[i] = f; return v }
	cases := []struct {
		name string
		vec  []float32
		want error
	}{
		{"short", good[:dims-1], ann.ErrDimension},
		{"long", append(slices.Clone(good), 1), ann.ErrDimension},
		{"nan", with(3, float32(math.NaN())), ann.ErrNaN},
		{"+inf", with(0, float32(math.Inf(1))), ann.ErrInf},
		{"-inf", with(dims-1, float32(math.Inf(-1))), ann.ErrInf},
	}
	zero := make([]float32, dims)
	if s.m == ann.Cosine {
		cases = append(cases, struct {
			name string
			vec  []float32
			want error
		}{"zero", zero, ann.ErrZeroVector})
	}
	for _, c := range cases {
		if err := x.Add(ann.IntKey(1000), c.vec); !errors.Is(err, c.want) {
			t.Errorf("Add %s: %v, want %v", c.name, err, c.want)
		}
		if _, err := x.Search(context.Background(), c.vec, 3, s.impl.Exhaustive); !errors.Is(err, c.want) {
			t.Errorf("Search %s: %v, want %v", c.name, err, c.want)
		}
	}
	var de *ann.DimensionError
	if err := x.Add(ann.IntKey(1000), good[:2]); !errors.As(err, &de) || de.Want != dims || de.Got != 2 {
		t.Errorf("dimension error %v, want DimensionError{%d, 2}", err, dims)
	}
	if x.Len() != 20 {
		t.Errorf("Len %d after rejected adds, want 20", x.Len())
	}
	for _, k := range []int{0, -1} {
		if _, err := x.Search(context.Background(), good, k, s.impl.Exhaustive); !errors.Is(err, ann.ErrBadK) {
			t.Errorf("k=%d: %v, want ErrBadK", k, err)
		}
	}
	if s.m != ann.Cosine {
		// A zero vector is a valid row and query under the other metrics.
		if err := x.Add(ann.IntKey(1001), zero); err != nil {
			t.Errorf("Add zero vector under %v: %v", s.m, err)
		}
		if _, err := x.Search(context.Background(), zero, 3, s.impl.Exhaustive); err != nil {
			t.Errorf("Search zero vector under %v: %v", s.m, err)
		}
	}
}
