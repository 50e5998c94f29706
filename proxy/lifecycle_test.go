package proxy_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/proxy"
	"go.uber.org/goleak"
)

// TestCancel: a pg_sleep(30) cancelled through vecgate (pgx sends a CancelRequest with the key
// vecgate handed it) ends with 57014 within a second, and the session stays usable.
func TestCancel(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	c := connect(t, via(dsn))
	var start time.Time
	go func() {
		time.Sleep(300 * time.Millisecond)
		start = time.Now()
		if err := c.PgConn().CancelRequest(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	_, err := c.Exec(context.Background(), "SELECT pg_sleep(30)")
	elapsed := time.Since(start)
	if errCode(err) != "57014" {
		t.Fatalf("cancelled query: %v, want 57014", err)
	}
	if elapsed > time.Second {
		t.Fatalf("cancel took %s", elapsed)
	}
	var one int
	if err := c.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("session after cancel: %v", err)
	}

	// Explicit cancel through pgconn, and a wrong key that must not cancel anything.
	c2 := connect(t, via(dsn))
	done := make(chan error, 1)
	go func() { _, err := c2.Exec(context.Background(), "SELECT pg_sleep(2)"); done <- err }()
	time.Sleep(200 * time.Millisecond)
	sendCancel(t, via(dsn), c2.PgConn().PID(), 12345) // unknown secret: ignored
	select {
	case err := <-done:
		t.Fatalf("query ended early after a wrong-key cancel: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := c2.PgConn().CancelRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; errCode(err) != "57014" {
		t.Fatalf("after cancel: %v", err)
	}
}

func sendCancel(t *testing.T, dsn string, pid, secret uint32) {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: binary.BigEndian.AppendUint32(nil, secret)}).Encode(nil)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, c)
}

// TestSessionState follows ReadyForQuery and command tags: transaction status, whether the
// transaction wrote, and writes committed.
func TestSessionState(t *testing.T) {
	dsn := pgtest.NewDB(t)
	srv, via := startProxy(t, dsn)
	c := connect(t, via(dsn+"&application_name=state_test"))
	state := func() proxy.State {
		for _, s := range srv.Sessions() {
			if s.ApplicationName == "state_test" {
				return s.State
			}
		}
		t.Fatal("session not listed")
		return proxy.State{}
	}
	mustExec(t, c, "CREATE TABLE w (id int)")
	if s := state(); s.TxStatus != 'I' || s.WroteInTxn || s.CommittedWrites != 1 {
		t.Fatalf("after autocommit DDL: %+v", s)
	}
	mustExec(t, c, "BEGIN")
	mustExec(t, c, "SELECT 1")
	if s := state(); s.TxStatus != 'T' || s.WroteInTxn {
		t.Fatalf("after BEGIN; SELECT: %+v", s)
	}
	mustExec(t, c, "INSERT INTO w VALUES (1)")
	if s := state(); s.TxStatus != 'T' || !s.WroteInTxn {
		t.Fatalf("after INSERT in txn: %+v", s)
	}
	_, _ = c.Exec(ctxT(t, time.Minute), "SELECT 1/0")
	if s := state(); s.TxStatus != 'E' || !s.WroteInTxn {
		t.Fatalf("after error in txn: %+v", s)
	}
	mustExec(t, c, "ROLLBACK")
	if s := state(); s.TxStatus != 'I' || s.WroteInTxn {
		t.Fatalf("after ROLLBACK: %+v", s)
	}
	before := state().CommittedWrites
	if _, err := c.CopyFrom(ctxT(t, time.Minute), pgx.Identifier{"w"}, []string{"id"}, pgx.CopyFromRows([][]any{{1}, {2}})); err != nil {
		t.Fatal(err)
	}
	if s := state(); s.CommittedWrites != before+1 || s.Pending != 0 {
		t.Fatalf("after COPY FROM: %+v (before %d)", s, before)
	}
	var buf discard
	if _, err := c.PgConn().CopyTo(ctxT(t, time.Minute), &buf, "COPY w TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	if s := state(); s.CommittedWrites != before+1 {
		t.Fatalf("COPY TO counted as a write: %+v", s)
	}
}

type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// TestDisconnectMidQuery: a client that vanishes during a long query leaves no backend behind
// (vecgate cancels the query and closes the upstream connection).
func TestDisconnectMidQuery(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	admin := connect(t, dsn)
	c, err := pgconn.Connect(ctxT(t, time.Minute), via(dsn+"&application_name=vanishing"))
	if err != nil {
		t.Fatal(err)
	}
	c.Conn().Write(mustEncode(t, &pgproto3.Query{String: "SELECT pg_sleep(30)"}))
	waitFor(t, 5*time.Second, func() bool {
		return countBackends(t, admin, "vanishing", "active") == 1
	}, "query to start")
	c.Conn().Close()
	waitFor(t, 5*time.Second, func() bool {
		return countBackends(t, admin, "vanishing", "") == 0
	}, "upstream backend to go away")
}

func countBackends(t *testing.T, c *pgx.Conn, app, state string) int {
	var n int
	err := c.QueryRow(ctxT(t, time.Minute), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND ($2 = '' OR state = $2)`, app, state).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustEncode(t testing.TB, m interface{ Encode([]byte) ([]byte, error) }) []byte {
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGracefulShutdown: Shutdown waits for a running query to finish, refuses new sessions, and
// cuts sessions short at its deadline.
func TestGracefulShutdown(t *testing.T) {
	dsn := pgtest.NewDB(t)
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream, cfg.Logger = "127.0.0.1:0", dsn, testLogger(t)
	srv, err := proxy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr().String()
	via := "postgres://postgres@" + addr + dsn[len("postgres://postgres@127.0.0.1:55432"):]
	busy := connect(t, via)
	idle := connect(t, via)
	_ = idle
	res := make(chan error, 1)
	go func() { _, err := busy.Exec(context.Background(), "SELECT pg_sleep(0.5)"); res <- err }()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(ctx) }()
	if err := <-res; err != nil {
		t.Fatalf("query during shutdown: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("new connection accepted during shutdown")
	}
	// The idle session keeps the server waiting until the deadline, then is closed.
	if err := <-shut; err != context.DeadlineExceeded {
		t.Fatalf("shutdown: %v, want deadline exceeded (an idle session was open)", err)
	}
	if _, err := idle.Exec(context.Background(), "SELECT 1"); err == nil {
		t.Fatal("idle session still works after shutdown")
	}
}

// TestConcurrentSessionsWithMalformed: 64 concurrent sessions, a quarter of them sending garbage
// of various kinds; every healthy one completes its work and nothing leaks.
func TestConcurrentSessionsWithMalformed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dsn := pgtest.NewDB(t)
	func() {
		srv, via := startProxy(t, dsn, func(c *proxy.Config) { // shut down here too, before goleak looks
			c.MaxMessageSize = 1 << 20
			c.StartupTimeout = time.Second
		})
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		}()
		addr := srv.Addr().String()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%4 == 3 {
					badClient(addr, i)
					return
				}
				c, err := pgx.Connect(context.Background(), via(dsn))
				if err != nil {
					errs <- err
					return
				}
				defer c.Close(context.Background())
				for j := range 20 {
					var got int
					if err := c.QueryRow(context.Background(), "SELECT $1::int * 2", i*100+j).Scan(&got); err != nil {
						errs <- err
						return
					}
					if got != (i*100+j)*2 {
						errs <- fmt.Errorf("session %d: got %d", i, got)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}()
	time.Sleep(100 * time.Millisecond) // let pgx's and net's goroutines wind down
}

// badClient misbehaves in one of several ways, chosen by i.
func badClient(addr string, i int) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	switch (i / 4) % 4 {
	case 0: // garbage instead of a startup packet
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	case 1: // a startup packet cut short
		c.Write([]byte{0, 0, 0, 100, 0, 3, 0, 0, 'u', 's'})
	case 2: // a valid session that then sends an oversized message
		startup(c)
		hdr := []byte{'Q', 0, 0, 0, 0}
		binary.BigEndian.PutUint32(hdr[1:], 4<<20)
		c.Write(hdr)
	case 3: // a valid session that then sends an invalid length
		startup(c)
		c.Write([]byte{'Q', 0, 0, 0, 2})
	}
	_, _ = io.Copy(io.Discard, c)
}

func startup(c net.Conn) {
	b, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "postgres", "database": "postgres"}}).Encode(nil)
	c.Write(b)
	fe := pgproto3.NewFrontend(c, c)
	for {
		m, err := fe.Receive()
		if err != nil {
			return
		}
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			return
		}
	}
}
