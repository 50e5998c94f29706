package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/vecgate/vecgate/proxy"
)

// envPrefix names the environment variables that stand in for flags: --max-conns is
// VECGATE_MAX_CONNS. A flag given on the command line wins over its variable.
const envPrefix = "VECGATE_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its environment variable.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	return errors.Join(errs...)
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	def := proxy.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", def.Listen, "address clients connect to")
	upstream := fs.String("upstream", "", "upstream Postgres DSN, e.g. postgres://user@127.0.0.1:5432/db (required); clients' own user, database and password are relayed")
	tlsCert := fs.String("tls-cert", "", "PEM certificate for client TLS (with --tls-key); without it SSLRequest is answered 'N'")
	tlsKey := fs.String("tls-key", "", "PEM private key for client TLS")
	maxMsg := fs.Int("max-message-size", def.MaxMessageSize, "largest client message body in bytes; larger ends the session with 08P01")
	maxConns := fs.Int("max-conns", def.MaxConns, "maximum concurrent client sessions; more are refused with 53300")
	dialTimeout := fs.Duration("dial-timeout", def.DialTimeout, "timeout for connecting to the upstream")
	startupTimeout := fs.Duration("startup-timeout", def.StartupTimeout, "timeout for a client's startup and authentication")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "on SIGTERM/SIGINT, how long to let sessions finish before closing them")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	intercept := fs.Bool("intercept", true, "answer vector top-k queries from in-memory indexes kept in sync by logical replication (needs wal_level=logical and a REPLICATION role in --upstream); false forwards everything")
	slotName := fs.String("slot-name", "main", "replication slot and publication suffix: vecgate_<name>")
	dataDir := fs.String("data-dir", "", "directory for index snapshots (resume without a full reload); empty: reload from Postgres at every start")
	debugListen := fs.String("debug-listen", "", "if set, serve Go's pprof profiles on this address under /debug/pprof/ (keep it on loopback)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: vecgate serve [flags]\n\nEvery flag can also be set with its environment variable, e.g. --max-conns as %s.\nA flag on the command line wins over the variable.\n\n", envName("max-conns"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	if err := applyEnv(fs); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	logger, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cfg := def
	cfg.Listen, cfg.Upstream = *listen, *upstream
	cfg.MaxMessageSize, cfg.MaxConns = *maxMsg, *maxConns
	cfg.DialTimeout, cfg.StartupTimeout = *dialTimeout, *startupTimeout
	cfg.Logger = logger
	switch {
	case *tlsCert != "" && *tlsKey != "":
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("serve: tls-cert/tls-key: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case *tlsCert != "" || *tlsKey != "":
		return errors.New("serve: tls-cert and tls-key go together")
	}
	if *shutdownTimeout <= 0 {
		return fmt.Errorf("serve: shutdown-timeout: %s must be positive", *shutdownTimeout)
	}
	g, err := startGateway(ctx, cfg, gatewayOptions{Intercept: *intercept, SlotName: *slotName, DataDir: *dataDir})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if *debugListen != "" {
		dbg, err := startDebug(*debugListen, logger)
		if err != nil {
			g.Close(context.Background())
			return fmt.Errorf("serve: debug-listen: %w", err)
		}
		defer dbg.Close()
	}
	<-ctx.Done()
	logger.Info("shutting down", "deadline", *shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := g.Close(sctx); err != nil {
		logger.Warn("shutdown cut sessions short", "err", err)
	}
	logger.Info("stopped")
	return nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log-format: %q is not text or json", format)
}

// startDebug serves net/http/pprof on addr.
func startDebug(addr string, logger *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("debug listener", "err", err)
		}
	}()
	logger.Info("pprof listening", "addr", ln.Addr().String())
	return srv, nil
}
