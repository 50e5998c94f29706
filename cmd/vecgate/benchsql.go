package main

// vecgate bench sql: the same top-k query stream sent over SQL to pgvector's HNSW directly and
// through an in-process vecgate in front of the same database.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/distance"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/gateway"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/proxy"
	"github.com/vecgate/vecgate/replication"
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

// sqlbOptions are the flags of `vecgate bench sql`.
type sqlbOptions struct {
	DSN                string
	Data, Queries, GT  string
	GenN, GenDims, NQ  int
	Seed               uint64
	Metric             ann.Metric
	M, EFConstruction  int
	EFs                []int
	VecgateEFs         []int // 0: vecgate's default (the session sets no hnsw.ef_search)
	K                  int
	Clients            []int
	Duration           time.Duration
	JSON, SVG          string
	Keep               bool
	MaintenanceWorkMem string
	CPUProfile         string
	LoadTimeout        time.Duration
	Rounds             int
	Twins              live.Options
	Select             string // the query's select list; its first column is the row id
}

// sqlbReport is everything one run measured (the --json output).
type sqlbReport struct {
	Table           string  `json:"table"`
	N               int     `json:"n"`
	Dims            int     `json:"dims"`
	Queries         int     `json:"queries"`
	K               int     `json:"k"`
	Metric          string  `json:"metric"`
	M               int     `json:"m"`
	EFConstruction  int     `json:"ef_construction"`
	CellSeconds     float64 `json:"cell_seconds"`
	Rounds          int     `json:"rounds"` // each row is its cell's fastest round
	Select          string  `json:"select"` // the query's select list
	GOMAXPROCS      int     `json:"gomaxprocs"`
	NumCPU          int     `json:"num_cpu"`
	Postgres        string  `json:"postgres_version"`
	Pgvector        string  `json:"pgvector_version"`
	ParallelWorkers string  `json:"max_parallel_maintenance_workers"`
	Revision        string  `json:"vecgate_revision,omitempty"`
	Kernels         string  `json:"distance_kernels"` // vecgate's distance kernels (generic unless GOEXPERIMENT=simd)
	Started         string  `json:"started"`

	CopySeconds    float64 `json:"copy_seconds"`
	PGBuildSeconds float64 `json:"pgvector_build_seconds"`
	PGIndexBytes   int64   `json:"pgvector_index_bytes"`
	PGPlanUsesHNSW bool    `json:"pgvector_plan_uses_hnsw"`
	VGLoadSeconds  float64 `json:"vecgate_load_seconds"`
	VGIndexBytes   int64   `json:"vecgate_index_bytes"`

	Rows   []sqlbRow   `json:"rows"`
	Ratios []sqlbRatio `json:"ratios"`
}

// sqlbRow is one measured cell: a method at one ef and client count.
type sqlbRow struct {
	Method         string  `json:"method"` // "pgvector" or "vecgate"
	EF             int     `json:"ef"`     // pgvector's hnsw.ef_search; 0 for vecgate's default
	Clients        int     `json:"clients"`
	Recall         float64 `json:"recall"`
	Scored         int     `json:"scored_queries"` // distinct queries recall is averaged over
	Queries        int     `json:"queries"`        // executed in the timed window
	Seconds        float64 `json:"seconds"`
	QPS            float64 `json:"qps"`
	P50Micros      float64 `json:"p50_us"`
	P99Micros      float64 `json:"p99_us"`
	BuildSeconds   float64 `json:"build_seconds"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	Intercepted    float64 `json:"intercepted_share,omitempty"` // vecgate: intercepted ÷ sent
}

// sqlbRatio compares vecgate with the pgvector row at equal-or-better recall for one client count.
type sqlbRatio struct {
	Clients        int     `json:"clients"`
	VecgateEF      int     `json:"vecgate_ef"` // 0: vecgate's default
	VecgateRecall  float64 `json:"vecgate_recall"`
	PgvectorEF     int     `json:"pgvector_ef"`
	PgvectorRecall float64 `json:"pgvector_recall"`
	EqualRecall    bool    `json:"equal_or_better_recall"` // false: pgvector never reached vecgate's recall; its best is used
	QPS            float64 `json:"qps_ratio"`              // vecgate ÷ pgvector (> 1: vecgate faster)
	// QPSInterp is vecgate's QPS ÷ pgvector's at exactly vecgate's recall, read off pgvector's
	// recall–QPS curve between the two ef values around it (0 when the curve does not reach it).
	QPSInterp float64 `json:"qps_ratio_interpolated"`
	P50       float64 `json:"p50_ratio"` // vecgate ÷ pgvector (< 1: vecgate faster)
	P99       float64 `json:"p99_ratio"`
	Build     float64 `json:"build_ratio"` // vecgate initial load ÷ pgvector CREATE INDEX
	Bytes     float64 `json:"bytes_ratio"` // vecgate memory ÷ pg_relation_size of the index
}

func parseBenchSQLFlags(args []string, stderr io.Writer) (sqlbOptions, error) {
	fs := flag.NewFlagSet("bench sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchSQLUsage+"\nflags:\n")
		fs.PrintDefaults()
	}
	var o sqlbOptions
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
	fs.StringVar(&o.JSON, "json", "", "write the report as JSON to this file")
	fs.StringVar(&o.SVG, "svg", "", "write a recall-vs-QPS plot to this file")
	fs.BoolVar(&o.Keep, "keep", false, "leave the table (and its index) in the database")
	fs.StringVar(&o.MaintenanceWorkMem, "maintenance-work-mem", "2GB", "maintenance_work_mem for CREATE INDEX")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of this process (vecgate and the clients) during the first vecgate run at the largest client count")
	twinFlags(fs, &o.Twins)
	fs.IntVar(&o.Rounds, "rounds", 1, "measure every cell this many times (interleaved) and keep its fastest round")
	fs.StringVar(&o.Select, "select", "id", "the query's select list, the row id first: id (vecgate answers from memory) or e.g. '*' (vecgate sends Postgres the id-list rewrite)")
	fs.DurationVar(&o.LoadTimeout, "load-timeout", time.Hour, "give up when vecgate has not loaded the table by then")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("bench sql: unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.Metric, err = ann.ParseMetric(*metric); err != nil {
		return o, fmt.Errorf("bench sql: %w", err)
	}
	if _, ok := sqlbOpclass(o.Metric); !ok {
		return o, fmt.Errorf("bench sql: metric %s: only l2, ip and cosine", o.Metric.Name())
	}
	if o.EFs, err = parseInts(*efs); err != nil || len(o.EFs) == 0 {
		return o, fmt.Errorf("bench sql: --ef: %v", cmpErr(err, "empty"))
	}
	for _, f := range strings.Split(*vefs, ",") {
		if strings.TrimSpace(f) == "default" {
			o.VecgateEFs = append(o.VecgateEFs, 0)
			continue
		}
		n, err := parseInts(f)
		if err != nil {
			return o, fmt.Errorf("bench sql: --vecgate-ef: %v", err)
		}
		o.VecgateEFs = append(o.VecgateEFs, n...)
	}
	if o.Clients, err = parseInts(*clients); err != nil || len(o.Clients) == 0 {
		return o, fmt.Errorf("bench sql: --clients: %v", cmpErr(err, "empty"))
	}
	if *gen != "" {
		if o.GenN, o.GenDims, err = parseGen(*gen); err != nil {
			return o, fmt.Errorf("bench sql: --gen: %w", err)
		}
		if o.Data != "" || o.Queries != "" {
			return o, errors.New("bench sql: --gen and --data/--queries exclude each other")
		}
		if o.NQ <= 0 {
			return o, errors.New("bench sql: --nq must be positive")
		}
	} else if o.Data == "" || o.Queries == "" {
		return o, errors.New("bench sql: need --data and --queries, or --gen N:DIMS")
	}
	switch {
	case o.DSN == "":
		return o, errors.New("bench sql: no --dsn (and VECGATE_UPSTREAM is unset)")
	case o.K <= 0 || o.K > 1000:
		return o, errors.New("bench sql: --k must be in 1..1000")
	case o.M < 2 || o.EFConstruction < 1:
		return o, errors.New("bench sql: bad --m or --ef-construction")
	case o.Duration <= 0:
		return o, errors.New("bench sql: --duration must be positive")
	case o.Rounds < 1:
		return o, errors.New("bench sql: --rounds must be at least 1")
	}
	return o, nil
}

func cmpErr(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

// parseGen reads "N:DIMS".
func parseGen(s string) (n, dims int, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not N:DIMS", s)
	}
	n, err1 := strconv.Atoi(strings.TrimSpace(a))
	dims, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || n <= 0 || dims <= 0 || dims > 16000 {
		return 0, 0, fmt.Errorf("%q is not N:DIMS with positive N and 1..16000 dims", s)
	}
	return n, dims, nil
}

func sqlbOpclass(m ann.Metric) (string, bool) {
	switch m {
	case ann.L2:
		return "vector_l2_ops", true
	case ann.InnerProduct:
		return "vector_ip_ops", true
	case ann.Cosine:
		return "vector_cosine_ops", true
	}
	return "", false
}

// runBenchSQL implements `vecgate bench sql`.
func runBenchSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchSQLFlags(args, stderr)
	if err != nil {
		return err
	}
	data, queries, truth, dims, err := sqlbDataset(ctx, o, stderr)
	if err != nil {
		return err
	}
	rep, err := sqlbRun(ctx, o, data, queries, truth, dims, stderr)
	if err != nil {
		return err
	}
	sqlbPrint(stdout, rep)
	if o.JSON != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.JSON, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("bench sql: %w", err)
		}
	}
	if o.SVG != "" {
		if err := os.WriteFile(o.SVG, []byte(sqlbSVG(rep)), 0o644); err != nil {
			return fmt.Errorf("bench sql: %w", err)
		}
	}
	return nil
}

// sqlbDataset reads or generates the vectors and the ground truth.
func sqlbDataset(ctx context.Context, o sqlbOptions, stderr io.Writer) (data, queries []float32, truth [][]int32, dims int, err error) {
	if o.GenN > 0 {
		cfg := bench.GenConfig{N: o.GenN, Dims: o.GenDims, Seed: o.Seed}
		data, queries, dims = bench.Clustered(cfg), bench.ClusteredQueries(cfg, o.NQ), o.GenDims
	} else {
		if data, dims, err = bench.ReadFvecsFile(o.Data); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: %w", err)
		}
		var qd int
		if queries, qd, err = bench.ReadFvecsFile(o.Queries); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: %w", err)
		}
		if qd != dims {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: queries: %w", &ann.DimensionError{Want: dims, Got: qd})
		}
	}
	if len(data) == 0 || len(queries) == 0 {
		return nil, nil, nil, 0, errors.New("bench sql: empty data or query set")
	}
	nq := len(queries) / dims
	if o.GT != "" {
		if truth, err = bench.ReadIvecsFile(o.GT); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: %w", err)
		}
		if len(truth) < nq {
			return nil, nil, nil, 0, fmt.Errorf("bench sql: ground truth has %d rows for %d queries", len(truth), nq)
		}
		for i := range nq {
			if len(truth[i]) < o.K {
				return nil, nil, nil, 0, fmt.Errorf("bench sql: ground truth row %d has %d neighbours, need k=%d", i, len(truth[i]), o.K)
			}
		}
		return data, queries, truth[:nq], dims, nil
	}
	fmt.Fprintf(stderr, "computing exact top-%d for %d queries with the flat index\n", o.K, nq)
	truth, err = flat.GroundTruth(ctx, o.Metric, dims, data, bench.Rows(queries, dims), o.K, 0, nil)
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("bench sql: ground truth: %w", err)
	}
	return data, queries, truth, dims, nil
}

// sqlbConnect opens one benchmark connection: prepared statements cached, pgvector types known.
func sqlbConnect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pgxvec.RegisterTypes(ctx, c); err != nil {
		c.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("register pgvector types: %w", err)
	}
	return c, nil
}

// sqlbRun does the measured part: load, pgvector build, vecgate load, and the query cells.
func sqlbRun(ctx context.Context, o sqlbOptions, data, queries []float32, truth [][]int32, dims int, stderr io.Writer) (*sqlbReport, error) {
	n, nq := len(data)/dims, len(queries)/dims
	table := fmt.Sprintf("vg_bench_%d", dims)
	opclass, _ := sqlbOpclass(o.Metric)
	rep := &sqlbReport{
		Table: table, N: n, Dims: dims, Queries: nq, K: o.K, Metric: o.Metric.Name(), M: o.M,
		EFConstruction: o.EFConstruction, CellSeconds: o.Duration.Seconds(), Rounds: o.Rounds, Select: o.Select,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), Revision: cmp.Or(sqlbRevision(), version), Kernels: distance.Impl(),
		Started: time.Now().UTC().Format(time.RFC3339),
	}
	admin, err := pgx.Connect(ctx, o.DSN)
	if err != nil {
		return nil, fmt.Errorf("bench sql: connect: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if _, err := admin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		return nil, fmt.Errorf("bench sql: create extension: %w", err)
	}
	if err := pgxvec.RegisterTypes(ctx, admin); err != nil {
		return nil, fmt.Errorf("bench sql: register pgvector types: %w", err)
	}
	if err := admin.QueryRow(ctx, `SELECT current_setting('server_version'),
		(SELECT extversion FROM pg_extension WHERE extname = 'vector'),
		current_setting('max_parallel_maintenance_workers')`).Scan(&rep.Postgres, &rep.Pgvector, &rep.ParallelWorkers); err != nil {
		return nil, fmt.Errorf("bench sql: versions: %w", err)
	}
	ident := pgx.Identifier{table}.Sanitize()

	// 1. Load with binary COPY.
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + ident,
		fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, emb vector(%d))", ident, dims),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("bench sql: %s: %w", q, err)
		}
	}
	if !o.Keep {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if _, err := admin.Exec(cctx, "DROP TABLE IF EXISTS "+ident); err != nil {
				fmt.Fprintf(stderr, "bench sql: drop %s: %v\n", table, err)
			}
		}()
	}
	t0 := time.Now()
	src := &sqlbCopySource{data: data, dims: dims, start: t0, last: t0, w: stderr}
	if _, err := admin.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "emb"}, src); err != nil {
		return nil, fmt.Errorf("bench sql: copy: %w", err)
	}
	rep.CopySeconds = time.Since(t0).Seconds()
	fmt.Fprintf(stderr, "\rcopy %d rows in %.1fs (%.0f rows/s)%s\n", n, rep.CopySeconds, float64(n)/rep.CopySeconds, strings.Repeat(" ", 20))
	if _, err := admin.Exec(ctx, "VACUUM ANALYZE "+ident); err != nil {
		return nil, fmt.Errorf("bench sql: vacuum: %w", err)
	}

	// 2. pgvector HNSW.
	index := table + "_emb_hnsw"
	create := fmt.Sprintf("CREATE INDEX %s ON %s USING hnsw (emb %s) WITH (m = %d, ef_construction = %d)",
		pgx.Identifier{index}.Sanitize(), ident, opclass, o.M, o.EFConstruction)
	if _, err := admin.Exec(ctx, "SET maintenance_work_mem = "+quoteLiteral(o.MaintenanceWorkMem)); err != nil {
		return nil, fmt.Errorf("bench sql: maintenance_work_mem: %w", err)
	}
	fmt.Fprintf(stderr, "%s (max_parallel_maintenance_workers = %s)\n", create, rep.ParallelWorkers)
	stopProgress := sqlbBuildProgress(ctx, o.DSN, table, stderr)
	t0 = time.Now()
	_, err = admin.Exec(ctx, create)
	rep.PGBuildSeconds = time.Since(t0).Seconds()
	stopProgress()
	if err != nil {
		return nil, fmt.Errorf("bench sql: create index: %w", err)
	}
	if err := admin.QueryRow(ctx, "SELECT pg_relation_size($1::regclass)", index).Scan(&rep.PGIndexBytes); err != nil {
		return nil, fmt.Errorf("bench sql: index size: %w", err)
	}
	fmt.Fprintf(stderr, "pgvector HNSW built in %.2fs, %d bytes (%.0f bytes/vector)\n",
		rep.PGBuildSeconds, rep.PGIndexBytes, float64(rep.PGIndexBytes)/float64(n))
	query := fmt.Sprintf("SELECT %s FROM %s ORDER BY emb %s $1 LIMIT $2", o.Select, ident, o.Metric)
	vecs := make([]pgvector.Vector, nq)
	for i, q := range bench.Rows(queries, dims) {
		vecs[i] = pgvector.NewVector(q)
	}
	rows, err := admin.Query(ctx, "EXPLAIN "+query, vecs[0], o.K)
	if err != nil {
		return nil, fmt.Errorf("bench sql: explain: %w", err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("bench sql: explain: %w", err)
	}
	rep.PGPlanUsesHNSW = strings.Contains(strings.Join(plan, "\n"), index)
	if !rep.PGPlanUsesHNSW {
		fmt.Fprintf(stderr, "warning: Postgres does not plan the query onto %s:\n%s\n", index, strings.Join(plan, "\n"))
	}

	// 3. vecgate in-process; its initial load builds the in-memory twin.
	slot := fmt.Sprintf("bench_%08x", rand.Uint32())
	pcfg := proxy.DefaultConfig()
	pcfg.Listen, pcfg.Upstream = "127.0.0.1:0", o.DSN
	pcfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t0 = time.Now()
	g, err := gateway.Start(ctx, gateway.Config{Proxy: pcfg, Intercept: true, SlotName: slot, Twins: &o.Twins})
	if err != nil {
		return nil, fmt.Errorf("bench sql: start vecgate: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := g.Close(cctx); err != nil {
			fmt.Fprintf(stderr, "bench sql: close vecgate: %v\n", err)
		}
		if err := replication.DropSlot(cctx, o.DSN, slot); err != nil {
			fmt.Fprintf(stderr, "bench sql: %v\n", err)
		}
	}()
	if err := sqlbWaitLoaded(ctx, g, n, o.LoadTimeout, stderr); err != nil {
		return nil, err
	}
	rep.VGLoadSeconds = time.Since(t0).Seconds()
	runtime.GC()
	for _, ix := range g.Set().Indexes() {
		rep.VGIndexBytes += ix.MemoryBytes()
	}
	fmt.Fprintf(stderr, "vecgate loaded %d rows in %.2fs, %d bytes (%.0f bytes/vector)\n",
		n, rep.VGLoadSeconds, rep.VGIndexBytes, float64(rep.VGIndexBytes)/float64(n))
	via, err := url.Parse(o.DSN)
	if err != nil || via.Host == "" {
		return nil, fmt.Errorf("bench sql: --dsn must be a postgres:// URL to point clients at vecgate (%v)", err)
	}
	via.Host = g.Addr().String()
	viaDSN := via.String()

	// 4. The cells. Warm Postgres' buffers with one pass at the highest ef first.
	warm := sqlbCell{dsn: o.DSN, setup: []string{fmt.Sprintf("SET hnsw.ef_search = %d", slices.Max(o.EFs))},
		sql: query, queries: vecs, truth: truth, k: o.K, clients: 1, duration: time.Nanosecond}
	if _, err := warm.run(ctx); err != nil {
		return nil, fmt.Errorf("bench sql: warm-up: %w", err)
	}
	pgBytes := float64(rep.PGIndexBytes) / float64(n)
	vgBytes := float64(rep.VGIndexBytes) / float64(n)
	// Every round measures every cell; a cell keeps its fastest round (the one least disturbed
	// by whatever else runs on the machine). Rounds interleave the two methods in time.
	best := map[[3]int]int{} // (method, ef, clients) -> index in rep.Rows
	keep := func(r sqlbRow) {
		m := 0
		if r.Method == "vecgate" {
			m = 1
		}
		key := [3]int{m, r.EF, r.Clients}
		i, ok := best[key]
		switch {
		case !ok:
			best[key] = len(rep.Rows)
			rep.Rows = append(rep.Rows, r)
		case r.QPS > rep.Rows[i].QPS:
			r.Intercepted = min(r.Intercepted, rep.Rows[i].Intercepted)
			rep.Rows[i] = r
		default:
			rep.Rows[i].Intercepted = min(r.Intercepted, rep.Rows[i].Intercepted)
		}
	}
	for round := range o.Rounds {
		if o.Rounds > 1 {
			fmt.Fprintf(stderr, "round %d of %d\n", round+1, o.Rounds)
		}
		for _, c := range o.Clients {
			for _, ef := range o.EFs {
				cell := sqlbCell{dsn: o.DSN, setup: []string{fmt.Sprintf("SET hnsw.ef_search = %d", ef)},
					sql: query, queries: vecs, truth: truth, k: o.K, clients: c, duration: o.Duration}
				r, err := cell.run(ctx)
				if err != nil {
					return nil, fmt.Errorf("bench sql: pgvector ef=%d clients=%d: %w", ef, c, err)
				}
				r.Method, r.EF, r.BuildSeconds, r.BytesPerVector = "pgvector", ef, rep.PGBuildSeconds, pgBytes
				fmt.Fprintf(stderr, "pgvector ef=%-3d clients=%-2d recall %.4f  %8.1f QPS  p50 %.2fms  p99 %.2fms\n",
					ef, c, r.Recall, r.QPS, r.P50Micros/1000, r.P99Micros/1000)
				keep(r.sqlbRow)
			}
			for vi, ef := range o.VecgateEFs {
				cell := sqlbCell{dsn: viaDSN, sql: query, queries: vecs, truth: truth, k: o.K, clients: c, duration: o.Duration}
				if ef > 0 {
					cell.setup = []string{fmt.Sprintf("SET hnsw.ef_search = %d", ef)}
				}
				before := g.Stats().Intercepted
				profile := ""
				if round == 0 && vi == 0 && c == slices.Max(o.Clients) {
					profile = o.CPUProfile
				}
				stop, err := sqlbStartProfile(profile)
				if err != nil {
					return nil, err
				}
				r, err := cell.run(ctx)
				stop()
				if err != nil {
					return nil, fmt.Errorf("bench sql: vecgate ef=%d clients=%d: %w", ef, c, err)
				}
				r.Method, r.EF, r.BuildSeconds, r.BytesPerVector = "vecgate", ef, rep.VGLoadSeconds, vgBytes
				r.Intercepted = float64(g.Stats().Intercepted-before) / float64(max(r.sent, 1))
				fmt.Fprintf(stderr, "vecgate ef=%-3d  clients=%-2d recall %.4f  %8.1f QPS  p50 %.2fms  p99 %.2fms  intercepted %.1f%%\n",
					ef, c, r.Recall, r.QPS, r.P50Micros/1000, r.P99Micros/1000, 100*r.Intercepted)
				if r.Intercepted < 0.9 {
					fmt.Fprintf(stderr, "warning: vecgate intercepted only %.1f%% of its queries (%s)\n", 100*r.Intercepted, sqlbForwards(g.Stats()))
				}
				keep(r.sqlbRow)
			}
		}
	}
	rep.Ratios = sqlbRatios(rep)
	return rep, nil
}

// sqlbStartProfile starts a CPU profile into path ("" for none) and returns its stop function.
func sqlbStartProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench sql: cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench sql: cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// sqlbForwards summarises the forward reasons counted so far.
func sqlbForwards(s observe.Stats) string {
	parts := []string{fmt.Sprintf("intercept=%d", s.Intercepted), fmt.Sprintf("fast=%d", s.FastPath)}
	for reason, v := range s.Forwarded {
		parts = append(parts, fmt.Sprintf("forward:%s=%d", reason, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func sqlbRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

// sqlbCopySource feeds CopyFrom the rows (id = row number, so ids are ground-truth indices) and
// prints progress at most once a second.
type sqlbCopySource struct {
	data        []float32
	dims, i     int
	start, last time.Time
	w           io.Writer
}

func (s *sqlbCopySource) Next() bool {
	n := len(s.data) / s.dims
	if s.i >= n {
		return false
	}
	s.i++
	if s.i%1024 == 0 {
		if now := time.Now(); now.Sub(s.last) >= time.Second {
			s.last = now
			rate := float64(s.i) / now.Sub(s.start).Seconds()
			eta := time.Duration(float64(n-s.i) / rate * float64(time.Second))
			fmt.Fprintf(s.w, "\rcopy %d/%d rows, %.0f rows/s, ETA %s   ", s.i, n, rate, eta.Round(time.Second))
		}
	}
	return true
}

func (s *sqlbCopySource) Values() ([]any, error) {
	i := s.i - 1
	return []any{int64(i), pgvector.NewVector(s.data[i*s.dims : (i+1)*s.dims])}, nil
}

func (s *sqlbCopySource) Err() error { return nil }

// sqlbBuildProgress prints pg_stat_progress_create_index every few seconds until stopped.
func sqlbBuildProgress(ctx context.Context, dsn, table string, w io.Writer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return
		}
		defer c.Close(context.WithoutCancel(ctx))
		start := time.Now()
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var phase string
			var done, total int64
			err := c.QueryRow(ctx, `SELECT phase, tuples_done, tuples_total FROM pg_stat_progress_create_index
				WHERE relid = $1::regclass`, table).Scan(&phase, &done, &total)
			if err == nil {
				of := ""
				if total > 0 {
					of = fmt.Sprintf("/%d", total)
				}
				fmt.Fprintf(w, "  create index: %s, %d%s tuples, %.0fs\n", phase, done, of, time.Since(start).Seconds())
			}
		}
	}()
	return func() { cancel(); <-done }
}

// sqlbIndexed is the rows vecgate has indexed (observe.IndexedRows: each table once).
func sqlbIndexed(g *gateway.Gateway) int {
	n, _ := observe.IndexedRows(g.Set())
	return int(n)
}

// sqlbWaitLoaded waits until replication streams and vecgate's index holds all n rows.
func sqlbWaitLoaded(ctx context.Context, g *gateway.Gateway, n int, timeout time.Duration, w io.Writer) error {
	start := time.Now()
	last := start
	for {
		got := sqlbIndexed(g)
		if g.Stream().Ready() && got >= n {
			return nil
		}
		st := g.Stream().Status()
		if time.Since(last) >= 2*time.Second {
			last = time.Now()
			fmt.Fprintf(w, "  vecgate: %s, %d/%d rows indexed, %.0fs\n", st.State, got, n, time.Since(start).Seconds())
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("bench sql: vecgate did not load %d rows in %s (state %s, %d indexed, last error %q)",
				n, timeout, st.State, got, st.LastError)
		}
		if st.State == replication.StateStreaming && len(g.Set().Indexes()) == 0 {
			return fmt.Errorf("bench sql: vecgate streams but has no index for the table (tables: %+v)", st.Tables)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sqlbCell is one measurement: clients connections, each its own goroutine, sending the query
// stream (queries in order, repeated) until duration has passed and every query ran at least once
// (or 3 × duration). Recall is scored on each query's first execution.
type sqlbCell struct {
	dsn      string
	setup    []string // run on each connection first
	sql      string
	queries  []pgvector.Vector
	truth    [][]int32
	k        int
	clients  int
	duration time.Duration
}

// sqlbMeasured is a row plus how many statements were sent in all (warm-up included).
type sqlbMeasured struct {
	sqlbRow
	sent int64
}

func (c sqlbCell) run(ctx context.Context) (sqlbMeasured, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conns := make([]*pgx.Conn, 0, c.clients)
	defer func() {
		for _, cn := range conns {
			cn.Close(context.WithoutCancel(ctx))
		}
	}()
	var sent atomic.Int64
	one := func(cn *pgx.Conn, q pgvector.Vector) ([]int32, error) {
		sent.Add(1)
		rows, err := cn.Query(ctx, c.sql, q, c.k)
		if err != nil {
			return nil, err
		}
		ids := make([]int32, 0, c.k)
		var id int64
		dest := make([]any, len(rows.FieldDescriptions())) // the id, and nil: the other columns are skipped
		dest[0] = &id
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, err
			}
			ids = append(ids, int32(id))
		}
		return ids, rows.Err()
	}
	for i := range c.clients {
		cn, err := sqlbConnect(ctx, c.dsn)
		if err != nil {
			return sqlbMeasured{}, fmt.Errorf("connect: %w", err)
		}
		conns = append(conns, cn)
		for _, s := range c.setup {
			if _, err := cn.Exec(ctx, s); err != nil {
				return sqlbMeasured{}, fmt.Errorf("%s: %w", s, err)
			}
		}
		// Prepare the statement (and warm the session) outside the timed window.
		if _, err := one(cn, c.queries[i%len(c.queries)]); err != nil {
			return sqlbMeasured{}, fmt.Errorf("first query: %w", err)
		}
	}
	nq := int64(len(c.queries))
	got := make([][]int32, nq)
	lats := make([][]time.Duration, c.clients)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	soft, hard := start.Add(c.duration), start.Add(3*c.duration)
	for i, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				n := next.Add(1) - 1
				if now := time.Now(); now.After(soft) && (n >= nq || now.After(hard)) {
					break
				}
				t := time.Now()
				ids, err := one(cn, c.queries[n%nq])
				lat = append(lat, time.Since(t))
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					break
				}
				if n < nq {
					got[n] = ids
				}
			}
			lats[i] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return sqlbMeasured{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return sqlbMeasured{}, err
	}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	var scoredGot, scoredTruth [][]int32
	for i, g := range got {
		if g != nil {
			scoredGot, scoredTruth = append(scoredGot, g), append(scoredTruth, c.truth[i])
		}
	}
	r := sqlbRow{
		Clients: c.clients, Recall: bench.Recall(scoredGot, scoredTruth, c.k), Scored: len(scoredGot),
		Queries: len(all), Seconds: elapsed.Seconds(), QPS: float64(len(all)) / elapsed.Seconds(),
		P50Micros: sqlbPercentile(all, 0.50), P99Micros: sqlbPercentile(all, 0.99),
	}
	return sqlbMeasured{sqlbRow: r, sent: sent.Load()}, nil
}

// sqlbPercentile of sorted latencies, in microseconds (nearest rank).
func sqlbPercentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i].Nanoseconds()) / 1e3
}

// sqlbRatios compares, per client count, vecgate with the fastest pgvector row whose recall is at
// least vecgate's; when pgvector never gets there, with its highest-recall row.
func sqlbRatios(rep *sqlbReport) []sqlbRatio {
	var out []sqlbRatio
	for _, v := range rep.Rows {
		if v.Method != "vecgate" {
			continue
		}
		var best, top *sqlbRow
		for i := range rep.Rows {
			p := &rep.Rows[i]
			if p.Method != "pgvector" || p.Clients != v.Clients {
				continue
			}
			if top == nil || p.Recall > top.Recall || (p.Recall == top.Recall && p.QPS > top.QPS) {
				top = p
			}
			if p.Recall >= v.Recall && (best == nil || p.QPS > best.QPS) {
				best = p
			}
		}
		equal := best != nil
		if best == nil {
			best = top
		}
		if best == nil {
			continue
		}
		out = append(out, sqlbRatio{
			Clients: v.Clients, VecgateEF: v.EF, VecgateRecall: v.Recall, PgvectorEF: best.EF, PgvectorRecall: best.Recall,
			EqualRecall: equal, QPS: sqlbDiv(v.QPS, best.QPS), QPSInterp: sqlbDiv(v.QPS, sqlbQPSAt(rep.Rows, v.Clients, v.Recall)), P50: sqlbDiv(v.P50Micros, best.P50Micros),
			P99: sqlbDiv(v.P99Micros, best.P99Micros), Build: sqlbDiv(v.BuildSeconds, best.BuildSeconds),
			Bytes: sqlbDiv(v.BytesPerVector, best.BytesPerVector),
		})
	}
	return out
}

// sqlbQPSAt is pgvector's QPS at the given recall and client count, interpolated on its
// recall–QPS frontier (each ef's row, dropping rows that a higher-recall row beats on QPS):
// log QPS linear in recall between the frontier points on either side. At or below the lowest
// recall it is the fastest row; above the highest recall, 0 (not reached).
func sqlbQPSAt(rows []sqlbRow, clients int, recall float64) float64 {
	var pts []sqlbRow
	for _, r := range rows {
		if r.Method == "pgvector" && r.Clients == clients && r.QPS > 0 {
			pts = append(pts, r)
		}
	}
	// Frontier, highest recall first: a point stays when it is faster than every point above it.
	slices.SortFunc(pts, func(a, b sqlbRow) int { return cmp.Compare(b.Recall, a.Recall) })
	var front []sqlbRow
	for _, p := range pts {
		if len(front) == 0 || p.QPS > front[len(front)-1].QPS {
			front = append(front, p)
		}
	}
	for i, hi := range front {
		if hi.Recall < recall {
			continue
		}
		if i+1 == len(front) || front[i+1].Recall >= recall {
			continue // a faster point still reaches the recall
		}
		lo := front[i+1]
		f := (recall - lo.Recall) / (hi.Recall - lo.Recall)
		return math.Exp(math.Log(lo.QPS) + f*(math.Log(hi.QPS)-math.Log(lo.QPS)))
	}
	if len(front) > 0 && front[len(front)-1].Recall >= recall {
		return front[len(front)-1].QPS
	}
	return 0
}

func sqlbDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// sqlbPrint writes the report as Markdown tables.
func sqlbPrint(w io.Writer, rep *sqlbReport) {
	fmt.Fprintf(w, "%s: %d x %d-d (%s), %d queries, k=%d, HNSW m=%d ef_construction=%d, %s per cell, best of %d round(s), SELECT %s\n",
		rep.Table, rep.N, rep.Dims, rep.Metric, rep.Queries, rep.K, rep.M, rep.EFConstruction,
		time.Duration(rep.CellSeconds*float64(time.Second)), max(rep.Rounds, 1), cmp.Or(rep.Select, "id"))
	fmt.Fprintf(w, "PostgreSQL %s, pgvector %s; vecgate %s, %s kernels, GOMAXPROCS %d; copy %.1fs; pgvector build %.2fs (%d bytes); vecgate load %.2fs (%d bytes)\n\n",
		rep.Postgres, rep.Pgvector, rep.Revision, rep.Kernels, rep.GOMAXPROCS, rep.CopySeconds, rep.PGBuildSeconds, rep.PGIndexBytes,
		rep.VGLoadSeconds, rep.VGIndexBytes)
	kcol := fmt.Sprintf("recall@%d", rep.K)
	t := [][]string{{"method", "ef", "clients", kcol, "QPS", "p50 ms", "p99 ms", "build s", "index B/vector", "intercepted"}}
	for _, r := range rep.Rows {
		ef, icpt := strconv.Itoa(r.EF), ""
		if r.Method == "vecgate" {
			ef, icpt = sqlbVecgateEF(r.EF), fmt.Sprintf("%.1f%%", 100*r.Intercepted)
		}
		t = append(t, []string{r.Method, ef, strconv.Itoa(r.Clients), fmt.Sprintf("%.4f", r.Recall),
			fmt.Sprintf("%.1f", r.QPS), fmt.Sprintf("%.2f", r.P50Micros/1000), fmt.Sprintf("%.2f", r.P99Micros/1000),
			fmt.Sprintf("%.2f", r.BuildSeconds), fmt.Sprintf("%.0f", r.BytesPerVector), icpt})
	}
	sqlbTable(w, t)
	fmt.Fprintln(w)
	t = [][]string{{"clients", "vecgate ef", "vecgate " + kcol, "vs pgvector ef", "pgvector " + kcol, "QPS ×", "QPS × at equal recall", "p50 ×", "p99 ×", "build ×", "bytes ×"}}
	for _, r := range rep.Ratios {
		ef := strconv.Itoa(r.PgvectorEF)
		if !r.EqualRecall {
			ef += " (best; lower recall)"
		}
		t = append(t, []string{strconv.Itoa(r.Clients), sqlbVecgateEF(r.VecgateEF), fmt.Sprintf("%.4f", r.VecgateRecall), ef,
			fmt.Sprintf("%.4f", r.PgvectorRecall), fmt.Sprintf("%.2f", r.QPS), sqlbInterp(r.QPSInterp), fmt.Sprintf("%.2f", r.P50),
			fmt.Sprintf("%.2f", r.P99), fmt.Sprintf("%.2f", r.Build), fmt.Sprintf("%.2f", r.Bytes)})
	}
	sqlbTable(w, t)
}

// sqlbInterp prints an interpolated ratio ("-" when pgvector's curve does not reach the recall).
func sqlbInterp(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// sqlbVecgateEF names a vecgate run's hnsw.ef_search.
func sqlbVecgateEF(ef int) string {
	if ef == 0 {
		return "default"
	}
	return strconv.Itoa(ef)
}

// sqlbTable writes rows as an aligned Markdown table (the first row is the header).
func sqlbTable(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range r {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
}

// sqlbSVG draws recall@k (x) against QPS (y, log scale): one line per method and client count,
// pgvector's points labelled with their ef_search.
func sqlbSVG(rep *sqlbReport) string {
	const W, H = 760, 480
	const left, right, top, bottom = 70, 190, 40, 50
	pw, ph := float64(W-left-right), float64(H-top-bottom)
	minR, maxQ, minQ := 1.0, 0.0, math.Inf(1)
	for _, r := range rep.Rows {
		minR = min(minR, r.Recall)
		if r.QPS > 0 {
			maxQ, minQ = max(maxQ, r.QPS), min(minQ, r.QPS)
		}
	}
	if maxQ == 0 {
		maxQ, minQ = 10, 1
	}
	x0 := math.Max(0, math.Floor(minR*10-0.0001)/10)
	if x0 >= 1 {
		x0 = 0.9
	}
	y0, y1 := math.Floor(math.Log10(minQ)), math.Ceil(math.Log10(maxQ))
	if y1 <= y0 {
		y1 = y0 + 1
	}
	px := func(recall float64) float64 { return float64(left) + (recall-x0)/(1-x0)*pw }
	py := func(qps float64) float64 {
		return float64(top) + ph - (math.Log10(math.Max(qps, math.Pow(10, y0)))-y0)/(y1-y0)*ph
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	title := fmt.Sprintf("%s: %d × %d-d %s, k=%d, m=%d efc=%d, %d cores", rep.Table, rep.N, rep.Dims, rep.Metric, rep.K, rep.M, rep.EFConstruction, rep.NumCPU)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	// Grid and ticks.
	step := 0.1
	if 1-x0 <= 0.3 {
		step = 0.05
	}
	for x := x0; x <= 1.0001; x += step {
		X := px(x)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", X, top, X, H-bottom)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.2f</text>`+"\n", X, H-bottom+16, x)
	}
	for e := y0; e <= y1; e++ {
		for _, m := range []float64{1, 2, 5} {
			q := m * math.Pow(10, e)
			if math.Log10(q) > y1+1e-9 {
				continue
			}
			Y := py(q)
			stroke := "#eee"
			if m == 1 {
				stroke = "#ccc"
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", left, Y, W-right, Y, stroke)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, Y+4, strconv.FormatFloat(q, 'f', -1, 64))
		}
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">recall@%d</text>`+"\n", float64(left)+pw/2, H-12, rep.K)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">queries per second (log)</text>`+"\n", float64(top)+ph/2)
	// Series.
	type key struct {
		method  string
		clients int
	}
	var order []key
	series := map[key][]sqlbRow{}
	for _, r := range rep.Rows {
		k := key{r.Method, r.Clients}
		if _, ok := series[k]; !ok {
			order = append(order, k)
		}
		series[k] = append(series[k], r)
	}
	pgColours := []string{"#1f77b4", "#6baed6", "#08519c", "#9ecae1"}
	vgColours := []string{"#d62728", "#ff7f0e", "#a50f15", "#fdae6b"}
	var pi, vi int
	for li, k := range order {
		rows := series[k]
		colour, marker := "", ""
		if k.method == "vecgate" {
			colour, marker = vgColours[vi%len(vgColours)], "square"
			vi++
		} else {
			colour, marker = pgColours[pi%len(pgColours)], "circle"
			pi++
		}
		dash := ""
		if k.clients > 1 {
			dash = ` stroke-dasharray="6 3"`
		}
		var pts []string
		for _, r := range rows {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(r.Recall), py(r.QPS)))
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), colour, dash)
		}
		for _, r := range rows {
			X, Y := px(r.Recall), py(r.QPS)
			if marker == "square" {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="9" height="9" fill="%s"/>`+"\n", X-4.5, Y-4.5, colour)
			} else {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>`+"\n", X, Y, colour)
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="#555">%d</text>`+"\n", X+5, Y-5, r.EF)
			}
		}
		// Legend.
		ly := float64(top + 10 + 20*li)
		lx := float64(W - right + 15)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly, lx+24, ly, colour, dash)
		label := fmt.Sprintf("%s, %d client", k.method, k.clients)
		if k.clients != 1 {
			label += "s"
		}
		if k.method == "pgvector" {
			label += " (ef)"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+30, ly+4, html.EscapeString(label))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
