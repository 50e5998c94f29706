package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/bench/sqlbench"
)

const benchUsage = `usage: vecgate bench <gen|gt|engine|sql|soak> [flags]

  gen     write synthetic clustered vectors (seeded) as .fvecs
  gt      compute exact ground truth (.ivecs) with the flat index
  engine  build an index over base vectors and measure recall, QPS, latency
  sql     pgvector HNSW vs the same queries through vecgate, over SQL (see docs/sql-bench.md)
  soak    many clients on a mixed load through vecgate and a fault relay, checked against Postgres

Run 'vecgate bench <subcommand> -h' for its flags.
`

// runBench implements `vecgate bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "gen":
		return benchGen(args[1:], stdout, stderr)
	case "gt":
		return benchGT(ctx, args[1:], stdout, stderr)
	case "engine":
		return benchEngine(ctx, args[1:], stdout, stderr)
	case "sql":
		return runBenchSQL(ctx, args[1:], stdout, stderr)
	case "soak":
		return runBenchSoak(ctx, args[1:], stdout, stderr)
	case "client": // a cell of `bench sql --client-process`, run by it in a child process
		if len(args) != 2 {
			return errors.New("bench client: usage: vecgate bench client CELL.json")
		}
		return sqlbench.RunClient(ctx, args[1], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, benchUsage)
		return nil
	}
	fmt.Fprint(stderr, benchUsage)
	return fmt.Errorf("bench: unknown subcommand %q", args[0])
}

func benchGen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 100000, "number of base vectors")
	nq := fs.Int("nq", 1000, "number of query vectors (0: none)")
	dims := fs.Int("dims", 128, "dimensions")
	clusters := fs.Int("clusters", 0, "number of Gaussian clusters (0: n/100)")
	spread := fs.Float64("spread", 0.35, "standard deviation of points around their centre")
	normalize := fs.Bool("normalize", false, "scale every vector to unit length")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "base.fvecs", "base vectors output file")
	qout := fs.String("queries-out", "queries.fvecs", "query vectors output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 || *dims <= 0 || *nq < 0 {
		return fmt.Errorf("bench gen: -n and -dims must be positive")
	}
	cfg := bench.GenConfig{N: *n, Dims: *dims, Clusters: *clusters, Spread: *spread, Normalize: *normalize, Seed: *seed}
	data := bench.Clustered(cfg)
	if err := bench.WriteFile(*out, func(w io.Writer) error { return bench.WriteFvecs(w, data, *dims) }); err != nil {
		return fmt.Errorf("bench gen: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d x %d to %s\n", *n, *dims, *out)
	if *nq > 0 {
		qs := bench.ClusteredQueries(cfg, *nq)
		if err := bench.WriteFile(*qout, func(w io.Writer) error { return bench.WriteFvecs(w, qs, *dims) }); err != nil {
			return fmt.Errorf("bench gen: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %d x %d to %s\n", *nq, *dims, *qout)
	}
	return nil
}

func benchGT(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench gt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataPath := fs.String("data", "", "base vectors (.fvecs)")
	qPath := fs.String("queries", "", "query vectors (.fvecs)")
	metricName := fs.String("metric", "l2", "l2 | ip | cosine | l1")
	k := fs.Int("k", 100, "neighbours per query")
	threads := fs.Int("threads", 0, "threads (0: all cores)")
	out := fs.String("out", "gt.ivecs", "output file (.ivecs)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	m, err := ann.ParseMetric(*metricName)
	if err != nil {
		return err
	}
	start := time.Now()
	n, q, err := bench.GroundTruthFiles(ctx, bench.GTFiles{Data: *dataPath, Queries: *qPath, Out: *out, Metric: m, K: *k, Threads: *threads}, stderr)
	if err != nil {
		return fmt.Errorf("bench gt: %w", err)
	}
	fmt.Fprintf(stdout, "wrote top-%d of %d queries over %d vectors to %s in %.2fs\n", *k, q, n, *out, time.Since(start).Seconds())
	return nil
}

func benchEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f bench.EngineFiles
	fs.StringVar(&f.Data, "data", "", "base vectors (.fvecs)")
	fs.StringVar(&f.Queries, "queries", "", "query vectors (.fvecs)")
	fs.StringVar(&f.GT, "gt", "", "ground truth (.ivecs); computed with the flat index when empty")
	metricName := fs.String("metric", "l2", "l2 | ip | cosine")
	fs.StringVar(&f.Spec.Kind, "index", "hnsw", "flat | hnsw | ivf")
	fs.StringVar(&f.Spec.Quantizer, "quantizer", "none", "none | sq8 | binary | pq")
	fs.IntVar(&f.Dims, "dims", 0, "Matryoshka: keep the first N dims (renormalised for cosine/ip); 0 keeps all")
	fs.IntVar(&f.Spec.M, "m", 16, "HNSW neighbours per node")
	fs.IntVar(&f.Spec.EFConstruction, "ef-construction", 64, "HNSW build candidate list size")
	efs := fs.String("ef", "10,20,40,80,160,320", "HNSW ef_search values to sweep")
	fs.IntVar(&f.Spec.Lists, "lists", 100, "IVF lists")
	probes := fs.String("probes", "1,2,4,8,16,32", "IVF probes to sweep")
	fs.IntVar(&f.Spec.PQSegments, "pq-segments", 0, "PQ sub-vectors (0: dims/4)")
	fs.Float64Var(&f.Spec.Oversample, "oversample", 0, "quantised indexes: candidates x oversample reranked at full precision (0: index default)")
	fs.BoolVar(&f.Spec.CodesOnly, "codes-only", false, "quantised indexes: keep no float32 vectors (no in-memory rerank)")
	fs.IntVar(&f.K, "k", 10, "neighbours per query (recall@k)")
	fs.IntVar(&f.Spec.Threads, "threads", runtime.GOMAXPROCS(0), "threads for build and the all-threads QPS run")
	fs.IntVar(&f.MinQueries, "min-queries", 0, "repeat the queries until at least this many ran single-threaded")
	fs.Uint64Var(&f.Spec.Seed, "seed", 1, "random seed")
	jsonPath := fs.String("json", "", "also write the rows as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.Spec.Metric, err = ann.ParseMetric(*metricName); err != nil {
		return err
	}
	if f.EFs, err = bench.ParseInts(*efs); err != nil {
		return fmt.Errorf("bench engine: -ef: %w", err)
	}
	if f.Probes, err = bench.ParseInts(*probes); err != nil {
		return fmt.Errorf("bench engine: -probes: %w", err)
	}
	rows, err := bench.RunEngineFiles(ctx, f, stdout, stderr)
	if err != nil {
		return fmt.Errorf("bench engine: %w", err)
	}
	if *jsonPath == "" {
		return nil
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench engine: %w", err)
	}
	return nil
}
