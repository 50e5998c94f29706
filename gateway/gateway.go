package gateway

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/intercept"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/migrations"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/proxy"
	"github.com/vecgate/vecgate/replication"
)

// Config is a gateway's configuration: the proxy's own, and what interception adds.
type Config struct {
	// Proxy configures the wire proxy (Listen, Upstream, limits, TLS, Logger). Start fills its
	// Count, Catalog, Database and Interceptor.
	Proxy proxy.Config
	// Intercept answers vector top-k queries from live indexes kept in sync by logical
	// replication; false forwards everything.
	Intercept bool
	SlotName  string // replication slot and publication suffix ("": the replication default)
	DataDir   string // index snapshots, and the SQ8 twins' vector files unless Twins.VectorDir says; "" for none
	// Standby, when set, is the DSN of a physical standby of Proxy.Upstream (Postgres 16+) that
	// replication decodes and loads from, and status reads (docs/scale-out.md). Client sessions,
	// vecgate's schema, its index definitions and the publication stay on Proxy.Upstream, the
	// primary. Start refuses a standby vecgate cannot decode from, saying what to set.
	Standby string
	// CatalogInterval is how often the catalog is checked for new tables and indexes (0: the
	// replication default, 30s).
	CatalogInterval time.Duration
	// Twins shape the in-memory twins of pgvector's indexes (nil: live.DefaultOptions).
	Twins *live.Options
	// Observe configures status, metrics and readiness; Start fills its Upstream and Logger.
	Observe observe.Config
	// Recall configures the recall spot-check of intercepted answers against an exact scan
	// (observe.Recall; Rate 0: off). Start fills its Logger.
	Recall observe.RecallConfig
}

// Gateway is a running vecgate: the proxy and, when intercepting, the live indexes and the
// replication stream that fills them, and the observer that reports on them.
type Gateway struct {
	srv    *proxy.Server
	set    *live.Set           // nil when not intercepting
	stream *replication.Stream // nil when not intercepting
	counts *observe.Counts
	obs    *observe.Observer
	recall *observe.Recall // nil when off

	background context.CancelFunc // ends the interceptor's background work (Close)
	closeOnce  sync.Once
	closeErr   error
}

// Start runs vecgate's migrations and starts replication (when intercepting), then the proxy.
// The observer is built but its catalog refresher and HTTP listeners are the caller's to start
// (Observer().Start, Observer().Serve).
func Start(ctx context.Context, cfg Config) (*Gateway, error) {
	g := &Gateway{counts: &observe.Counts{}}
	pcfg := cfg.Proxy
	logger := pcfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	sub := func(name string) *slog.Logger { return logger.With("subsystem", name) }
	pcfg.Logger = sub("proxy")
	ocfg := cfg.Observe
	// decode is where replication reads (the standby, when there is one); pcfg.Upstream takes
	// client sessions and everything vecgate writes.
	decode, primary := pcfg.Upstream, ""
	if cfg.Standby != "" {
		decode, primary = cfg.Standby, pcfg.Upstream
	}
	ocfg.Upstream, ocfg.Logger = decode, sub("observe")
	if cfg.Intercept {
		if err := replication.CheckStandby(ctx, decode, primary, sub("replication")); err != nil {
			return nil, err
		}
		// vecgate's own schema (index definitions, state) in the upstream database.
		if err := migrations.Up(ctx, pcfg.Upstream, sub("migrations")); err != nil {
			return nil, err
		}
		twins := live.DefaultOptions()
		if cfg.Twins != nil {
			twins = *cfg.Twins
		}
		twins.VectorDir = cmp.Or(twins.VectorDir, cfg.DataDir) // SQ8 twins' vectors: mapped files beside the snapshots
		g.set = live.NewWith(sub("live"), twins)
		if err := g.loadDefinitions(ctx, pcfg.Upstream, sub("intercept")); err != nil {
			return nil, err
		}
		rcfg := replication.DefaultConfig()
		rcfg.DSN, rcfg.Primary, rcfg.Applier, rcfg.SnapshotDir, rcfg.Logger = decode, primary, g.set, cfg.DataDir, sub("replication")
		if cfg.CatalogInterval != 0 {
			rcfg.CatalogInterval = cfg.CatalogInterval
		}
		if cfg.SlotName != "" {
			rcfg.Name = cfg.SlotName
		}
		// replication's errors name their package and operation: not wrapped again here.
		stream, err := replication.New(rcfg)
		if err != nil {
			return nil, err
		}
		if err := stream.Start(ctx); err != nil {
			return nil, err
		}
		g.stream = stream
		pcfg.Catalog = stream
		// Twins belong to the upstream database: sessions on other databases are only relayed
		// (pcfg.Database), and each session's table check requires the database's OID.
		dbOID, dbName, err := upstreamDatabase(ctx, pcfg.Upstream)
		if err != nil {
			_ = stream.Close()
			return nil, err
		}
		pcfg.Database = dbName
		var bg context.Context
		bg, g.background = context.WithCancel(context.WithoutCancel(ctx))
		rc := cfg.Recall
		rc.Logger = sub("recall")
		g.recall = observe.NewRecall(rc)
		g.recall.Start()
		var sampler intercept.Sampler
		if g.recall != nil {
			sampler = g.recall
		}
		pcfg.Interceptor = intercept.New(intercept.Config{
			Sampler: sampler,
			Context: bg,
			DSN:     pcfg.Upstream, Database: dbName, DatabaseOID: dbOID, Set: g.set, Stream: streamAdapter{stream}, Logger: sub("intercept"),
			Status: func() ([]string, [][]string) { return g.obs.Status().Rows() },
		})
	}
	g.obs = g.newObserver(ocfg)
	pcfg.Observer = g.obs.Hook()
	srv, err := proxy.New(pcfg)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		if g.stream != nil {
			_ = g.stream.Close()
		}
		g.recall.Close()
		return nil, err
	}
	g.srv = srv
	return g, nil
}

// newObserver builds the gateway's observer; it reads the proxy's sessions once the proxy runs.
func (g *Gateway) newObserver(cfg observe.Config) *observe.Observer {
	src := observe.Source{Counts: g.counts, Set: g.set, Stream: g.stream, Recall: g.recall,
		Sessions: func() int {
			if g.srv == nil {
				return 0
			}
			return len(g.srv.Sessions())
		},
		Accepted: func() uint64 {
			if g.srv == nil {
				return 0
			}
			return g.srv.SessionsAccepted()
		},
	}
	return observe.New(src, cfg)
}

// Close shuts the proxy down (sessions get until ctx ends), stops replication and the observer.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeOnce.Do(func() {
		if g.background != nil {
			g.background()
		}
		g.obs.Close()
		g.closeErr = g.srv.Shutdown(ctx)
		g.recall.Close()
		if g.stream != nil {
			if err := g.stream.Close(); err != nil && g.closeErr == nil {
				g.closeErr = err
			}
		}
		if g.set != nil {
			g.set.Close() // the twins' memory is outside the Go heap
		}
	})
	return g.closeErr
}

// Addr is the address clients connect to.
func (g *Gateway) Addr() net.Addr { return g.srv.Addr() }

// Stats are the statement counters since Start.
func (g *Gateway) Stats() observe.Stats { return g.counts.Stats() }

// Status is the gateway's status now (as /status serves it).
func (g *Gateway) Status() observe.Status { return g.obs.Status() }

// Observer reports on the gateway: status, metrics, readiness, HTTP endpoints.
func (g *Gateway) Observer() *observe.Observer { return g.obs }

// Set is the live in-memory indexes (nil when not intercepting).
func (g *Gateway) Set() *live.Set { return g.set }

// Stream is the replication stream that fills them (nil when not intercepting).
func (g *Gateway) Stream() *replication.Stream { return g.stream }

// streamAdapter gives the interceptor what it needs of replication.
type streamAdapter struct{ *replication.Stream }

func (s streamAdapter) WaitApplied(ctx context.Context, lsn string) error {
	l, err := replication.ParseLSN(lsn)
	if err != nil {
		return err
	}
	return s.WaitFor(ctx, l)
}

// upstreamDatabase returns the OID and name of the upstream database (the DSN's).
func upstreamDatabase(ctx context.Context, dsn string) (uint32, string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, "", fmt.Errorf("upstream database: %w", err)
	}
	defer conn.Close(context.Background())
	var oid uint32
	var name string
	if err := conn.QueryRow(ctx, "SELECT oid, datname FROM pg_catalog.pg_database WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()").Scan(&oid, &name); err != nil {
		return 0, "", fmt.Errorf("upstream database: %w", err)
	}
	return oid, name, nil
}

// loadDefinitions gives the live set vecgate's index definitions before replication starts.
func (g *Gateway) loadDefinitions(ctx context.Context, dsn string, logger *slog.Logger) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("index definitions: %w", err)
	}
	defer conn.Close(context.Background())
	return intercept.ApplyDefinitions(ctx, conn, g.set, nil, logger)
}
