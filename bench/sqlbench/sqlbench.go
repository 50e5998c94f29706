package sqlbench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/bench"
	"github.com/vecgate/vecgate/internal/procmem"
	"github.com/vecgate/vecgate/internal/sqltext"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/replication"
	"github.com/vecgate/vecgate/vecmath"
)

// Options configure a run (`vecgate bench sql` sets them from its flags, which document the
// defaults). Run checks only what it relies on; the command validates the flags.
type Options struct {
	DSN                string // upstream superuser DSN, a postgres:// URL
	Data, Queries, GT  string // .fvecs base and query vectors, .ivecs ground truth ("": computed)
	GenN, GenDims, NQ  int    // GenN > 0: a seeded clustered set of GenN × GenDims, NQ queries
	Seed               uint64
	Metric             ann.Metric // L2, InnerProduct or Cosine (Opclass)
	M, EFConstruction  int
	EFs                []int // pgvector's hnsw.ef_search values for the direct runs
	VecgateEFs         []int // 0: vecgate's default (the session sets no hnsw.ef_search)
	K                  int
	Clients            []int
	Duration           time.Duration // timed window per cell
	Keep               bool          // leave the table (and its index) in the database
	MaintenanceWorkMem string
	CPUProfile         string // "" or a file: profile the first vecgate run at the largest client count
	LoadTimeout        time.Duration
	Rounds             int
	Twins              live.Options
	Select             string // the query's select list; its first column is the row id
	// Content > 0 adds the RAG shape's columns: content, a text of about Content bytes, and
	// metadata, a small jsonb document ({"source": …, "page": …}).
	Content int
	// TextParams sends the query vector as text ('[0.1,…]', as node-postgres, psycopg and the
	// frameworks do) instead of pgvector's binary format.
	TextParams bool
	// PGForceIndex runs pgvector's cells with enable_seqscan off: Postgres otherwise plans some
	// shapes (wide rows, TOASTed 1536-d vectors) onto a sequential scan, and the comparison would
	// be with that rather than with pgvector's HNSW.
	PGForceIndex bool
	// ClientCommand, when set, runs each measured cell's clients in a child process started
	// with this command and the cell file's name (`vecgate bench client`; RunClient).
	ClientCommand []string
	// Version names the vecgate measured when the binary carries no VCS revision.
	Version string
	// Log gets progress lines and warnings (nil: discarded).
	Log io.Writer
	// Start starts the vecgate measured. Required.
	Start StartFunc
}

// Validate checks the options a user sets (every field but Start, Version and Log).
func (o Options) Validate() error {
	if _, ok := Opclass(o.Metric); !ok {
		return fmt.Errorf("bench sql: metric %s: only l2, ip and cosine", o.Metric.Name())
	}
	switch {
	case o.GenN > 0 && (o.Data != "" || o.Queries != ""):
		return errors.New("bench sql: --gen and --data/--queries exclude each other")
	case o.GenN > 0 && (o.GenDims <= 0 || o.GenDims > 16000):
		return errors.New("bench sql: --gen: dims must be in 1..16000")
	case o.GenN > 0 && o.NQ <= 0:
		return errors.New("bench sql: --nq must be positive")
	case o.GenN <= 0 && (o.Data == "" || o.Queries == ""):
		return errors.New("bench sql: need --data and --queries, or --gen N:DIMS")
	case o.DSN == "":
		return errors.New("bench sql: no --dsn (and VECGATE_UPSTREAM is unset)")
	case len(o.EFs) == 0:
		return errors.New("bench sql: --ef: empty")
	case len(o.Clients) == 0:
		return errors.New("bench sql: --clients: empty")
	case o.K <= 0 || o.K > 1000:
		return errors.New("bench sql: --k must be in 1..1000")
	case o.M < 2 || o.EFConstruction < 1:
		return errors.New("bench sql: bad --m or --ef-construction")
	case o.Duration <= 0:
		return errors.New("bench sql: --duration must be positive")
	case o.Rounds < 1:
		return errors.New("bench sql: --rounds must be at least 1")
	}
	return nil
}

// GatewayConfig is what Run asks of the vecgate it starts: interception on, listening on
// 127.0.0.1 (any port), in front of Upstream.
type GatewayConfig struct {
	Upstream string
	Slot     string // replication slot and publication suffix, unique to the run
	Twins    live.Options
	Logger   *slog.Logger
}

// StartFunc starts a vecgate in-process (cmd/vecgate's gateway).
type StartFunc func(ctx context.Context, cfg GatewayConfig) (Gateway, error)

// Gateway is what Run needs of the vecgate it measures.
type Gateway interface {
	Addr() net.Addr              // where clients connect
	Set() *live.Set              // its in-memory indexes
	Stream() *replication.Stream // the replication that fills them
	Stats() observe.Stats        // its statement counters
	Close(ctx context.Context) error
}

// Opclass is pgvector's operator class for m, for the metrics the benchmark measures.
func Opclass(m ann.Metric) (string, bool) {
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

// Run loads the data set into Postgres (binary COPY), builds pgvector's HNSW on it, starts vecgate
// in front of the same database, and runs the same prepared top-k query stream directly against
// pgvector at each ef and through vecgate, at each client count.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Start == nil {
		return nil, errors.New("bench sql: no Options.Start")
	}
	opclass, _ := Opclass(o.Metric)
	if o.Log == nil {
		o.Log = io.Discard
	}
	o.Rounds = max(o.Rounds, 1)
	data, queries, truth, dims, err := loadDataset(ctx, o, o.Log)
	if err != nil {
		return nil, err
	}
	r := &run{o: o, w: o.Log, truth: truth, n: len(data) / dims, opclass: opclass}
	r.table = fmt.Sprintf("vg_bench_%d", dims)
	r.ident = pgx.Identifier{r.table}.Sanitize()
	r.index = r.table + "_emb_hnsw"
	r.query = fmt.Sprintf("SELECT %s FROM %s ORDER BY emb %s $1 LIMIT $2", o.Select, r.ident, o.Metric)
	for _, q := range bench.Rows(queries, dims) {
		r.vecs = append(r.vecs, pgvector.NewVector(q))
	}
	r.rep = &Report{
		Table: r.table, N: r.n, Dims: dims, Queries: len(r.vecs), K: o.K, Metric: o.Metric.Name(), M: o.M,
		EFConstruction: o.EFConstruction, CellSeconds: o.Duration.Seconds(), Rounds: o.Rounds, Select: o.Select, Content: o.Content, TextParams: o.TextParams, ClientProcess: len(o.ClientCommand) > 0, PGForceIndex: o.PGForceIndex,
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), Revision: cmp.Or(revision(), o.Version), Kernels: vecmath.Impl(),
		Started: time.Now().UTC().Format(time.RFC3339),
	}
	if r.admin, err = pgx.Connect(ctx, o.DSN); err != nil {
		return nil, fmt.Errorf("bench sql: connect: %w", err)
	}
	defer r.admin.Close(context.WithoutCancel(ctx))
	if err := r.createTable(ctx, dims); err != nil {
		return nil, err
	}
	if !o.Keep {
		defer r.drop(ctx)
	}
	if err := r.copyRows(ctx, data, dims); err != nil {
		return nil, err
	}
	// data is not used past this point: the collection before vecgate starts frees it, so the RSS
	// measured over vecgate's load (startVecgate) is vecgate's.
	if err := r.buildPgvector(ctx); err != nil {
		return nil, err
	}
	g, via, err := r.startVecgate(ctx)
	if g != nil {
		defer r.closeVecgate(ctx, g)
	}
	if err != nil {
		return nil, err
	}
	if err := r.cells(ctx, g, via); err != nil {
		return nil, err
	}
	if r.rssBase != nil {
		runtime.GC()
		if served, err := procmem.Read(); err == nil {
			d := served.Sub(*r.rssBase)
			r.rep.VGRSSAnonServed, r.rep.VGRSSFileServed = d.Anon, d.File
		}
	}
	r.rep.Ratios = ratios(r.rep)
	return r.rep, nil
}

// run is one Run's state.
type run struct {
	o                   Options
	w                   io.Writer
	rep                 *Report
	admin               *pgx.Conn
	n                   int
	table, ident, index string // the table, quoted, and pgvector's index on it
	opclass, query      string
	vecs                []pgvector.Vector
	truth               [][]int32
	slot                string       // vecgate's replication slot suffix
	rssBase             *procmem.RSS // the process's RSS before vecgate started; nil: not known
}

// createTable creates the table (replacing one left by an earlier run).
func (r *run) createTable(ctx context.Context, dims int) error {
	if _, err := r.admin.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		return fmt.Errorf("bench sql: create extension: %w", err)
	}
	if err := pgxvec.RegisterTypes(ctx, r.admin); err != nil {
		return fmt.Errorf("bench sql: register pgvector types: %w", err)
	}
	if err := r.admin.QueryRow(ctx, `SELECT current_setting('server_version'),
		(SELECT extversion FROM pg_extension WHERE extname = 'vector'),
		current_setting('max_parallel_maintenance_workers')`).Scan(&r.rep.Postgres, &r.rep.Pgvector, &r.rep.ParallelWorkers); err != nil {
		return fmt.Errorf("bench sql: versions: %w", err)
	}
	for _, q := range []string{
		"DROP TABLE IF EXISTS " + r.ident,
		fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, emb vector(%d)%s)", r.ident, dims, contentColumns(r.o.Content)),
	} {
		if _, err := r.admin.Exec(ctx, q); err != nil {
			return fmt.Errorf("bench sql: %s: %w", q, err)
		}
	}
	return nil
}

// copyRows fills the table with binary COPY.
func (r *run) copyRows(ctx context.Context, data []float32, dims int) error {
	t0 := time.Now()
	src := &copySource{data: data, dims: dims, start: t0, last: t0, w: r.w, content: r.o.Content}
	cols := []string{"id", "emb"}
	if r.o.Content > 0 {
		cols = append(cols, "content", "metadata")
	}
	if _, err := r.admin.CopyFrom(ctx, pgx.Identifier{r.table}, cols, src); err != nil {
		return fmt.Errorf("bench sql: copy: %w", err)
	}
	r.rep.CopySeconds = time.Since(t0).Seconds()
	fmt.Fprintf(r.w, "\rcopy %d rows in %.1fs (%.0f rows/s)%s\n", r.n, r.rep.CopySeconds, float64(r.n)/r.rep.CopySeconds, strings.Repeat(" ", 20))
	if _, err := r.admin.Exec(ctx, "VACUUM ANALYZE "+r.ident); err != nil {
		return fmt.Errorf("bench sql: vacuum: %w", err)
	}
	return nil
}

// drop removes the table (Options.Keep unset).
func (r *run) drop(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if _, err := r.admin.Exec(cctx, "DROP TABLE IF EXISTS "+r.ident); err != nil {
		fmt.Fprintf(r.w, "bench sql: drop %s: %v\n", r.table, err)
	}
}

// buildPgvector builds pgvector's HNSW and checks that Postgres plans the query onto it.
func (r *run) buildPgvector(ctx context.Context) error {
	create := fmt.Sprintf("CREATE INDEX %s ON %s USING hnsw (emb %s) WITH (m = %d, ef_construction = %d)",
		pgx.Identifier{r.index}.Sanitize(), r.ident, r.opclass, r.o.M, r.o.EFConstruction)
	if _, err := r.admin.Exec(ctx, "SET maintenance_work_mem = "+sqltext.QuoteLiteral(r.o.MaintenanceWorkMem)); err != nil {
		return fmt.Errorf("bench sql: maintenance_work_mem: %w", err)
	}
	fmt.Fprintf(r.w, "%s (max_parallel_maintenance_workers = %s)\n", create, r.rep.ParallelWorkers)
	stopProgress := buildProgress(ctx, r.o.DSN, r.table, r.w)
	t0 := time.Now()
	_, err := r.admin.Exec(ctx, create)
	r.rep.PGBuildSeconds = time.Since(t0).Seconds()
	stopProgress()
	if err != nil {
		return fmt.Errorf("bench sql: create index: %w", err)
	}
	if err := r.admin.QueryRow(ctx, "SELECT pg_relation_size($1::regclass)", r.index).Scan(&r.rep.PGIndexBytes); err != nil {
		return fmt.Errorf("bench sql: index size: %w", err)
	}
	fmt.Fprintf(r.w, "pgvector HNSW built in %.2fs, %d bytes (%.0f bytes/vector)\n",
		r.rep.PGBuildSeconds, r.rep.PGIndexBytes, float64(r.rep.PGIndexBytes)/float64(r.n))
	if r.o.PGForceIndex {
		if _, err := r.admin.Exec(ctx, "SET enable_seqscan = off"); err != nil {
			return fmt.Errorf("bench sql: %w", err)
		}
		defer r.admin.Exec(context.WithoutCancel(ctx), "RESET enable_seqscan")
	}
	var param any = r.vecs[0]
	if r.o.TextParams {
		param = r.vecs[0].String()
	}
	rows, err := r.admin.Query(ctx, "EXPLAIN "+r.query, param, r.o.K)
	if err != nil {
		return fmt.Errorf("bench sql: explain: %w", err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("bench sql: explain: %w", err)
	}
	r.rep.PGPlanUsesHNSW = strings.Contains(strings.Join(plan, "\n"), r.index)
	if !r.rep.PGPlanUsesHNSW {
		fmt.Fprintf(r.w, "warning: Postgres does not plan the query onto %s:\n%s\n", r.index, strings.Join(plan, "\n"))
	}
	return nil
}

// startVecgate starts vecgate in-process and waits for its initial load, which builds the
// in-memory twin; it returns the DSN that points clients at it. A non-nil gateway is returned
// whenever one was started, for closeVecgate.
func (r *run) startVecgate(ctx context.Context) (Gateway, string, error) {
	r.slot = fmt.Sprintf("bench_%08x", rand.Uint32())
	logger := slog.New(slog.NewTextHandler(r.w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	debug.FreeOSMemory() // collects, and returns the free heap: the base the load's growth is measured from
	base, rssErr := procmem.Read()
	t0 := time.Now()
	g, err := r.o.Start(ctx, GatewayConfig{Upstream: r.o.DSN, Slot: r.slot, Twins: r.o.Twins, Logger: logger})
	if err != nil {
		return nil, "", fmt.Errorf("bench sql: start vecgate: %w", err)
	}
	if err := waitLoaded(ctx, g, r.table, r.n, r.o.LoadTimeout, r.w); err != nil {
		return g, "", err
	}
	r.rep.VGLoadSeconds = time.Since(t0).Seconds()
	runtime.GC()
	for _, ix := range g.Set().Indexes() {
		r.rep.VGIndexBytes += ix.MemoryBytes()
	}
	fmt.Fprintf(r.w, "vecgate loaded %d rows in %.2fs, %d bytes (%.0f bytes/vector)\n",
		r.n, r.rep.VGLoadSeconds, r.rep.VGIndexBytes, float64(r.rep.VGIndexBytes)/float64(r.n))
	if rssErr == nil {
		r.measureRSS(base)
	}
	via, err := url.Parse(r.o.DSN)
	if err != nil || via.Host == "" {
		return g, "", fmt.Errorf("bench sql: --dsn must be a postgres:// URL to point clients at vecgate (%v)", err)
	}
	via.Host = g.Addr().String()
	return g, via.String(), nil
}

// measureRSS records the process's RSS growth since base (before vecgate started): after a GC as
// it stands, then once the Go runtime returned its free heap.
func (r *run) measureRSS(base procmem.RSS) {
	loaded, err := procmem.Read()
	if err != nil {
		return
	}
	debug.FreeOSMemory()
	returned, err := procmem.Read()
	if err != nil {
		return
	}
	r.rssBase = &base
	d, dr := loaded.Sub(base), returned.Sub(base)
	r.rep.VGRSSAnon, r.rep.VGRSSFile, r.rep.VGRSSAnonReturned = d.Anon, d.File, dr.Anon
	fmt.Fprintf(r.w, "vecgate RSS growth: anonymous %.1f MB (%.1f MB once the free heap is returned), file-backed %.1f MB; pgvector's index %.1f MB\n",
		float64(d.Anon)/1e6, float64(dr.Anon)/1e6, float64(d.File)/1e6, float64(r.rep.PGIndexBytes)/1e6)
}

// closeVecgate stops g and drops its replication slot.
func (r *run) closeVecgate(ctx context.Context, g Gateway) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := g.Close(cctx); err != nil {
		fmt.Fprintf(r.w, "bench sql: close vecgate: %v\n", err)
	}
	if err := replication.DropSlot(cctx, r.o.DSN, r.slot); err != nil {
		fmt.Fprintf(r.w, "bench sql: %v\n", err)
	}
}

// cells measures every cell, Rounds times. Postgres' buffers are warmed first with one pass at
// the highest ef. Every round measures every cell and a cell keeps its fastest round (the one
// least disturbed by whatever else runs on the machine); rounds interleave the two methods in
// time.
func (r *run) cells(ctx context.Context, g Gateway, via string) error {
	o := r.o
	warm := cell{dsn: o.DSN, setup: []string{fmt.Sprintf("SET hnsw.ef_search = %d", slices.Max(o.EFs))},
		sql: r.query, queries: r.vecs, truth: r.truth, k: o.K, clients: 1, duration: time.Nanosecond, textParams: o.TextParams}
	if _, err := warm.run(ctx); err != nil {
		return fmt.Errorf("bench sql: warm-up: %w", err)
	}
	best := map[[3]int]int{} // (method, ef, clients) -> index in rep.Rows
	for round := range o.Rounds {
		if o.Rounds > 1 {
			fmt.Fprintf(r.w, "round %d of %d\n", round+1, o.Rounds)
		}
		for _, c := range o.Clients {
			for _, ef := range o.EFs {
				row, err := r.pgvectorCell(ctx, ef, c)
				if err != nil {
					return err
				}
				r.keep(best, row)
			}
			for vi, ef := range o.VecgateEFs {
				profile := ""
				if round == 0 && vi == 0 && c == slices.Max(o.Clients) {
					profile = o.CPUProfile
				}
				row, err := r.vecgateCell(ctx, g, via, ef, c, profile)
				if err != nil {
					return err
				}
				r.keep(best, row)
			}
		}
	}
	return nil
}

// keep records row unless its cell has a faster round already; the intercepted share kept is
// the lowest of the rounds.
func (r *run) keep(best map[[3]int]int, row Row) {
	m := 0
	if row.Method == "vecgate" {
		m = 1
	}
	key := [3]int{m, row.EF, row.Clients}
	i, ok := best[key]
	switch {
	case !ok:
		best[key] = len(r.rep.Rows)
		r.rep.Rows = append(r.rep.Rows, row)
	case row.QPS > r.rep.Rows[i].QPS:
		row.Intercepted = min(row.Intercepted, r.rep.Rows[i].Intercepted)
		row.FromMemory = min(row.FromMemory, r.rep.Rows[i].FromMemory)
		r.rep.Rows[i] = row
	default:
		r.rep.Rows[i].Intercepted = min(row.Intercepted, r.rep.Rows[i].Intercepted)
		r.rep.Rows[i].FromMemory = min(row.FromMemory, r.rep.Rows[i].FromMemory)
	}
}

// pgSetup is what a pgvector cell's sessions run first.
func (r *run) pgSetup(ef int) []string {
	setup := []string{fmt.Sprintf("SET hnsw.ef_search = %d", ef)}
	if r.o.PGForceIndex {
		setup = append(setup, "SET enable_seqscan = off")
	}
	return setup
}

// pgvectorCell measures pgvector directly at hnsw.ef_search = ef.
func (r *run) pgvectorCell(ctx context.Context, ef, clients int) (Row, error) {
	c := cell{dsn: r.o.DSN, setup: r.pgSetup(ef),
		sql: r.query, queries: r.vecs, truth: r.truth, k: r.o.K, clients: clients, duration: r.o.Duration, textParams: r.o.TextParams, client: r.o.ClientCommand}
	m, err := c.run(ctx)
	if err != nil {
		return Row{}, fmt.Errorf("bench sql: pgvector ef=%d clients=%d: %w", ef, clients, err)
	}
	m.Method, m.EF, m.BuildSeconds, m.BytesPerVector = "pgvector", ef, r.rep.PGBuildSeconds, float64(r.rep.PGIndexBytes)/float64(r.n)
	fmt.Fprintf(r.w, "pgvector ef=%-3d clients=%-2d recall %.4f  %8.1f QPS  p50 %.2fms  p99 %.2fms\n",
		ef, clients, m.Recall, m.QPS, m.P50Micros/1000, m.P99Micros/1000)
	return m.Row, nil
}

// vecgateCell measures vecgate at hnsw.ef_search = ef (0: vecgate's default), profiling the CPU
// into profile unless it is "".
func (r *run) vecgateCell(ctx context.Context, g Gateway, via string, ef, clients int, profile string) (Row, error) {
	c := cell{dsn: via, sql: r.query, queries: r.vecs, truth: r.truth, k: r.o.K, clients: clients, duration: r.o.Duration, textParams: r.o.TextParams, client: r.o.ClientCommand}
	if ef > 0 {
		c.setup = []string{fmt.Sprintf("SET hnsw.ef_search = %d", ef)}
	}
	before, beforeFast := g.Stats().Intercepted, g.Stats().FastPath
	stop, err := startProfile(profile)
	if err != nil {
		return Row{}, err
	}
	m, err := c.run(ctx)
	stop()
	if err != nil {
		return Row{}, fmt.Errorf("bench sql: vecgate ef=%d clients=%d: %w", ef, clients, err)
	}
	stats := g.Stats()
	m.Method, m.EF, m.BuildSeconds, m.BytesPerVector = "vecgate", ef, r.rep.VGLoadSeconds, float64(r.rep.VGIndexBytes)/float64(r.n)
	m.Intercepted = float64(stats.Intercepted-before) / float64(max(m.sent, 1))
	m.FromMemory = float64(stats.FastPath-beforeFast) / float64(max(m.sent, 1))
	fmt.Fprintf(r.w, "vecgate ef=%-3d  clients=%-2d recall %.4f  %8.1f QPS  p50 %.2fms  p99 %.2fms  intercepted %.1f%%, from memory %.1f%%\n",
		ef, clients, m.Recall, m.QPS, m.P50Micros/1000, m.P99Micros/1000, 100*m.Intercepted, 100*m.FromMemory)
	if m.Intercepted < 0.9 {
		fmt.Fprintf(r.w, "warning: vecgate intercepted only %.1f%% of its queries (%s)\n", 100*m.Intercepted, stats)
	}
	return m.Row, nil
}

// startProfile starts a CPU profile into path ("" for none) and returns its stop function.
func startProfile(path string) (func(), error) {
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

// revision is the VCS revision the binary was built from ("" when unknown), "+dirty" when
// modified.
func revision() string {
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
