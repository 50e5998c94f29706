package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/replication"
)

// Options configure a soak.
type Options struct {
	// DSN is the upstream superuser DSN; its host must be a loopback address. The soak creates
	// (and drops) a database of its own there.
	DSN      string
	Clients  int           // concurrent clients; default 64
	Duration time.Duration // of the load; default 10 minutes
	Rows     int           // rows of the soaked table at start; default 3000
	Dims     int           // vector dimensions; default 16
	// FaultEvery is the mean time between faults of the relay (cuts, stalls); 0: default 10 s,
	// negative: no faults (the relay still relays).
	FaultEvery time.Duration
	MaxStall   time.Duration // longest stall; default 2 s
	QuietEvery time.Duration // time between quiet points (checks); default 30 s
	DDLEvery   time.Duration // time between DDL statements; default 15 s
	// NoColumnDDL leaves out the DDL that adds and drops a column of the soaked table (side
	// tables are still created and dropped).
	NoColumnDDL bool
	Window      time.Duration // latency is reported per window; default 1 minute
	// RestartCmd, when set, is a shell command that restarts Postgres; it runs every
	// RestartEvery (default 3 minutes) on average. Empty: Postgres is never restarted.
	RestartCmd   string
	RestartEvery time.Duration
	Seed         uint64
	// Start starts the vecgate soaked (cmd/vecgate's gateway). Required.
	Start StartFunc
	// Log receives progress lines (nil: none); VecgateLog the soaked vecgate's warnings and
	// errors (nil: none).
	Log, VecgateLog io.Writer
}

// GatewayConfig is what Run asks of the vecgate it starts: interception on, listening on
// 127.0.0.1 (any port), in front of Upstream.
type GatewayConfig struct {
	Upstream string
	Slot     string
	Logger   *slog.Logger
}

// StartFunc starts a vecgate in-process.
type StartFunc func(ctx context.Context, cfg GatewayConfig) (Gateway, error)

// Gateway is what Run needs of the vecgate it soaks.
type Gateway interface {
	Addr() net.Addr
	Set() *live.Set
	Stream() *replication.Stream
	Stats() observe.Stats
	Close(ctx context.Context) error
}

func (o *Options) defaults() error {
	if o.Clients <= 0 {
		o.Clients = 64
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Minute
	}
	if o.Rows <= 0 {
		o.Rows = 3000
	}
	if o.Dims <= 0 {
		o.Dims = 16
	}
	if o.FaultEvery == 0 {
		o.FaultEvery = 10 * time.Second
	}
	if o.MaxStall <= 0 {
		o.MaxStall = 2 * time.Second
	}
	if o.QuietEvery <= 0 {
		o.QuietEvery = 30 * time.Second
	}
	if o.DDLEvery <= 0 {
		o.DDLEvery = 15 * time.Second
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.RestartEvery <= 0 {
		o.RestartEvery = 3 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.VecgateLog == nil {
		o.VecgateLog = io.Discard
	}
	switch {
	case o.Start == nil:
		return errors.New("soak: no Options.Start")
	case o.DSN == "":
		return errors.New("soak: no upstream DSN")
	case o.Rows*o.Dims > 1<<21:
		// vecgate scans a twin this small exactly, so its answers must equal Postgres' exact ones.
		return fmt.Errorf("soak: rows × dims %d is past what vecgate scans exactly (%d)", o.Rows*o.Dims, 1<<21)
	}
	return nil
}

// run is one soak in progress.
type run struct {
	o       Options
	rep     *Report
	start   time.Time
	dbDSN   string // the soak's database, directly
	viaDSN  string // the same through vecgate
	g       Gateway
	relay   *Relay
	nextID  atomic.Int64
	gate    sync.RWMutex // clients and faults hold it shared; a quiet point exclusively
	lat     latencies
	counts  opCounts
	sideSeq atomic.Int64
}

// Run runs a soak and returns its report; the error is for a soak that could not run (set-up,
// vecgate not loading), not for what it found (Report.Failures).
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	r := &run{o: o, rep: &Report{Clients: o.Clients, Rows: o.Rows, Dims: o.Dims, Faults: map[string]int{}}}
	db, cleanup, err := r.createDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	r.dbDSN = db
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	host, err := dsnHost(db)
	if err != nil {
		return nil, err
	}
	if r.relay, err = NewRelay(host); err != nil {
		return nil, err
	}
	defer r.relay.Close()
	slot := fmt.Sprintf("soak_%08x", rand.Uint32())
	logger := slog.New(slog.NewTextHandler(o.VecgateLog, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t0 := time.Now()
	g, err := o.Start(ctx, GatewayConfig{Upstream: withHost(db, r.relay.Addr()), Slot: slot, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("soak: start vecgate: %w", err)
	}
	r.g = g
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := g.Close(cctx); err != nil {
			fmt.Fprintf(o.Log, "soak: close vecgate: %v\n", err)
		}
		if err := replication.DropSlot(cctx, db, slot); err != nil {
			fmt.Fprintf(o.Log, "soak: %v\n", err)
		}
	}()
	if err := r.waitLoaded(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "soak: vecgate loaded %d rows × 3 twins in %s; %d clients for %s, faults every ~%s\n",
		o.Rows, time.Since(t0).Round(time.Millisecond), o.Clients, o.Duration, o.FaultEvery)
	r.viaDSN = withHost(db, g.Addr().String())
	r.rep.Goroutines.Baseline = settledGoroutines(0, 0)
	r.soak(ctx)
	return r.rep, nil
}

// soak runs the load, the faults and the quiet points for Duration, then a last quiet point, and
// checks for leaked goroutines once the clients are gone.
func (r *run) soak(ctx context.Context) {
	o := r.o
	r.start = time.Now()
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.client(lctx, i)
		}()
	}
	wg.Add(2)
	go func() { defer wg.Done(); r.faults(lctx) }()
	go func() { defer wg.Done(); r.ddl(lctx) }()
	end := time.After(o.Duration)
	tick := time.NewTicker(o.QuietEvery)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			r.quietPoint(ctx)
		}
	}
	stop()
	wg.Wait()
	r.rep.Seconds = time.Since(r.start).Seconds()
	r.quietPoint(ctx) // the last: everything settled
	r.rep.Goroutines.End = settledGoroutines(r.rep.Goroutines.Baseline, 15*time.Second)
	r.rep.Goroutines.Leaked = max(0, r.rep.Goroutines.End-r.rep.Goroutines.Baseline)
	st := r.g.Stats()
	r.rep.Intercepted, r.rep.FastPath, r.rep.Forwarded = st.Intercepted, st.FastPath, st.Forwarded
	r.rep.Ops = r.counts.snapshot()
	r.rep.Windows = r.lat.windows(o.Window)
	r.rep.RelayConns = r.relay.accepted.Load()
	r.rep.finish()
}

// settledGoroutines waits up to wait for the goroutine count to come down to at most base + 5
// (0: take it now), and returns it.
func settledGoroutines(base int, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if base == 0 || n <= base+5 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// faults injects the relay's faults (and Postgres restarts) until ctx ends.
func (r *run) faults(ctx context.Context) {
	if r.o.FaultEvery < 0 && r.o.RestartCmd == "" {
		return
	}
	rng := rand.New(rand.NewPCG(r.o.Seed, 77))
	nextRestart := time.Now().Add(jitter(rng, r.o.RestartEvery))
	for {
		every := r.o.FaultEvery
		if every < 0 {
			every = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(rng, every)):
		}
		r.gate.RLock()
		switch {
		case r.o.RestartCmd != "" && time.Now().After(nextRestart):
			nextRestart = time.Now().Add(jitter(rng, r.o.RestartEvery))
			// A restart runs to its end even when the load ends meanwhile (killed halfway, it
			// could leave Postgres stopped).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			out, err := exec.CommandContext(rctx, "sh", "-c", r.o.RestartCmd).CombinedOutput()
			cancel()
			r.fault("restart")
			if err != nil {
				fmt.Fprintf(r.o.Log, "soak: restart: %v: %s\n", err, out)
			}
		case r.o.FaultEvery < 0:
		default:
			switch p := rng.Float64(); {
			case p < 0.45:
				r.relay.Cut(rng, 1+rng.IntN(3))
				r.fault("cut")
			case p < 0.55:
				r.relay.Cut(rng, 0)
				r.fault("cut_all")
			default:
				d := time.Duration(rng.Int64N(int64(r.o.MaxStall-100*time.Millisecond)+1)) + 100*time.Millisecond
				r.relay.Stall(rng, 1+rng.IntN(8), d)
				r.fault("stall")
			}
		}
		r.gate.RUnlock()
	}
}

func (r *run) fault(kind string) {
	r.counts.mu.Lock()
	r.rep.Faults[kind]++
	r.counts.mu.Unlock()
}

// jitter is d × [0.5, 1.5).
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rng.Float64()))
}

// createDatabase creates the soak's database and returns its DSN and a function dropping it.
func (r *run) createDatabase(ctx context.Context) (string, func(), error) {
	admin, err := pgx.Connect(ctx, r.o.DSN)
	if err != nil {
		return "", nil, fmt.Errorf("soak: %w", err)
	}
	name := fmt.Sprintf("vg_soak_%08x", rand.Uint32())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return "", nil, fmt.Errorf("soak: create database: %w", err)
	}
	admin.Close(ctx)
	u, err := url.Parse(r.o.DSN)
	if err != nil {
		return "", nil, fmt.Errorf("soak: DSN: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(cctx, r.o.DSN)
		if err != nil {
			return
		}
		defer c.Close(cctx)
		if _, err := c.Exec(cctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(r.o.Log, "soak: drop database %s: %v\n", name, err)
		}
	}
	return u.String(), drop, nil
}

// setup creates the soaked table, its rows and pgvector's indexes for three metrics.
func (r *run) setup(ctx context.Context) error {
	c, err := pgx.Connect(ctx, r.dbDSN)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	defer c.Close(ctx)
	d := r.o.Dims
	for _, q := range []string{
		"CREATE EXTENSION IF NOT EXISTS vector",
		fmt.Sprintf("CREATE TABLE soak (id bigint PRIMARY KEY, cat int NOT NULL, body text, emb vector(%d))", d),
		fmt.Sprintf(`INSERT INTO soak SELECT g, g %% 10, 'row ' || g,
			(SELECT array_agg(random() + (g + i) * 0)::vector(%d) FROM generate_series(1, %d) i)
			FROM (SELECT setseed(%g)) s, generate_series(1, %d) g`, d, d, float64(r.o.Seed%1000)/1000, r.o.Rows),
		"CREATE INDEX soak_l2 ON soak USING hnsw (emb vector_l2_ops)",
		"CREATE INDEX soak_cos ON soak USING hnsw (emb vector_cosine_ops)",
		"CREATE INDEX soak_ip ON soak USING hnsw (emb vector_ip_ops)",
		"ANALYZE soak",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			return fmt.Errorf("soak: set-up: %s: %w", q, err)
		}
	}
	r.nextID.Store(int64(r.o.Rows))
	return nil
}

// waitLoaded waits until vecgate streams with the three twins of soak loaded.
func (r *run) waitLoaded(ctx context.Context) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		n, twins := 0, 0
		for _, ix := range r.g.Set().Indexes() {
			if ix.Table == "soak" {
				n += ix.Len()
				twins++
			}
		}
		if r.g.Stream().Ready() && twins == 3 && n >= 3*r.o.Rows {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("soak: vecgate not loaded after 5 minutes (%d twins, %d rows): %+v", twins, n, r.g.Stream().Status())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// dsnHost is the host:port of a postgres:// DSN.
func dsnHost(dsn string) (string, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "", fmt.Errorf("soak: DSN: %w", err)
	}
	return net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), nil
}

// withHost is dsn with its host:port replaced.
func withHost(dsn, hostPort string) string {
	u, _ := url.Parse(dsn)
	u.Host = hostPort
	return u.String()
}
