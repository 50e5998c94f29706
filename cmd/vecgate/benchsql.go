package main

// vecgate bench sql: flags and files; the benchmark itself is bench/sqlbench.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/bench/sqlbench"
	"github.com/vecgate/vecgate/gateway"
	"github.com/vecgate/vecgate/proxy"
)

const benchSQLUsage = `usage: vecgate bench sql [flags]

Loads a data set into Postgres (binary COPY), builds pgvector HNSW on it, starts vecgate in-process
in front of the same database, and runs the same prepared top-k query stream
(SELECT <--select> FROM vg_bench_<dims> ORDER BY emb <op> $1 LIMIT $2) at each client count: directly
against pgvector for every hnsw.ef_search value (--ef), and through vecgate at its default settings
or at the hnsw.ef_search values of --vecgate-ef.
Reports recall@k, QPS, p50/p99, build time and index bytes per vector, and vecgate ÷ pgvector ratios
at equal-or-better recall.

Data: --data base.fvecs --queries q.fvecs [--gt gt.ivecs], or --gen N:DIMS (seeded clustered set).
`

// benchSQLOptions are the flags of `vecgate bench sql`: the benchmark's options and the files
// the report goes to.
type benchSQLOptions struct {
	sqlbench.Options
	jsonPath, svgPath string
}

func parseBenchSQLFlags(args []string, stderr io.Writer) (benchSQLOptions, error) {
	fs := flag.NewFlagSet("bench sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchSQLUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	var o benchSQLOptions
	fs.StringVar(&o.DSN, "dsn", os.Getenv("VECGATE_UPSTREAM"), "upstream superuser DSN (default $VECGATE_UPSTREAM)")
	fs.StringVar(&o.Data, "data", "", "base vectors (.fvecs)")
	fs.StringVar(&o.Queries, "queries", "", "query vectors (.fvecs)")
	fs.StringVar(&o.GT, "gt", "", "ground truth (.ivecs); computed with the flat index when empty")
	gen := fs.String("gen", "", "N:DIMS — generate a seeded clustered data set instead of --data/--queries")
	fs.IntVar(&o.NQ, "nq", 1000, "--gen: number of queries")
	fs.Uint64Var(&o.Seed, "seed", 1, "--gen: random seed")
	metric := fs.String("metric", "l2", "l2 | ip | cosine")
	fs.IntVar(&o.M, "m", 16, "HNSW m (pgvector's index and so vecgate's twin)")
	fs.IntVar(&o.EFConstruction, "ef-construction", 64, "HNSW ef_construction")
	efs := fs.String("ef", "10,20,40,80,160,320", "pgvector hnsw.ef_search values for the direct runs")
	vefs := fs.String("vecgate-ef", "default", "hnsw.ef_search values for the runs through vecgate (default: no SET, vecgate's default)")
	fs.IntVar(&o.K, "k", 10, "LIMIT (recall@k)")
	clients := fs.String("clients", "1,16", "client counts (one connection per client)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "timed window per cell")
	fs.StringVar(&o.jsonPath, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.svgPath, "svg", "", "write a recall-vs-QPS plot to this file")
	fs.BoolVar(&o.Keep, "keep", false, "leave the table (and its index) in the database")
	fs.StringVar(&o.MaintenanceWorkMem, "maintenance-work-mem", "2GB", "maintenance_work_mem for CREATE INDEX")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of this process (vecgate and the clients) during the first vecgate run at the largest client count")
	twinFlags(fs, &o.Twins)
	fs.IntVar(&o.Rounds, "rounds", 1, "measure every cell this many times (interleaved) and keep its fastest round")
	fs.StringVar(&o.Select, "select", "id", "the query's select list, the row id first: id (vecgate answers from memory) or e.g. '*' (vecgate sends Postgres the id-list rewrite)")
	fs.DurationVar(&o.LoadTimeout, "load-timeout", time.Hour, "give up when vecgate has not loaded the table by then")
	fs.IntVar(&o.Content, "content", 0, "add the RAG shape's columns: content, a text of about this many bytes, and metadata, a small jsonb (select them with --select 'id, content, metadata')")
	clientProcess := fs.Bool("client-process", true, "run the measured clients in a child process (as an application is), not in the process that runs vecgate")
	paramFormat := fs.String("param-format", "binary", "how the query vector is sent: binary (pgvector-go) or text ('[0.1,…]', as node-postgres, psycopg and the frameworks send it)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("bench sql: unexpected argument %q", fs.Arg(0))
	}
	if *clientProcess {
		exe, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("bench sql: --client-process: %w", err)
		}
		o.ClientCommand = []string{exe, "bench", "client"}
	}
	switch *paramFormat {
	case "binary":
	case "text":
		o.TextParams = true
	default:
		return o, fmt.Errorf("bench sql: --param-format: %q is neither binary nor text", *paramFormat)
	}
	var err error
	if o.Metric, err = ann.ParseMetric(*metric); err != nil {
		return o, fmt.Errorf("bench sql: %w", err)
	}
	if o.EFs, err = bench.ParseInts(*efs); err != nil {
		return o, fmt.Errorf("bench sql: --ef: %w", err)
	}
	for _, f := range strings.Split(*vefs, ",") {
		if strings.TrimSpace(f) == "default" {
			o.VecgateEFs = append(o.VecgateEFs, 0)
			continue
		}
		n, err := bench.ParseInts(f)
		if err != nil {
			return o, fmt.Errorf("bench sql: --vecgate-ef: %w", err)
		}
		o.VecgateEFs = append(o.VecgateEFs, n...)
	}
	if o.Clients, err = bench.ParseInts(*clients); err != nil {
		return o, fmt.Errorf("bench sql: --clients: %w", err)
	}
	if *gen != "" {
		if o.GenN, o.GenDims, err = bench.ParseShape(*gen); err != nil {
			return o, fmt.Errorf("bench sql: --gen: %w", err)
		}
	}
	return o, o.Validate()
}

// runBenchSQL implements `vecgate bench sql`.
func runBenchSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchSQLFlags(args, stderr)
	if err != nil {
		return err
	}
	o.Version, o.Log, o.Start = version, stderr, startBenchGateway
	rep, err := sqlbench.Run(ctx, o.Options)
	if err != nil {
		return err
	}
	rep.Markdown(stdout)
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("bench sql: %w", err)
		}
	}
	if o.svgPath != "" {
		if err := os.WriteFile(o.svgPath, []byte(rep.SVG()), 0o644); err != nil {
			return fmt.Errorf("bench sql: %w", err)
		}
	}
	return nil
}

// startBenchGateway starts the vecgate that bench sql measures.
func startBenchGateway(ctx context.Context, cfg sqlbench.GatewayConfig) (sqlbench.Gateway, error) {
	gcfg := gateway.Config{Proxy: proxy.DefaultConfig(), Intercept: true, SlotName: cfg.Slot, Twins: &cfg.Twins}
	gcfg.Proxy.Listen, gcfg.Proxy.Upstream, gcfg.Proxy.Logger = "127.0.0.1:0", cfg.Upstream, cfg.Logger
	g, err := gateway.Start(ctx, gcfg)
	if err != nil {
		return nil, err
	}
	return g, nil
}
