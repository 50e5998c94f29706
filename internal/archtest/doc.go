// Package archtest holds the test that keeps docs/architecture.md's package graph equal to the
// module's imports (`go list -deps`) and the dependency rules of the layout: the proxy knows
// neither the planner nor the live indexes, the planner does not know the proxy, observe does
// not know the gateway, and the index engine (ann, quant) imports nothing of SQL or Postgres.
//
// Regenerate the graph with: go test ./internal/archtest -update
package archtest
