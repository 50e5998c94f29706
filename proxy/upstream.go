package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// upstream dials the Postgres server as the upstream DSN says: its hosts in order, each with TLS
// as sslmode asks (prefer and allow fall back the way libpq does).
type upstream struct {
	targets []target
	timeout time.Duration
}

type target struct {
	addr string
	tls  *tls.Config // nil: plain text
}

func newUpstream(dsn string, timeout time.Duration) (*upstream, error) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	u := &upstream{timeout: timeout}
	u.targets = append(u.targets, target{addr: hostPort(cfg.Host, cfg.Port), tls: cfg.TLSConfig})
	for _, f := range cfg.Fallbacks {
		u.targets = append(u.targets, target{addr: hostPort(f.Host, f.Port), tls: f.TLSConfig})
	}
	return u, nil
}

func hostPort(host string, port uint16) string {
	if len(host) > 0 && host[0] == '/' { // a Unix socket directory, as libpq spells it
		return host + "/.s.PGSQL." + strconv.Itoa(int(port))
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// dial returns a connection ready for the startup message (TLS negotiated where asked).
func (u *upstream) dial(ctx context.Context) (net.Conn, error) {
	var errs []error
	for _, t := range u.targets {
		c, err := u.dialTarget(ctx, t)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (u *upstream) dialTarget(ctx context.Context, t target) (net.Conn, error) {
	network := "tcp"
	if len(t.addr) > 0 && t.addr[0] == '/' {
		network = "unix"
	}
	d := net.Dialer{Timeout: u.timeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, network, t.addr)
	if err != nil {
		return nil, err
	}
	if t.tls == nil {
		return c, nil
	}
	_ = c.SetDeadline(time.Now().Add(u.timeout))
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:], 8)
	binary.BigEndian.PutUint32(req[4:], codeSSLRequest)
	if _, err := c.Write(req[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: ssl request: %w", t.addr, err)
	}
	var resp [1]byte
	if _, err := io.ReadFull(c, resp[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: ssl request: %w", t.addr, err)
	}
	if resp[0] != 'S' {
		c.Close()
		return nil, fmt.Errorf("%s: server refused TLS", t.addr)
	}
	tc := tls.Client(c, t.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: tls handshake: %w", t.addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	return tc, nil
}

// cancel sends a CancelRequest for the upstream backend (pid, secret) and waits for the server to
// close the connection, as libpq does.
func (u *upstream) cancel(ctx context.Context, pid uint32, secret []byte) error {
	c, err := u.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	msg := make([]byte, 12+len(secret))
	binary.BigEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.BigEndian.PutUint32(msg[4:], codeCancel)
	binary.BigEndian.PutUint32(msg[8:], pid)
	copy(msg[12:], secret)
	_ = c.SetDeadline(time.Now().Add(u.timeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, c)
	return nil
}
