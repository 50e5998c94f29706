package replication_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vecgate/vecgate/replication"
)

// The fault loop runs replication in a child process (this test binary re-executed with
// helperEnv set) so that it can be killed with SIGKILL. Protocol on stdin/stdout, one line each:
//
//	child → "ready"                       after Start
//	parent → "check <lsn>"                child waits for lsn, then prints
//	child → "row <id> <vector>" … "done"  the Memory contents of public.items.v
const helperEnv = "VECGATE_REPLICATION_HELPER"

func helperMain() int {
	cfg := replication.DefaultConfig()
	cfg.DSN = os.Getenv("HELPER_DSN")
	cfg.Name = os.Getenv("HELPER_NAME")
	cfg.SnapshotDir = os.Getenv("HELPER_DIR")
	cfg.SnapshotInterval = 50 * time.Millisecond
	cfg.ReconnectMin, cfg.ReconnectMax = 20*time.Millisecond, 200*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mem := replication.NewMemory()
	cfg.Applier = mem
	s, err := replication.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := s.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer s.Close()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		if cmd != "check" {
			continue
		}
		lsn, err := replication.ParseLSN(arg)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			err = s.WaitFor(ctx, lsn)
			cancel()
		}
		if err != nil {
			fmt.Fprintf(out, "error %v %+v\n", err, s.Status())
			out.Flush()
			continue
		}
		for id, v := range memVectors(mem, replication.Target{Schema: "public", Table: "items", Column: "v"}) {
			fmt.Fprintf(out, "row %d %s\n", id, v)
		}
		fmt.Fprintf(out, "done %d\n", s.Status().Resnapshots)
		out.Flush()
	}
	return 0
}

type helper struct {
	cmd   *osexec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startHelper(t *testing.T, dsn, name, dir string) *helper {
	t.Helper()
	cmd := osexec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_DSN="+dsn, "HELPER_NAME="+name, "HELPER_DIR="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	h.out.Buffer(make([]byte, 1<<20), 1<<20)
	if !h.out.Scan() || h.out.Text() != "ready" {
		t.Fatalf("helper did not start: %q %v", h.out.Text(), h.out.Err())
	}
	return h
}

// check asks the helper for its contents once it has applied lsn.
func (h *helper) check(t *testing.T, lsn replication.LSN) (map[int64]string, int) {
	t.Helper()
	fmt.Fprintf(h.stdin, "check %s\n", lsn)
	got := map[int64]string{}
	for h.out.Scan() {
		line := h.out.Text()
		var id int64
		var v string
		var n int
		switch {
		case strings.HasPrefix(line, "row "):
			if _, err := fmt.Sscanf(line, "row %d %s", &id, &v); err != nil {
				t.Fatalf("helper line %q: %v", line, err)
			}
			got[id] = v
		case strings.HasPrefix(line, "done "):
			fmt.Sscanf(line, "done %d", &n)
			return got, n
		default:
			t.Fatalf("helper: %s", line)
		}
	}
	t.Fatalf("helper ended: %v", h.out.Err())
	return nil, 0
}

func (h *helper) kill() {
	h.cmd.Process.Kill() // SIGKILL
	h.cmd.Wait()
}
