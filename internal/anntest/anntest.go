// Package anntest is the shared test kit of vecgate's in-memory indexes:
// seeded data sets (random, clustered, with duplicates), the exact answer
// computed the slow way with ann.Metric.Distance, recall against it, and
// [Conformance], the suite every ann.Index implementation passes (ann/flat,
// ann/hnsw, ann/ivf in its variants).
//
// It is imported by tests only. It uses bench's generators, and bench
// imports the index packages, so a package's internal tests (package hnsw,
// not hnsw_test) cannot import it.
package anntest

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/bench"
)

// Dataset is rows of Dims floats under Keys, and query vectors.
type Dataset struct {
	Dims    int
	Data    []float32 // len(Keys) rows, contiguous
	Queries [][]float32
	Keys    []ann.Key
}

// Row returns row i.
func (ds Dataset) Row(i int) []float32 { return ds.Data[i*ds.Dims : (i+1)*ds.Dims] }

// Len returns the number of rows.
func (ds Dataset) Len() int { return len(ds.Keys) }

// intKeys returns keys 0 … n-1.
func intKeys(n int) []ann.Key {
	keys := make([]ann.Key, n)
	for i := range keys {
		keys[i] = ann.IntKey(int64(i))
	}
	return keys
}

// Clustered returns n rows (keys 0 … n-1) and nq queries drawn around the
// same clusters Gaussian centres (bench.Clustered), unit length when
// normalize is set. The same arguments always give the same data.
func Clustered(n, dims, nq, clusters int, seed uint64, normalize bool) Dataset {
	cfg := bench.GenConfig{N: n, Dims: dims, Clusters: clusters, Seed: seed, Normalize: normalize}
	return Dataset{Dims: dims, Data: bench.Clustered(cfg), Queries: bench.Rows(bench.ClusteredQueries(cfg, nq), dims), Keys: intKeys(n)}
}

// Random returns n rows (keys 0 … n-1) and nq queries with N(0, 1)
// components, from one seeded stream.
func Random(n, dims, nq int, seed uint64) Dataset {
	r := rand.New(rand.NewPCG(seed, 1))
	ds := Dataset{Dims: dims, Data: make([]float32, n*dims), Keys: intKeys(n)}
	for i := range ds.Data {
		ds.Data[i] = float32(r.NormFloat64())
	}
	for range nq {
		ds.Queries = append(ds.Queries, RandomVector(r, dims))
	}
	return ds
}

// RandomVector returns a vector with N(0, 1) components.
func RandomVector(r *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for j := range v {
		v[j] = float32(r.NormFloat64())
	}
	return v
}

// WithDuplicates returns ds with every row repeated copies times under new
// keys (row i's copies are keys i + c·n): exact ties everywhere, the case
// graph indexes find hardest and tie-breaking tests need.
func WithDuplicates(ds Dataset, copies int) Dataset {
	n := ds.Len()
	out := Dataset{Dims: ds.Dims, Queries: ds.Queries}
	for c := range copies {
		out.Data = append(out.Data, ds.Data...)
		for i := range n {
			out.Keys = append(out.Keys, ann.IntKey(int64(i+c*n)))
		}
	}
	return out
}

// Exact returns the k nearest (farthest when farthest is set) rows of ds to
// q under m, among the rows whose index keep accepts (nil: all), computed
// with ann.Metric.Distance: the reference every index is held against.
// Ties keep row order.
func Exact(m ann.Metric, ds Dataset, q []float32, k int, farthest bool, keep func(i int) bool) []ann.Result {
	var rs []ann.Result
	for i, key := range ds.Keys {
		if keep != nil && !keep(i) {
			continue
		}
		rs = append(rs, ann.Result{Key: key, Distance: m.Distance(q, ds.Row(i))})
	}
	sort.SliceStable(rs, func(a, b int) bool {
		if farthest {
			return rs[a].Distance > rs[b].Distance
		}
		return rs[a].Distance < rs[b].Distance
	})
	return rs[:min(k, len(rs))]
}

// Recall returns recall@k of x over ds.Queries against Exact, over the rows
// whose index keep accepts (nil: all). It fails t if a search errs, returns
// more than k results or results out of order, or returns a row keep
// refuses. ds's keys must be IntKey(row).
func Recall(t testing.TB, x ann.Index, m ann.Metric, ds Dataset, k int, opts ann.SearchOptions, keep func(i int) bool) float64 {
	t.Helper()
	var hit, total int
	for _, q := range ds.Queries {
		want := Exact(m, ds, q, k, false, keep)
		got, err := x.Search(context.Background(), q, k, opts)
		if err != nil {
			t.Fatal(err)
		}
		CheckOrdered(t, got, k)
		set := make(map[ann.Key]bool, len(want))
		for _, r := range want {
			set[r.Key] = true
		}
		for _, r := range got {
			if keep != nil && !keep(int(r.Key.Int())) {
				t.Fatalf("returned excluded key %v", r.Key)
			}
			if set[r.Key] {
				hit++
			}
		}
		total += len(want)
	}
	return float64(hit) / float64(total)
}

// CheckOrdered fails t unless rs holds at most k results, ascending by
// distance, each key once.
func CheckOrdered(t testing.TB, rs []ann.Result, k int) {
	t.Helper()
	if len(rs) > k {
		t.Fatalf("%d results for k=%d", len(rs), k)
	}
	seen := make(map[ann.Key]bool, len(rs))
	for i, r := range rs {
		if i > 0 && r.Distance < rs[i-1].Distance {
			t.Fatalf("results not ascending at %d: %v", i, rs)
		}
		if seen[r.Key] {
			t.Fatalf("key %v returned twice: %v", r.Key, rs)
		}
		seen[r.Key] = true
	}
}

// SameResults fails t unless got matches want: the same length, distances
// within 1e-4 relative, and the same keys except where distances (nearly)
// tie.
func SameResults(t testing.TB, got, want []ann.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d:\n got  %v\n want %v", len(got), len(want), got, want)
	}
	for i := range got {
		if math.Abs(got[i].Distance-want[i].Distance) > 1e-4*math.Max(1, math.Abs(want[i].Distance)) {
			t.Fatalf("result %d: distance %v, want %v", i, got[i].Distance, want[i].Distance)
		}
	}
	// Keys may differ only among (near) ties: compare the sets of keys at
	// each distinct distance, with a tolerance.
	if !slices.EqualFunc(got, want, func(a, b ann.Result) bool { return a.Key == b.Key }) {
		tie := func(a, b float64) bool { return math.Abs(a-b) <= 1e-5*math.Max(1, math.Abs(b)) }
		for i := range got {
			if got[i].Key == want[i].Key {
				continue
			}
			found := false
			for j := range want {
				if want[j].Key == got[i].Key && tie(want[j].Distance, got[i].Distance) {
					found = true
					break
				}
			}
			// A key beyond the last wanted distance is a tie with the boundary.
			if !found && !tie(got[i].Distance, want[len(want)-1].Distance) {
				t.Fatalf("result %d: key %v at %v, want %v at %v", i, got[i].Key, got[i].Distance, want[i].Key, want[i].Distance)
			}
		}
	}
}

// Outliers returns n rows (keys first, first+1, …) far outside the range of data drawn with
// Clustered or Random: each is scale × (|g| + 1 + 8·e_j), g with N(0, 1) components and a spike
// on dimension j = i mod dims, all in the positive orthant. Scaled, they leave an L2 or
// inner-product quantiser's range (every component clips to the same code); their spikes point
// where no trained row does, so they leave a cosine quantiser's too. No two are alike, but a
// quantiser that clips them gives many of them the same codes: the rows a quantised index drops
// when it keeps the range it was trained with.
func Outliers(n, dims int, scale float32, first int64, seed uint64) Dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	ds := Dataset{Dims: dims, Data: make([]float32, 0, n*dims)}
	for i := range n {
		v := RandomVector(r, dims)
		for j := range v {
			v[j] = scale * (float32(math.Abs(float64(v[j]))) + 1)
		}
		v[i%dims] += 8 * scale
		ds.Data = append(ds.Data, v...)
		ds.Keys = append(ds.Keys, ann.IntKey(first+int64(i)))
	}
	return ds
}

// NearestFound counts the rows of queries whose exact nearest neighbour among all (under m) is in
// x's first k answers to a search with the row's own vector (opts), and logs the first misses.
// Under L2 and cosine that neighbour is the row itself; k 1 asks for it to come first (an index
// with exact distances), a larger k for it to be among the candidates (an index whose caller
// reranks).
func NearestFound(t testing.TB, x ann.Index, m ann.Metric, all, queries Dataset, k int, opts ann.SearchOptions) int {
	t.Helper()
	found := 0
	for i := range queries.Keys {
		q := queries.Row(i)
		want := Exact(m, all, q, 1, false, nil)[0].Key
		rs, err := x.Search(context.Background(), q, k, opts)
		if err != nil {
			t.Fatalf("search row %v: %v", queries.Keys[i], err)
		}
		if slices.ContainsFunc(rs, func(r ann.Result) bool { return r.Key == want }) {
			found++
		} else if i-found < 3 {
			t.Logf("row %v: want %v, got %v", queries.Keys[i], want, rs)
		}
	}
	return found
}

// Concat returns the rows of a followed by those of b (queries of a).
func Concat(a, b Dataset) Dataset {
	return Dataset{Dims: a.Dims, Queries: a.Queries, Data: append(slices.Clip(a.Data), b.Data...),
		Keys: append(slices.Clip(a.Keys), b.Keys...)}
}
