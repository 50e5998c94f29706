package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestPgbench initialises pgbench's tables through vecgate and runs short TPC-B-like runs with
// the simple and the prepared protocol: every transaction must succeed.
func TestPgbench(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	target := via(dsn)
	out, err := pgtest.Tool(t, "pgbench", "-i", "-s", "1", "-q", target).CombinedOutput()
	if err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	processed := regexp.MustCompile(`number of transactions actually processed: (\d+)`)
	failed := regexp.MustCompile(`number of failed transactions: (\d+)`)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		t.Run(mode, func(t *testing.T) {
			out, err := pgtest.Tool(t, "pgbench", "-M", mode, "-c", "4", "-j", "2", "-t", "100", target).CombinedOutput()
			if err != nil {
				t.Fatalf("pgbench: %v\n%s", err, out)
			}
			p, f := processed.FindSubmatch(out), failed.FindSubmatch(out)
			if p == nil || f == nil {
				t.Fatalf("unexpected pgbench output:\n%s", out)
			}
			if n, _ := strconv.Atoi(string(p[1])); n != 400 {
				t.Fatalf("processed %d transactions, want 400\n%s", n, out)
			}
			if string(f[1]) != "0" {
				t.Fatalf("%s failed transactions\n%s", f[1], out)
			}
		})
	}
}

// TestLargeCopy streams COPY data both ways through vecgate and checks that vecgate's heap stays
// small: the data is relayed, not held. VECGATE_TEST_COPY_MB sets the size (default 1024).
func TestLargeCopy(t *testing.T) {
	dsn := pgtest.NewDB(t)
	_, via := startProxy(t, dsn)
	mb := 1024
	if v := envInt("VECGATE_TEST_COPY_MB"); v > 0 {
		mb = v
	}
	c := connect(t, via(dsn))
	// Rows are discarded by a trigger so Postgres does not spend the test writing them.
	mustExec(t, c, `CREATE TABLE sink (line text)`)
	mustExec(t, c, `CREATE FUNCTION drop_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$`)
	mustExec(t, c, `CREATE TRIGGER drop_row BEFORE INSERT ON sink FOR EACH ROW EXECUTE FUNCTION drop_row()`)

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	defer func() { close(stop); <-sampled }()

	line := []byte(fmt.Sprintf("%01000d\n", 7)) // 1001 bytes per row
	rows := mb << 20 / len(line)
	tag, err := c.PgConn().CopyFrom(ctxT(t, 10*time.Minute), &repeatReader{line: line, n: rows}, "COPY sink FROM STDIN")
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != 0 { // the trigger dropped every row; COPY reports rows inserted
		t.Logf("COPY FROM reported %d rows", tag.RowsAffected())
	}
	var counted countingWriter
	tag, err = c.PgConn().CopyTo(ctxT(t, 10*time.Minute), &counted,
		fmt.Sprintf("COPY (SELECT repeat('y', 1000) FROM generate_series(1, %d)) TO STDOUT", rows))
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != int64(rows) || counted.n != int64(rows*1001) {
		t.Fatalf("COPY TO: %d rows, %d bytes; want %d rows", tag.RowsAffected(), counted.n, rows)
	}
	// Client and server share this process: the client side holds its 64 KiB buffers too.
	if p := peak.Load(); p > 64<<20 {
		t.Fatalf("heap in use peaked at %d MiB while copying %d MiB each way", p>>20, mb)
	}
	t.Logf("copied %d MiB each way; peak heap in use %d MiB", mb, peak.Load()>>20)
}

type repeatReader struct {
	line []byte
	n    int
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	written := 0
	for written < len(p) && r.n > 0 {
		k := copy(p[written:], r.line[r.off:])
		written += k
		r.off += k
		if r.off == len(r.line) {
			r.off = 0
			r.n--
		}
	}
	return written, nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func envInt(name string) int {
	v, _ := strconv.Atoi(os.Getenv(name))
	return v
}

// BenchmarkRoundTrip measures one simple-protocol round trip (SELECT 1) directly, through a plain
// io.Copy TCP relay, and through vecgate. Compare with benchstat; `vecgate bench proxy` runs the
// pgbench version of this comparison.
func BenchmarkRoundTrip(b *testing.B) {
	dsn := pgtest.DSN(b)
	_, via := startProxy(b, dsn)
	relay := startRelay(b, dsn)
	for _, bc := range []struct{ name, dsn string }{{"direct", dsn}, {"relay", relay}, {"vecgate", via(dsn)}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := pgconn.Connect(context.Background(), bc.dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(context.Background())
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Exec(context.Background(), "SELECT 1").ReadAll(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// startRelay runs the floor any user-space proxy pays: io.Copy both ways, nothing understood.
func startRelay(t testing.TB, dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	up := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				u, err := net.Dial("tcp", up)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(u, c); u.Close() }()
				io.Copy(c, u)
				c.Close()
			}()
		}
	}()
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", cfg.User, ln.Addr(), cfg.Database)
}
