package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Config is the proxy's configuration. Start from DefaultConfig; Validate is called by New.
type Config struct {
	// Listen is the TCP address clients connect to. Default 127.0.0.1:5433.
	Listen string
	// Upstream is the DSN of the Postgres server. Only its host, port and TLS settings (sslmode,
	// sslrootcert, …) are used for client sessions: user, database and password come from each
	// client, and authentication is relayed end to end.
	Upstream string
	// TLS, when set, terminates client TLS at vecgate (SSLRequest answered 'S'); when nil clients
	// are told 'N' and continue in plain text.
	TLS *tls.Config
	// MaxMessageSize is the largest message body, in bytes, a client may send. Larger ones end the
	// session with 08P01. Default 256 MiB (Postgres itself accepts up to 1 GiB for some messages).
	MaxMessageSize int
	// MaxConns is the largest number of concurrent client sessions; the next is refused with 53300.
	// Default 1000.
	MaxConns int
	// DialTimeout bounds connecting to the upstream. Default 10s.
	DialTimeout time.Duration
	// StartupTimeout bounds a client's startup and authentication phase. Default 60s.
	StartupTimeout time.Duration
	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Interceptor, when set, is offered vector top-k statements; nil forwards everything.
	Interceptor Interceptor
	// Catalog, when set, tells the proxy that catalog changes made by other sessions have been
	// seen: table checks made before its epoch moved lapse. Without it (or without vecgate's
	// event trigger upstream) such changes are seen within the checks' time bound (accessTTL).
	Catalog CatalogClock
	// Database, when set, is the one database whose sessions the Interceptor is offered (the
	// upstream database the live indexes follow): a session whose startup packet names another
	// database is only relayed.
	Database string
	// Observer, when set, is told how each client statement that reaches the interceptor was
	// handled (see Observer). Default: none.
	Observer Observer
}

// CatalogClock is what the proxy needs to know of catalog changes made by other sessions.
// replication.Stream implements it.
type CatalogClock interface {
	// CatalogEpoch moves on whenever a catalog change committed upstream (DDL, GRANT, REVOKE,
	// policies) has been seen, before the replicated position passes its commit.
	CatalogEpoch() uint64
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Listen:         "127.0.0.1:5433",
		MaxMessageSize: 256 << 20,
		MaxConns:       1000,
		DialTimeout:    10 * time.Second,
		StartupTimeout: 60 * time.Second,
	}
}

// Validate checks the configuration and fills the logger default.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: empty address"))
	}
	if c.Upstream == "" {
		errs = append(errs, errors.New("upstream: empty DSN"))
	} else if _, err := pgconn.ParseConfig(c.Upstream); err != nil {
		errs = append(errs, fmt.Errorf("upstream: %w", err))
	}
	if c.MaxMessageSize < 1024 || c.MaxMessageSize > 1<<30 {
		errs = append(errs, fmt.Errorf("max-message-size: %d is outside 1024..1073741824", c.MaxMessageSize))
	}
	if c.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("max-conns: %d must be at least 1", c.MaxConns))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial-timeout: %s must be positive", c.DialTimeout))
	}
	if c.StartupTimeout <= 0 {
		errs = append(errs, fmt.Errorf("startup-timeout: %s must be positive", c.StartupTimeout))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}
