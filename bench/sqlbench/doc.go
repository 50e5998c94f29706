// Package sqlbench is `vecgate bench sql`: the same top-k query stream sent over SQL to
// pgvector's HNSW directly and through an in-process vecgate in front of the same database,
// measured at each ef and client count (recall@k, QPS, p50/p99, build time, index bytes) and
// compared at equal-or-better recall.
//
// Run does the work and returns a Report, which writes itself as Markdown tables (Markdown) or
// as a recall-against-QPS plot (SVG); its JSON form is the command's --json output. The vecgate
// measured is started through Options.Start, so this package does not depend on how the
// command wires a gateway. cmd/vecgate parses the flags and writes the files.
//
// Figures are ratios against pgvector measured in the same run, on the same machine; each cell
// keeps its fastest of Options.Rounds interleaved rounds.
package sqlbench
