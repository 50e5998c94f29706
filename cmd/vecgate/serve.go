package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/gateway"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/proxy"
)

// envPrefix names the environment variables that stand in for flags: --max-conns is
// VECGATE_MAX_CONNS. A flag given on the command line wins over its variable, which wins over the
// config file (config.go).
const envPrefix = "VECGATE_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// defaultHTTPListen is where /metrics, /healthz, /readyz and /status are served by default.
const defaultHTTPListen = "127.0.0.1:9433"

// serveOptions are serve's knobs after flags, environment and config file are applied.
type serveOptions struct {
	proxy            proxy.Config
	tlsCert, tlsKey  string
	shutdownTimeout  time.Duration
	logLevel         string
	logFormat        string
	intercept        bool
	slotName         string
	primary          string
	dataDir          string
	twins            live.Options
	debugListen      string
	httpListen       string
	readyMaxLag      time.Duration
	readyMaxLagBytes uint64
	recallSample     float64
	progress         string
	configFile       string
	sources          map[string]source // where each knob's value came from
}

// serveFlags declares serve's knobs on a new flag set bound to o.
func serveFlags(o *serveOptions, output io.Writer) *flag.FlagSet {
	def := proxy.DefaultConfig()
	o.proxy = def
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&o.configFile, configFlag, "", "config file of 'name = value' lines using these flags' names (see docs/operations.md); flags and VECGATE_* variables override it")
	fs.StringVar(&o.proxy.Listen, "listen", def.Listen, "address clients connect to")
	fs.StringVar(&o.proxy.Upstream, "upstream", "", "upstream Postgres DSN, e.g. postgres://user@127.0.0.1:5432/db (required); clients' own user, database and password are relayed")
	fs.StringVar(&o.primary, "primary", "", "when --upstream is a physical standby (Postgres 16+, hot_standby_feedback = on, wal_level = logical): the primary's DSN; client sessions, vecgate's schema and publication go there, --upstream serves decoding and loading (docs/scale-out.md)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate for client TLS (with --tls-key); without it SSLRequest is answered 'N'")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key for client TLS")
	fs.IntVar(&o.proxy.MaxMessageSize, "max-message-size", def.MaxMessageSize, "largest client message body in bytes (1024..1073741824); larger ends the session with 08P01")
	fs.IntVar(&o.proxy.MaxConns, "max-conns", def.MaxConns, "maximum concurrent client sessions; more are refused with 53300")
	fs.DurationVar(&o.proxy.DialTimeout, "dial-timeout", def.DialTimeout, "timeout for connecting to the upstream")
	fs.DurationVar(&o.proxy.StartupTimeout, "startup-timeout", def.StartupTimeout, "timeout for a client's startup and authentication")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long to let sessions finish before closing them")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&o.intercept, "intercept", true, "answer vector top-k queries from in-memory indexes kept in sync by logical replication (needs wal_level=logical and a REPLICATION role in --upstream); false forwards everything")
	fs.StringVar(&o.slotName, "slot-name", "main", "replication slot and publication suffix: vecgate_<name> (lower-case letters, digits, _)")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for index snapshots (resume without a full reload); empty: reload from Postgres at every start")
	twinFlags(fs, &o.twins)
	fs.StringVar(&o.httpListen, "http-listen", defaultHTTPListen, "address for /metrics (Prometheus), /healthz, /readyz and /status; empty disables")
	fs.DurationVar(&o.readyMaxLag, "ready-max-lag", 10*time.Second, "/readyz fails while the last replicated transaction took longer than this to apply")
	fs.Uint64Var(&o.readyMaxLagBytes, "ready-max-lag-bytes", 64<<20, "/readyz fails while replication is more than this many bytes of WAL behind")
	fs.Float64Var(&o.recallSample, "recall-sample", 0.01, "share of intercepted answers (without WHERE) whose recall@k is spot-checked in the background against an exact scan of the twin's vectors, at most 2 a second (vecgate_recall_spot); 0 turns it off")
	fs.StringVar(&o.progress, "progress", "auto", "initial-load progress bar on stderr: auto (when stderr is a terminal), always or never")
	fs.StringVar(&o.debugListen, "debug-listen", "", "if set, serve Go's pprof profiles on this address under /debug/pprof/ (keep it on loopback)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: vecgate serve [flags]

Every flag can also be set with its environment variable (--max-conns as %s) or in the
config file named by --config or %s ("max-conns = 500"). Precedence: flag, then
variable, then config file, then the default shown.

`, envName("max-conns"), envName(configFlag))
		fs.PrintDefaults()
	}
	return fs
}

// twinFlags declares the settings of the in-memory twins (serve's and bench sql's) on fs, bound to
// o, which starts at live.DefaultOptions.
func twinFlags(fs *flag.FlagSet, o *live.Options) {
	*o = live.DefaultOptions()
	fs.IntVar(&o.SQ8MinDims, "twin-sq8-min-dims", o.SQ8MinDims, "in-memory twins of pgvector HNSW indexes on vectors of at least this many dimensions search SQ8 codes (a quarter of the memory traffic) and rerank exactly; 0: never")
	fs.BoolVar(&o.CodesOnly, "twin-codes-only", false, "SQ8 twins keep no float32 vectors: about a quarter of the memory, but every answer is reranked by Postgres (none from memory)")
	fs.StringVar(&o.VectorDir, "twin-vector-dir", "", "directory for the float32 vectors of SQ8 twins, which read them only to rerank: unlinked files mapped from there, held by the page cache instead of anonymous memory (default: --data-dir; neither: anonymous memory outside the Go heap)")
	fs.BoolVar(&o.Cover.On, "twin-cover", o.Cover.On, "twins hold the table's other columns (of the types vecgate prints exactly) so that queries returning them are answered from memory; off: only the key, and such queries take the id-list rewrite")
	fs.IntVar(&o.Cover.MaxRowBytes, "twin-cover-max-row", o.Cover.MaxRowBytes, "bytes of column values a twin holds per row at most; a larger row's queries take the rewrite (0: no bound)")
	fs.Func("max-memory", "bound on the twins' memory, e.g. 4GiB (0: none): past it, the held column values of the tables holding most are dropped (their queries take the rewrite); vectors stay", func(v string) error {
		n, err := parseBytes(v)
		o.MaxMemory = n
		return err
	})
}

// parseBytes reads a byte count: digits with an optional unit (B, KB, MB, GB, TB: powers of
// 1000; KiB, MiB, GiB, TiB: powers of 1024).
func parseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: not a byte count (e.g. 4GiB)", v)
	}
	unit := map[string]int64{"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
	m, ok := unit[strings.TrimSpace(s[i:])]
	if !ok || n > math.MaxInt64/m {
		return 0, fmt.Errorf("%q: not a byte count (e.g. 4GiB)", v)
	}
	return n * m, nil
}

var validSlotName = regexp.MustCompile(`^[a-z0-9_]{1,50}$`)

// loadServeOptions parses args, then the environment (through lookupEnv) and the config file, and
// validates every knob, naming the knob and where its value came from when one is wrong.
func loadServeOptions(args []string, lookupEnv func(string) (string, bool), output io.Writer) (*serveOptions, error) {
	o := &serveOptions{}
	fs := serveFlags(o, output)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	src, err := applySources(fs, lookupEnv)
	if err != nil {
		return nil, err
	}
	o.sources = src
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, knobError(name, src, format, args...))
	}
	switch {
	case o.proxy.Upstream == "":
		bad("upstream", "required: set --upstream, %s or 'upstream = …' in the config file", envName("upstream"))
	default:
		if _, err := pgconn.ParseConfig(o.proxy.Upstream); err != nil {
			bad("upstream", "%v", err)
		}
	}
	if o.primary != "" {
		if _, err := pgconn.ParseConfig(o.primary); err != nil {
			bad("primary", "%v", err)
		}
	}
	if err := checkAddr(o.proxy.Listen, false); err != nil {
		bad("listen", "%v", err)
	}
	if n := o.proxy.MaxMessageSize; n < 1024 || n > 1<<30 {
		bad("max-message-size", "%d is outside 1024..1073741824", n)
	}
	if n := o.twins.SQ8MinDims; n < 0 || n > 16000 {
		bad("twin-sq8-min-dims", "%d is outside 0..16000", n)
	}
	if o.proxy.MaxConns < 1 {
		bad("max-conns", "%d must be at least 1", o.proxy.MaxConns)
	}
	for name, d := range map[string]time.Duration{
		"dial-timeout": o.proxy.DialTimeout, "startup-timeout": o.proxy.StartupTimeout,
		"shutdown-timeout": o.shutdownTimeout, "ready-max-lag": o.readyMaxLag,
	} {
		if d <= 0 {
			bad(name, "%s must be positive", d)
		}
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(o.logLevel)); err != nil {
		bad("log-level", "%q is not debug, info, warn or error", o.logLevel)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		bad("log-format", "%q is not text or json", o.logFormat)
	}
	if !validSlotName.MatchString(o.slotName) {
		bad("slot-name", "%q: lower-case letters, digits and _ only (at most 50)", o.slotName)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		bad("tls-cert", "tls-cert and tls-key go together")
	}
	if err := checkAddr(o.httpListen, true); err != nil {
		bad("http-listen", "%v", err)
	}
	if err := checkAddr(o.debugListen, true); err != nil {
		bad("debug-listen", "%v", err)
	}
	if r := o.recallSample; !(r >= 0 && r <= 1) {
		bad("recall-sample", "%v is outside 0..1", r)
	}
	if o.readyMaxLagBytes == 0 {
		bad("ready-max-lag-bytes", "must be positive")
	}
	switch o.progress {
	case "auto", "always", "never":
	default:
		bad("progress", "%q is not auto, always or never", o.progress)
	}
	if len(errs) > 0 {
		sortErrors(errs)
		return nil, errors.Join(errs...)
	}
	return o, nil
}

// checkAddr accepts host:port (host may be empty); empty is accepted when optional.
func checkAddr(addr string, optional bool) error {
	if addr == "" {
		if optional {
			return nil
		}
		return errors.New("empty address")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return err
	}
	return nil
}

// runServe implements `vecgate serve`; run prefixes its errors with "serve: ".
func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := loadServeOptions(args, os.LookupEnv, stderr)
	if err != nil {
		return err
	}
	logOut := stderr
	var bar *progressBar
	if o.progress == "always" || (o.progress == "auto" && isTerminal(stderr)) {
		bar = newProgressBar(stderr)
		logOut = bar
	}
	logger := newLogger(logOut, o.logLevel, o.logFormat)
	errLog := observe.NewErrorLog(logger.Handler(), 0) // the status page's last errors
	logger = slog.New(errLog)
	if o.configFile != "" {
		logger.Info("configuration", "file", o.configFile)
	}
	cfg := o.proxy
	cfg.Logger = logger
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("tls-cert/tls-key (from %s): %w", o.sources["tls-cert"], err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var standby string
	if o.primary != "" { // --upstream is the standby: sessions go to the primary
		cfg.Upstream, standby = o.primary, o.proxy.Upstream
	}
	g, err := gateway.Start(ctx, gateway.Config{Proxy: cfg, Standby: standby, Intercept: o.intercept, SlotName: o.slotName, DataDir: o.dataDir, Twins: &o.twins, Recall: observe.RecallConfig{Rate: o.recallSample},
		Observe: observe.Config{Version: version, ReadyMaxLag: o.readyMaxLag, ReadyMaxLagBytes: o.readyMaxLagBytes, Errors: errLog}})
	if err != nil {
		return err
	}
	obs := g.Observer()
	obs.Start()
	closeAll := func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
		defer cancel()
		if err := g.Close(sctx); err != nil {
			logger.Warn("shutdown cut sessions short", "err", err)
		}
	}
	if o.httpListen != "" {
		if _, err := obs.Serve(o.httpListen); err != nil {
			closeAll()
			return fmt.Errorf("http-listen (from %s): %w", o.sources["http-listen"], err)
		}
	}
	if o.debugListen != "" {
		if _, err := obs.ServeDebug(o.debugListen); err != nil {
			closeAll()
			return fmt.Errorf("debug-listen (from %s): %w", o.sources["debug-listen"], err)
		}
	}
	barDone := make(chan struct{})
	if bar != nil && g.Stream() != nil {
		go func() {
			defer close(barDone)
			runProgressBar(ctx, g, bar)
		}()
	} else {
		close(barDone)
	}
	<-ctx.Done()
	<-barDone
	logger.Info("shutting down", "deadline", o.shutdownTimeout)
	closeAll()
	logger.Info("stopped")
	return nil
}

// newLogger is serve's logger; loadServeOptions validated level and format.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
