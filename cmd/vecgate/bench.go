package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/quant"
)

const benchUsage = `usage: vecgate bench <gen|gt|engine|sql> [flags]

  gen     write synthetic clustered vectors (seeded) as .fvecs
  gt      compute exact ground truth (.ivecs) with the flat index
  engine  build an index over base vectors and measure recall, QPS, latency
  sql     pgvector HNSW vs the same queries through vecgate, over SQL (see docs/sql-bench.md)

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
	data, dims, err := bench.ReadFvecsFile(*dataPath)
	if err != nil {
		return fmt.Errorf("bench gt: %w", err)
	}
	qdata, qdims, err := bench.ReadFvecsFile(*qPath)
	if err != nil {
		return fmt.Errorf("bench gt: %w", err)
	}
	if qdims != dims {
		return fmt.Errorf("bench gt: %w", &ann.DimensionError{Want: dims, Got: qdims})
	}
	start := time.Now()
	last := time.Now()
	gt, err := flat.GroundTruth(ctx, m, dims, data, bench.Rows(qdata, dims), *k, *threads, func(done, total int) {
		if time.Since(last) > 2*time.Second || done == total {
			last = time.Now()
			fmt.Fprintf(stderr, "\rground truth %d/%d queries", done, total)
		}
	})
	fmt.Fprintln(stderr)
	if err != nil {
		return fmt.Errorf("bench gt: %w", err)
	}
	if err := bench.WriteFile(*out, func(w io.Writer) error { return bench.WriteIvecs(w, gt) }); err != nil {
		return fmt.Errorf("bench gt: %w", err)
	}
	fmt.Fprintf(stdout, "wrote top-%d of %d queries over %d vectors to %s in %.2fs\n",
		*k, len(gt), len(data)/dims, *out, time.Since(start).Seconds())
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad list element %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func benchEngine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench engine", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataPath := fs.String("data", "", "base vectors (.fvecs)")
	qPath := fs.String("queries", "", "query vectors (.fvecs)")
	gtPath := fs.String("gt", "", "ground truth (.ivecs); computed with the flat index when empty")
	metricName := fs.String("metric", "l2", "l2 | ip | cosine")
	kind := fs.String("index", "hnsw", "flat | hnsw | ivf")
	quantizer := fs.String("quantizer", "none", "none | sq8 | binary | pq")
	dims := fs.Int("dims", 0, "Matryoshka: keep the first N dims (renormalised for cosine/ip); 0 keeps all")
	m := fs.Int("m", 16, "HNSW neighbours per node")
	efc := fs.Int("ef-construction", 64, "HNSW build candidate list size")
	efs := fs.String("ef", "10,20,40,80,160,320", "HNSW ef_search values to sweep")
	lists := fs.Int("lists", 100, "IVF lists")
	probes := fs.String("probes", "1,2,4,8,16,32", "IVF probes to sweep")
	pqm := fs.Int("pq-segments", 0, "PQ sub-vectors (0: dims/4)")
	oversample := fs.Float64("oversample", 0, "quantised indexes: candidates x oversample reranked at full precision (0: index default)")
	codesOnly := fs.Bool("codes-only", false, "quantised indexes: keep no float32 vectors (no in-memory rerank)")
	k := fs.Int("k", 10, "neighbours per query (recall@k)")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "threads for build and the all-threads QPS run")
	minQ := fs.Int("min-queries", 0, "repeat the queries until at least this many ran single-threaded")
	seed := fs.Uint64("seed", 1, "random seed")
	jsonPath := fs.String("json", "", "also write the rows as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	metric, err := ann.ParseMetric(*metricName)
	if err != nil {
		return err
	}
	if *k <= 0 {
		return fmt.Errorf("bench engine: -k must be positive")
	}
	data, d, err := bench.ReadFvecsFile(*dataPath)
	if err != nil {
		return fmt.Errorf("bench engine: %w", err)
	}
	qdata, qd, err := bench.ReadFvecsFile(*qPath)
	if err != nil {
		return fmt.Errorf("bench engine: %w", err)
	}
	if qd != d {
		return fmt.Errorf("bench engine: %w", &ann.DimensionError{Want: d, Got: qd})
	}
	truth, err := engineTruth(ctx, *gtPath, metric, d, data, qdata, *k, *threads, stderr)
	if err != nil {
		return fmt.Errorf("bench engine: %w", err)
	}
	if *dims > 0 && *dims < d {
		renorm := metric == ann.Cosine || metric == ann.InnerProduct
		if data, err = quant.TruncateRows(data, d, *dims, renorm); err != nil {
			return err
		}
		if qdata, err = quant.TruncateRows(qdata, d, *dims, renorm); err != nil {
			return err
		}
		d = *dims
	}
	spec := bench.IndexSpec{Kind: *kind, Quantizer: *quantizer, Metric: metric, M: *m, EFConstruction: *efc,
		Lists: *lists, PQSegments: *pqm, Oversample: *oversample, CodesOnly: *codesOnly, Threads: *threads, Seed: *seed}
	build, err := bench.NewBuilder(spec)
	if err != nil {
		return err
	}
	settings, err := engineSettings(*kind, *efs, *probes, *oversample)
	if err != nil {
		return fmt.Errorf("bench engine: %w", err)
	}
	label := spec.Label()
	if *dims > 0 {
		label += " dims=" + strconv.Itoa(d)
	}
	var scan float64
	if *kind == "flat" && (*quantizer == "none" || *quantizer == "") {
		scan = float64(len(data)) * 4
	}
	rows, err := bench.RunEngine(ctx, bench.EngineConfig{
		Name: label, Build: build, Data: data, Dims: d, Queries: qdata, Truth: truth,
		K: *k, Threads: *threads, Settings: settings, MinQueries: *minQ, ScanBytes: scan,
	}, stdout)
	if err != nil {
		return err
	}
	if *jsonPath != "" {
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("bench engine: %w", err)
		}
	}
	return nil
}

// engineTruth reads the ground truth from path, or computes it with the flat index when path is "".
func engineTruth(ctx context.Context, path string, metric ann.Metric, d int, data, qdata []float32, k, threads int, stderr io.Writer) ([][]int32, error) {
	if path == "" {
		fmt.Fprintln(stderr, "computing ground truth with the flat index")
		return flat.GroundTruth(ctx, metric, d, data, bench.Rows(qdata, d), k, threads, nil)
	}
	truth, err := bench.ReadIvecsFile(path)
	if err != nil {
		return nil, err
	}
	if len(truth) < len(qdata)/d {
		return nil, fmt.Errorf("ground truth has %d rows for %d queries", len(truth), len(qdata)/d)
	}
	return truth, nil
}

// engineSettings are the search settings bench engine sweeps for an index kind: ef values for
// hnsw, probes for ivf, one exact search otherwise.
func engineSettings(kind, efs, probes string, oversample float64) ([]bench.Setting, error) {
	knob, list := "ef", efs
	switch kind {
	case "hnsw":
	case "ivf":
		knob, list = "probes", probes
	default:
		return []bench.Setting{{Label: "exact", Opts: ann.SearchOptions{Oversample: oversample}}}, nil
	}
	values, err := parseInts(list)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", knob, err)
	}
	settings := make([]bench.Setting, len(values))
	for i, v := range values {
		opts := ann.SearchOptions{EF: v, Oversample: oversample}
		if knob == "probes" {
			opts = ann.SearchOptions{Probes: v, Oversample: oversample}
		}
		settings[i] = bench.Setting{Label: knob + "=" + strconv.Itoa(v), Opts: opts}
	}
	return settings, nil
}
