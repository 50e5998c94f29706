package proxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
)

// ensureRole creates (or resets) a login role whose password is stored with the given
// password_encryption ('scram-sha-256' or 'md5'), and returns its name.
func ensureRole(t *testing.T, admin *pgx.Conn, name, password, encryption string) {
	t.Helper()
	ctx := ctxT(t, time.Minute)
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		"SET LOCAL password_encryption = '" + encryption + "'",
		"DO $$ BEGIN CREATE ROLE " + name + " LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
		"ALTER ROLE " + name + " LOGIN PASSWORD '" + password + "'",
		"GRANT CONNECT ON DATABASE postgres TO " + name,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAuthentication logs in through vecgate with SCRAM-SHA-256, MD5 and cleartext roles, and
// checks that a wrong password is refused with exactly Postgres' own error.
func TestAuthentication(t *testing.T) {
	admin := pgtest.DSN(t)
	_, via := startProxy(t, admin)
	ac := connect(t, admin)
	roles := []struct{ name, enc, method string }{
		{"vg_test_scram", "scram-sha-256", "SCRAM-SHA-256"},
		{"vg_test_md5", "md5", "MD5"},
		{"vg_test_clear", "scram-sha-256", "cleartext (pg_hba password)"},
	}
	for _, r := range roles {
		t.Run(r.name, func(t *testing.T) {
			ensureRole(t, ac, r.name, "s3cret-"+r.name, r.enc)
			var stored string
			if err := ac.QueryRow(ctxT(t, time.Minute), `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, r.name).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if (r.enc == "md5") != (len(stored) > 3 && stored[:3] == "md5") {
				t.Fatalf("role %s stored password %q is not %s", r.name, stored[:10], r.enc)
			}
			dsn := pgtest.WithUser(t, admin, r.name, "s3cret-"+r.name)
			c := connect(t, via(dsn))
			var user string
			if err := c.QueryRow(ctxT(t, time.Minute), `SELECT current_user`).Scan(&user); err != nil || user != r.name {
				t.Fatalf("%s login through vecgate: user %q, %v", r.method, user, err)
			}

			bad := pgtest.WithUser(t, admin, r.name, "wrong")
			_, directErr := pgx.Connect(ctxT(t, time.Minute), bad)
			_, viaErr := pgx.Connect(ctxT(t, time.Minute), via(bad))
			var de, ve *pgconn.PgError
			if !errors.As(directErr, &de) || !errors.As(viaErr, &ve) {
				t.Fatalf("wrong password: direct %v, via %v", directErr, viaErr)
			}
			if de.Code != "28P01" || ve.Code != de.Code || ve.Message != de.Message || ve.Severity != de.Severity {
				t.Fatalf("wrong password through vecgate: %s %s %q; direct: %s %s %q",
					ve.Severity, ve.Code, ve.Message, de.Severity, de.Code, de.Message)
			}
		})
	}
	t.Run("no_such_database", func(t *testing.T) {
		bad := pgtest.WithDatabase(t, admin, "vg_no_such_db")
		_, directErr := pgx.Connect(ctxT(t, time.Minute), bad)
		_, viaErr := pgx.Connect(ctxT(t, time.Minute), via(bad))
		if errCode(directErr) != "3D000" || errCode(viaErr) != "3D000" {
			t.Fatalf("direct %v, via %v", directErr, viaErr)
		}
	})
}

// TestClientTLS terminates TLS at vecgate: sslmode=require works through it, and without a
// certificate configured vecgate declines TLS so sslmode=require fails while prefer works.
func TestClientTLS(t *testing.T) {
	admin := pgtest.DSN(t)
	cert := selfSigned(t)
	_, viaTLS := startProxy(t, admin, func(c *proxy.Config) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	})
	cfg, err := pgx.ParseConfig(viaTLS(admin) + "&sslmode=require")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgx.ConnectConfig(ctxT(t, time.Minute), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, ok := c.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("client connection is %T, not TLS", c.PgConn().Conn())
	}
	var one int
	if err := c.QueryRow(ctxT(t, time.Minute), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatal(err)
	}

	_, viaPlain := startProxy(t, admin)
	if _, err := pgx.Connect(ctxT(t, time.Minute), viaPlain(admin)+"&sslmode=require"); err == nil {
		t.Fatal("sslmode=require succeeded against a vecgate without TLS")
	}
	p := connect(t, viaPlain(admin)+"&sslmode=prefer")
	if _, ok := p.PgConn().Conn().(*tls.Conn); ok {
		t.Fatal("TLS negotiated though vecgate has no certificate")
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestUpstreamTLS: vecgate's connection to Postgres uses TLS as the upstream DSN's sslmode says,
// whatever the client does on its side.
func TestUpstreamTLS(t *testing.T) {
	admin := pgtest.DSN(t)
	for mode, want := range map[string]bool{"disable": false, "prefer": true, "require": true} {
		t.Run(mode, func(t *testing.T) {
			u, err := url.Parse(admin)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("sslmode", mode)
			u.RawQuery = q.Encode()
			_, via := startProxy(t, u.String())
			c := connect(t, via(admin)) // the client itself speaks plain text to vecgate
			var ssl bool
			if err := c.QueryRow(ctxT(t, time.Minute), `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil {
				t.Fatal(err)
			}
			if ssl != want {
				t.Fatalf("upstream sslmode=%s: upstream connection ssl=%v, want %v", mode, ssl, want)
			}
		})
	}
}
