package replication_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/vecgate/vecgate/replication"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	goleak.VerifyTestMain(m)
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func startStream(t testing.TB, cfg replication.Config) *replication.Stream {
	t.Helper()
	s, err := replication.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func currentLSN(t testing.TB, c *pgx.Conn) replication.LSN {
	t.Helper()
	var s string
	if err := c.QueryRow(context.Background(), "SELECT pg_current_wal_lsn()::text").Scan(&s); err != nil {
		t.Fatal(err)
	}
	l, err := replication.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func waitCaughtUp(t testing.TB, s *replication.Stream, c *pgx.Conn) {
	t.Helper()
	lsn := currentLSN(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, lsn); err != nil {
		t.Fatalf("WaitFor(%s): %v; status %+v", lsn, err, s.Status())
	}
}

func exec(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func int8Key(id int64) replication.Key {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	return replication.Key(b[:])
}

func fmtVec(v []float32) string {
	var b strings.Builder
	for i, f := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(math.Float32bits(f)), 16))
	}
	return b.String()
}

// tableVectors reads (id, vector) of every row with a non-NULL vector.
func tableVectors(t testing.TB, c *pgx.Conn, table, col string) map[int64]string {
	t.Helper()
	rows, err := c.Query(context.Background(), fmt.Sprintf("SELECT id, %s::real[] FROM %s WHERE %s IS NOT NULL", col, table, col))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	var id int64
	var v []float32
	if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error { out[id] = fmtVec(v); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func memVectors(m *replication.Memory, target replication.Target) map[int64]string {
	out := map[int64]string{}
	m.Range(target, func(k replication.Key, v replication.Vector, _ []replication.Datum) bool {
		id, _ := k.Int64()
		out[id] = fmtVec(v.Values)
		return true
	})
	return out
}

func diff(want, got map[int64]string) string {
	var b strings.Builder
	n := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if n < 5 {
				fmt.Fprintf(&b, "key %d: want %.40s got %.40s (present %v)\n", k, w, g, ok)
			}
			n++
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			if n < 5 {
				fmt.Fprintf(&b, "key %d: unexpected\n", k)
			}
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(&b, "%d differences (want %d rows, got %d)", n, len(want), len(got))
	}
	return b.String()
}

func checkEqual(t testing.TB, c *pgx.Conn, m *replication.Memory, schema, table, col string) {
	t.Helper()
	want := tableVectors(t, c, schema+"."+table, col)
	got := memVectors(m, replication.Target{Schema: schema, Table: table, Column: col})
	if d := diff(want, got); d != "" {
		t.Fatalf("%s.%s.%s differs:\n%s", schema, table, col, d)
	}
}
