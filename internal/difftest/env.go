package difftest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// env is the running system under test: the tester's databases and roles, and vecgate.
type env struct {
	cfg      *Config
	log      *slog.Logger
	base     *pgx.ConnConfig // AdminDSN parsed
	dbs      [2]string
	created  [2]bool
	admin    [2]*pgx.Conn
	roles    []string
	proc     *exec.Cmd
	exited   chan error
	listen   string // vecgate's client address
	http     string // vecgate's HTTP address
	slot     string // --slot-name
	hc       http.Client
	procLogs io.Writer
	seq      string
	password string
	world    *world
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// connConfig returns the config of a session to database db as user ("" the admin user), direct
// or through vecgate.
func (e *env) connConfig(db int, user string, viaVecgate bool) *pgx.ConnConfig {
	c := e.base.Copy()
	c.Database = e.dbs[db]
	if user != "" {
		c.User, c.Password = user, ""
		c.Password = e.password
	}
	if viaVecgate {
		host, port, _ := net.SplitHostPort(e.listen)
		p, _ := strconv.Atoi(port)
		c.Host, c.Port = host, uint16(p)
		c.Fallbacks = nil
	}
	c.RuntimeParams = map[string]string{"application_name": "vecgate-difftest"}
	return c
}

func (e *env) connect(ctx context.Context, db int, user string, via bool) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return pgx.ConnectConfig(cctx, e.connConfig(db, user, via))
}

// exec runs statements on conn, stopping at the first error.
func execAll(ctx context.Context, c *pgx.Conn, stmts []string) error {
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("%s: %w", abbreviate(s, 200), err)
		}
	}
	return nil
}

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// setup creates databases, roles and the world, then starts (or finds) vecgate.
func (e *env) setup(ctx context.Context, w *world, prefix string) error {
	admin, err := pgx.ConnectConfig(ctx, e.base)
	if err != nil {
		return fmt.Errorf("difftest: connect admin: %w", err)
	}
	defer admin.Close(ctx)

	e.dbs = [2]string{prefix + "_a", prefix + "_b"}
	if e.cfg.Database != "" {
		e.dbs[0] = e.cfg.Database
	}
	for i, db := range e.dbs {
		if i == 0 && e.cfg.Database != "" {
			continue
		}
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return fmt.Errorf("difftest: create database %s: %w", db, err)
		}
		e.created[i] = true
	}
	for _, s := range w.Roles.roleSQL() {
		if _, err := admin.Exec(ctx, s); err != nil {
			return fmt.Errorf("difftest: %s: %w", s, err)
		}
	}
	e.roles = w.Roles.list()
	e.world = w
	for i := range e.dbs {
		c, err := e.connect(ctx, i, "", false)
		if err != nil {
			return fmt.Errorf("difftest: connect %s: %w", e.dbs[i], err)
		}
		e.admin[i] = c
		if err := execAll(ctx, c, w.setupSQL(e.cfg, i)); err != nil {
			return fmt.Errorf("difftest: setup %s: %w", e.dbs[i], err)
		}
	}
	if e.cfg.Listen != "" {
		e.listen, e.http = e.cfg.Listen, e.cfg.HTTPListen
	} else if err := e.startVecgate(ctx); err != nil {
		return err
	}
	return e.waitIndexes(ctx, w)
}

func (e *env) upstreamDSN() string {
	c := e.base
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", c.User, c.Host, c.Port, e.dbs[0])
	if c.Password != "" {
		u = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", c.User, c.Password, c.Host, c.Port, e.dbs[0])
	}
	return u
}

func (e *env) startVecgate(ctx context.Context) error {
	var err error
	if e.listen, err = freeAddr(); err != nil {
		return err
	}
	if e.http, err = freeAddr(); err != nil {
		return err
	}
	cmd := exec.Command(e.cfg.VecgateBinary, "serve", "--upstream", e.upstreamDSN(), "--listen", e.listen,
		"--http-listen", e.http, "--slot-name", e.slot, "--progress", "never", "--log-level", "warn")
	cmd.Stdout = e.procLogs
	cmd.Stderr = e.procLogs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("difftest: start vecgate: %w", err)
	}
	e.proc = cmd
	e.exited = make(chan error, 1)
	go func() { e.exited <- cmd.Wait() }()
	e.log.Info("vecgate started", "pid", cmd.Process.Pid, "listen", e.listen, "http", e.http, "slot", e.slot)
	return nil
}

// waitIndexes waits for /readyz and for every index of database 0 to be live and ready.
func (e *env) waitIndexes(ctx context.Context, w *world) error {
	// Every (table, column, operator) of database 0 must have a ready twin (a partitioned
	// table's are its partitions', which vecgate searches for it).
	want := map[string]bool{"public.dt_marker/e/<->": true}
	for _, t := range w.Tables {
		if t.DB != 0 {
			continue
		}
		for _, name := range t.twinTables() {
			for _, ix := range t.Indexes {
				for _, o := range append(ops, bitOps[0]) { // no Jaccard twin
					if o.Opclass == ix.Opclass {
						want[name+"/"+ix.Col+"/"+o.Sym] = true
					}
				}
			}
		}
	}
	deadline := time.Now().Add(3 * time.Minute) // slot creation waits for every running transaction in the cluster
	var last string
	for time.Now().Before(deadline) {
		select {
		case err := <-e.exited:
			return fmt.Errorf("difftest: vecgate exited during start: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		st, err := e.status(ctx)
		if err != nil {
			last = err.Error()
			continue
		}
		have := map[string]bool{}
		for _, ix := range st.Indexes {
			if ix.State == "ready" {
				have[ix.Table+"/"+ix.Column+"/"+ix.Metric] = true
			}
		}
		var missing []string
		for k := range want {
			if !have[k] {
				missing = append(missing, k)
			}
		}
		last = fmt.Sprintf("%d of %d twins ready; missing %v", len(want)-len(missing), len(want), missing)
		if len(missing) == 0 {
			return nil
		}
	}
	return fmt.Errorf("difftest: vecgate not ready after 3 minutes: %s", last)
}

// vgStatus is the part of vecgate's /status the tester reads.
type vgStatus struct {
	Intercepted int64            `json:"intercepted"`
	FastPath    int64            `json:"fast_path"`
	Forwarded   map[string]int64 `json:"forwarded"`
	Replication *struct {
		State      string `json:"state"`
		AppliedLSN string `json:"applied_lsn"`
	} `json:"replication"`
	Indexes []struct {
		Table, Column, Metric, State string
	} `json:"indexes"`
}

func (e *env) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+e.http+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, err
}

func (e *env) status(ctx context.Context) (*vgStatus, error) {
	b, err := e.get(ctx, "/status")
	if err != nil {
		return nil, err
	}
	var s vgStatus
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("difftest: /status: %w", err)
	}
	return &s, nil
}

// counters are vecgate's statement counters, from /metrics.
type counters struct {
	Intercepted, Fast int64
	Forwarded         map[string]int64
}

func (c counters) forwarded() int64 {
	var n int64
	for _, v := range c.Forwarded {
		n += v
	}
	return n
}

func (c counters) sub(o counters) counters {
	d := counters{Intercepted: c.Intercepted - o.Intercepted, Fast: c.Fast - o.Fast, Forwarded: map[string]int64{}}
	for k, v := range c.Forwarded {
		if v-o.Forwarded[k] != 0 {
			d.Forwarded[k] = v - o.Forwarded[k]
		}
	}
	return d
}

func (e *env) metrics(ctx context.Context) (counters, error) {
	b, err := e.get(ctx, "/metrics")
	c := counters{Forwarded: map[string]int64{}}
	if err != nil {
		return c, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case name == "vecgate_intercepted_total":
			c.Intercepted = int64(f)
		case name == "vecgate_fast_path_total":
			c.Fast = int64(f)
		case strings.HasPrefix(name, "vecgate_forwarded_total{"):
			r := name[strings.Index(name, "{")+1 : len(name)-1]
			for _, kv := range strings.Split(r, ",") {
				if k, v, ok := strings.Cut(kv, "="); ok && k == "reason" {
					c.Forwarded[strings.Trim(v, `"`)] += int64(f)
				}
			}
		}
	}
	return c, nil
}

// parseLSN parses 0/16B3748.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, err
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, err
	}
	return h<<32 | l, nil
}

// catchUp commits a marker write in database 0 and waits until vecgate has applied it.
func (e *env) catchUp(ctx context.Context) error {
	a := e.admin[0]
	if _, err := a.Exec(ctx, "UPDATE public.dt_marker SET e = '[1,1]' WHERE id = 1"); err != nil {
		return fmt.Errorf("difftest: marker: %w", err)
	}
	var cur string
	if err := a.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&cur); err != nil {
		return err
	}
	target, err := parseLSN(cur)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.status(ctx)
		if err == nil && st.Replication != nil {
			if lsn, err := parseLSN(st.Replication.AppliedLSN); err == nil && lsn >= target {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("difftest: replication did not reach %s in 20s", cur)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// close stops vecgate and drops what setup created.
func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range e.admin {
		if c != nil {
			c.Close(ctx)
		}
	}
	if e.proc != nil {
		_ = e.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(10 * time.Second):
			_ = e.proc.Process.Kill()
			<-e.exited
		}
	}
	admin, err := pgx.ConnectConfig(ctx, e.base)
	if err != nil {
		e.log.Error("cleanup: connect", "err", err)
		return
	}
	defer admin.Close(ctx)
	if e.proc != nil || e.created[0] {
		slot := "vecgate_" + e.slot
		for range 50 {
			_, _ = admin.Exec(ctx, `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active`, slot)
			_, _ = admin.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, slot)
			var left int
			if admin.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&left) != nil || left == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i, db := range e.dbs {
		if e.created[i] {
			if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				e.log.Error("cleanup: drop database", "db", db, "err", err)
			}
		}
	}
	if e.cfg.Database != "" {
		// A database the tester did not create: drop only its own objects.
		if c, err := e.connect(ctx, 0, "", false); err == nil {
			for _, r := range e.roles {
				_, _ = c.Exec(ctx, "DROP OWNED BY "+r+" CASCADE")
			}
			if e.world != nil {
				for _, t := range e.world.Tables {
					if t.DB == 0 {
						_, _ = c.Exec(ctx, "DROP TABLE IF EXISTS "+t.qualified()+" CASCADE")
					}
				}
				_, _ = c.Exec(ctx, "DROP SEQUENCE IF EXISTS "+e.world.Seq)
			}
			_, _ = c.Exec(ctx, "DROP TABLE IF EXISTS public.dt_marker")
			_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS s2 CASCADE")
			c.Close(ctx)
		}
	}
	for _, r := range e.roles {
		if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+r); err != nil {
			e.log.Error("cleanup: drop role", "role", r, "err", err)
		}
	}

}

var errNotCaughtUp = errors.New("difftest: replication lag")
