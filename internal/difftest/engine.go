package difftest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Finding is one difference with its (shrunk) reproduction.
type Finding struct {
	Diff  *Diff
	Case  int
	Repro string // self-contained SQL script
	File  string // where it was written, when OutDir is set
	Count int    // differences of the same signature found (this one shrunk)
	Note  string // what shrinking the data did

	c    *Case
	data map[*table][]dumpRow
}

// Report is what a run found and did.
type Report struct {
	Seed                      uint64
	Skip                      string
	Cases, Queries, Compared  int
	Intercepted, Fast         int // queries vecgate answered with its index (Fast: from memory)
	Forwarded                 map[string]int
	ByMode                    map[string][2]int // protocol mode: queries intercepted, queries
	Wrapped                   [2]int            // queries inside a CTE, subquery or LATERAL: intercepted, queries
	Hard, Recall              int               // differences
	Pgvector                  int               // forwarded statements pgvector's index answered otherwise than an exact scan
	Findings                  []*Finding
	Elapsed                   time.Duration
	Writes                    int64 // concurrent writers' statements
	CatchUpFailures, RunError int
}

// InterceptedFraction is the fraction of compared queries vecgate answered with its index.
func (r *Report) InterceptedFraction() float64 {
	if r.Queries == 0 {
		return 0
	}
	return float64(r.Intercepted) / float64(r.Queries)
}

// Summary is a human-readable report.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vecgate-difftest seed %d (skip: %s): %d cases, %d queries in %s; %d concurrent writes\n",
		r.Seed, orNone(r.Skip), r.Cases, r.Queries, r.Elapsed.Round(time.Second), r.Writes)
	fmt.Fprintf(&b, "vecgate answered %d of %d queries with its index (%.0f%%; %d from memory); forwarded:", r.Intercepted, r.Queries, 100*r.InterceptedFraction(), r.Fast)
	var rs []string
	for k := range r.Forwarded {
		rs = append(rs, k)
	}
	sort.Strings(rs)
	for _, k := range rs {
		fmt.Fprintf(&b, " %s %d", k, r.Forwarded[k])
	}
	b.WriteString("\nintercepted by protocol:")
	var ms []string
	for k := range r.ByMode {
		ms = append(ms, k)
	}
	sort.Strings(ms)
	for _, k := range ms {
		fmt.Fprintf(&b, " %s %d/%d", k, r.ByMode[k][0], r.ByMode[k][1])
	}
	fmt.Fprintf(&b, "; wrapped in a CTE, subquery or LATERAL %d/%d", r.Wrapped[0], r.Wrapped[1])
	fmt.Fprintf(&b, "\ndifferences: %d hard, %d recall misses (and %d forwarded statements pgvector's index answered otherwise than an exact scan)",
		r.Hard, r.Recall, r.Pgvector)
	if r.CatchUpFailures+r.RunError > 0 {
		fmt.Fprintf(&b, "; %d replication catch-up failures, %d cases that could not run", r.CatchUpFailures, r.RunError)
	}
	b.WriteString("\n")
	for i, f := range r.Findings {
		fmt.Fprintf(&b, "\n=== difference %d (case %d, %d of this kind) %s\n", i+1, f.Case, f.Count, f.Diff)
		if f.File != "" {
			fmt.Fprintf(&b, "reproduction: %s\n", f.File)
		}
		if i < summaryRepros {
			b.WriteString(f.Repro)
		} else {
			b.WriteString(sessionPart(f.Repro))
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// summaryRepros is how many reproductions Summary prints whole; for the others it prints the
// session part (the data is in the files under OutDir).
const summaryRepros = 4

// sessionPart is a reproduction's header and session, without its schema and data.
func sessionPart(repro string) string {
	head, _, _ := strings.Cut(repro, "-- Part 1")
	_, sess, ok := strings.Cut(repro, "\n-- Part 2")
	if !ok {
		return repro
	}
	return head + "-- (schema and data: see the reproduction file)\n-- Part 2" + sess
}

// maxShrunkPerKind bounds how many differences of one signature are shrunk and reported.
const maxShrunkPerKind = 2

// Run runs the differential tester until cfg.Duration (or cfg.Cases) is spent.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.prepare(); err != nil {
		return nil, err
	}
	base, err := pgx.ParseConfig(cfg.AdminDSN)
	if err != nil {
		return nil, fmt.Errorf("difftest: upstream DSN: %w", err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	prefix := fmt.Sprintf("dt%d_%d", cfg.Seed%100000, rand.Uint32()%1000000)
	w := genWorld(&cfg, rng, prefix)
	e := &env{cfg: &cfg, log: cfg.Logger, base: base, slot: prefix, seq: w.Seq, password: w.Roles.Password, procLogs: io.Discard}
	if cfg.VecgateLog != nil {
		e.procLogs = cfg.VecgateLog
	}
	defer e.close()
	start := time.Now()
	if err := e.setup(ctx, w, prefix); err != nil {
		return nil, err
	}
	cfg.Logger.Info("world ready", "tables", len(w.Tables), "setup", time.Since(start).Round(time.Millisecond))
	t := &tester{
		cfg: &cfg, e: e, w: w, rng: rng, g: newGen(&cfg, rng, w), seen: map[string]*Finding{},
		r: &Report{Seed: cfg.Seed, Skip: skipList(cfg.Skip), Forwarded: map[string]int{}, ByMode: map[string][2]int{}},
	}
	t.loop(ctx)
	t.finish(ctx)
	return t.r, nil
}

// prepare fills in cfg's defaults and checks that it names one vecgate to test.
func (cfg *Config) prepare() error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Duration <= 0 && cfg.Cases <= 0 {
		cfg.Duration = time.Minute
	}
	if (cfg.VecgateBinary == "") == (cfg.Listen == "") {
		return fmt.Errorf("difftest: give a vecgate binary or the address of a running vecgate")
	}
	if cfg.Listen != "" && (cfg.Database == "" || cfg.HTTPListen == "") {
		return fmt.Errorf("difftest: a running vecgate needs its database and its HTTP address")
	}
	return nil
}

// newGen returns a case generator over w whose new keys continue each table's rows (the key
// counter is shared with the concurrent writers).
func newGen(cfg *Config, rng *rand.Rand, w *world) *gen {
	var mu sync.Mutex
	nextKey := map[*table]int{}
	for _, t := range w.Tables {
		nextKey[t] = t.Rows
	}
	return &gen{cfg: cfg, rng: rng, w: w, next: func(t *table) int {
		mu.Lock()
		defer mu.Unlock()
		n := nextKey[t]
		nextKey[t]++
		return n
	}}
}

// tester is one run's state: the environment, the generator, the report and the findings by
// signature.
type tester struct {
	cfg  *Config
	e    *env
	w    *world
	rng  *rand.Rand
	g    *gen
	r    *Report
	seen map[string]*Finding
	id   int // the last case's number
}

// loop runs rounds of cases until the run is spent: concurrent writers, a catch-up, then up to
// 15 cases.
func (t *tester) loop(ctx context.Context) {
	begin := time.Now()
	deadline := begin.Add(t.cfg.Duration)
	done := func() bool {
		if ctx.Err() != nil {
			return true
		}
		if t.cfg.Cases > 0 {
			return t.r.Cases >= t.cfg.Cases
		}
		return time.Now().After(deadline)
	}
	for !done() {
		if t.cfg.on("writers") {
			t.r.Writes += t.e.writers(ctx, t.g, t.rng.Uint64(), 400*time.Millisecond)
		}
		if err := t.e.catchUp(ctx); err != nil {
			t.r.CatchUpFailures++
			t.cfg.Logger.Warn("catch-up", "err", err)
			continue
		}
		for range 15 {
			if done() {
				break
			}
			t.runCase(ctx)
		}
	}
	t.r.Elapsed = time.Since(begin)
}

// runCase generates, runs and compares one case, and records its differences.
func (t *tester) runCase(ctx context.Context) {
	t.id++
	id := t.id
	c := t.g.genCase(id)
	run, err := t.e.runCase(ctx, c)
	t.r.Cases++
	if err != nil {
		t.r.RunError++
		t.cfg.Logger.Warn("case did not run", "case", id, "err", err)
		return
	}
	for _, qr := range run.Queries {
		t.cfg.Logger.Debug("query", "case", id, "db", c.DB, "user", c.User, "path", qr.V[0].Path, "mode", qr.Q.Mode.String(), "sql", qr.Q.SQL())
		t.r.countPath(qr.Q.Mode.String(), qr.V[0].Path)
		if qr.Q.Wrap != 0 {
			t.r.Wrapped[1]++
			if p := qr.V[0].Path; p == "intercepted" || p == "fast" {
				t.r.Wrapped[0]++
			}
		}
	}
	for _, d := range compareCase(c, run, t.e.base.User) {
		t.record(ctx, id, c, d)
	}
	if hasWrites(c) {
		if err := t.e.catchUp(ctx); err != nil {
			t.r.CatchUpFailures++
		}
	}
}

// countPath counts one query by the path vecgate took, in total and for its protocol mode.
func (r *Report) countPath(mode, path string) {
	r.Queries++
	m := r.ByMode[mode]
	m[1]++
	switch {
	case path == "fast":
		r.Fast++
		r.Intercepted++
		m[0]++
	case path == "intercepted":
		r.Intercepted++
		m[0]++
	default:
		r.Forwarded[strings.TrimPrefix(path, "forwarded:")]++
	}
	r.ByMode[mode] = m
}

// record counts a difference and, for the first maxShrunkPerKind of its signature, shrinks its
// case and keeps it as a finding.
func (t *tester) record(ctx context.Context, id int, c *Case, d *Diff) {
	switch d.Class {
	case Hard:
		t.r.Hard++
	case Pgvector:
		t.r.Pgvector++
	default:
		t.r.Recall++
	}
	sig := signature(d)
	if f := t.seen[sig]; f != nil && f.Count >= maxShrunkPerKind {
		f.Count++
		return
	}
	t.cfg.Logger.Info("difference", "case", id, "diff", d.String())
	small, sd := t.e.shrink(ctx, c, d)
	f := &Finding{Diff: sd, Case: id, Count: 1, c: small, data: t.e.snapshot(ctx, t.w, small)}
	if prev := t.seen[sig]; prev != nil {
		f.Count = prev.Count + 1
	}
	t.seen[sig] = f
	t.r.Findings = append(t.r.Findings, f)
}

// finish shrinks the data of the findings (hard ones first) within cfg.ShrinkTime, then writes
// their reproductions.
func (t *tester) finish(ctx context.Context) {
	shrinkEnd := time.Now().Add(t.cfg.ShrinkTime)
	order := slices.Clone(t.r.Findings)
	sort.SliceStable(order, func(i, j int) bool { return order[i].Diff.Class == Hard && order[j].Diff.Class != Hard })
	for _, f := range order {
		if time.Now().After(shrinkEnd) || ctx.Err() != nil {
			break
		}
		per := time.Now().Add(max(time.Until(shrinkEnd)/2, 0))
		t.e.shrinkData(ctx, f, per)
		t.cfg.Logger.Info("shrunk data", "case", f.Case, "note", f.Note)
	}
	for _, f := range t.r.Findings {
		f.Repro = t.e.repro(t.w, f.c, f.Diff, f.data)
		if f.Note != "" {
			f.Repro = "-- " + f.Note + "\n" + f.Repro
		}
		if t.cfg.OutDir != "" {
			f.File = filepath.Join(t.cfg.OutDir, fmt.Sprintf("seed%d-case%d-%s-%s.sql", t.cfg.Seed, f.Case, f.Diff.Class, f.Diff.Kind))
			if err := os.WriteFile(f.File, []byte(f.Repro), 0o644); err != nil {
				t.cfg.Logger.Warn("write reproduction", "err", err)
			}
		}
	}
}

func hasWrites(c *Case) bool {
	for _, sg := range c.Segs {
		for _, st := range sg.Steps {
			if st.Write {
				return true
			}
		}
	}
	return false
}

// writers runs concurrent writers (through vecgate and directly, both databases) for d, and
// returns how many statements they ran.
func (e *env) writers(ctx context.Context, g *gen, seed uint64, d time.Duration) int64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			wg2 := &gen{cfg: g.cfg, rng: rng, w: g.w, next: g.next}
			db := 0
			if g.cfg.on("otherdb") && i == 2 {
				db = 1
			}
			conn, err := e.connect(ctx, db, "", i == 1)
			if err != nil {
				e.log.Warn("writer connect", "err", err)
				return
			}
			defer conn.Close(context.Background())
			var ts []*table
			for _, t := range g.w.Tables {
				if t.DB == db {
					ts = append(ts, t)
				}
			}
			for time.Now().Before(stop) && ctx.Err() == nil {
				t := ts[rng.IntN(len(ts))]
				if rng.IntN(4) == 0 {
					// A multi-statement transaction.
					stmts := []string{"BEGIN", wg2.write(t), wg2.write(t), "COMMIT"}
					if err := execAll(ctx, conn, stmts); err != nil {
						_, _ = conn.Exec(ctx, "ROLLBACK")
					}
					n.Add(2)
					continue
				}
				_, _ = conn.Exec(ctx, wg2.write(t), pgx.QueryExecModeSimpleProtocol)
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return n.Load()
}

// signature groups differences that are likely one defect: class, kind, vecgate's path and the
// description without its numbers and keys.
func signature(d *Diff) string {
	w := d.What
	if i := strings.IndexAny(w, ":("); i > 0 && d.Kind != "sqlstate" && d.Kind != "error" && d.Kind != "statement" {
		w = w[:i]
	}
	var b strings.Builder
	for _, r := range w {
		if r >= '0' && r <= '9' {
			continue
		}
		b.WriteRune(r)
	}
	return d.Class + "/" + d.Kind + "/" + d.Path + "/" + d.Session[:10] + "/" + b.String()
}

// compareCase compares a case's run and says where each difference happened.
func compareCase(c *Case, run *caseRun, admin string) []*Diff {
	ds := compareRun(run)
	for _, d := range ds {
		d.Session = c.session(admin)
		if c.DB != 0 && d.Class == Recall && (d.Path == "intercepted" || d.Path == "fast") {
			// vecgate follows database 0 only: any index answer in another database came
			// from a twin of another database's table.
			d.Class, d.Kind = Hard, "other-database"
			d.What = "vecgate answered with an index of another database: " + d.What
		}
	}
	return ds
}
