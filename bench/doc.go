// Package bench holds vecgate's benchmark tooling: readers and writers for
// the TEXMEX / ann-benchmarks .fvecs and .ivecs formats, a seeded generator
// of clustered synthetic vectors, recall computation, and the engine runner
// behind `vecgate bench engine`; bench/sqlbench is `vecgate bench sql`. Serving code must not
// import them.
package bench
