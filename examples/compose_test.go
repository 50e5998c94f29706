package examples_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vecgate/vecgate/internal/pgtest"
)

const (
	repoRoot    = ".."
	composeFile = "../docker-compose.yml"
	dockerfile  = "../Dockerfile"
	initSQL     = "compose/init.sql"
)

// composeCLI finds a Compose implementation that validates files without a Docker engine:
// the docker CLI's compose plugin, else the standalone docker-compose.
func composeCLI() []string {
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	return nil
}

// TestComposeFileValidates has Compose itself parse and validate docker-compose.yml (no engine
// needed), and checks that it rejects a broken copy, so the check can fail.
func TestComposeFileValidates(t *testing.T) {
	cli := composeCLI()
	if cli == nil {
		t.Skip("neither `docker compose` (the docker CLI's compose plugin) nor `docker-compose` is installed: " +
			"docker-compose.yml is not validated by Compose here (Debian: apt-get install docker-compose); " +
			"TestComposeMatchesServe still checks it against vecgate's flags")
	}
	validate := func(dir, file string) ([]byte, error) {
		args := append(cli[1:], "--project-directory", dir, "-f", file, "config", "--quiet")
		cmd := exec.Command(cli[0], args...)
		cmd.Env = append(os.Environ(), "COMPOSE_PROJECT_NAME=vecgate-test")
		return cmd.CombinedOutput()
	}
	if out, err := validate(repoRoot, composeFile); err != nil {
		t.Fatalf("%s config --quiet: %v\n%s", strings.Join(cli, " "), err, out)
	}
	good, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), "condition: service_healthy", "condition: service_sleepy", 1)
	if bad == string(good) {
		t.Fatal("docker-compose.yml has no `condition: service_healthy`")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := validate(dir, filepath.Join(dir, "docker-compose.yml")); err == nil {
		t.Fatalf("Compose accepted an invalid depends_on condition: the validation checks nothing\n%s", out)
	}
}

// serveFlags builds vecgate and returns the flag names `vecgate serve -h` documents.
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vecgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/vecgate")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vecgate: %v\n%s", err, out)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", "-h")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // -h exits non-zero
	if !strings.Contains(out.String(), "usage: vecgate serve") {
		t.Fatalf("`vecgate serve -h` printed no serve usage: is serve a subcommand?\n%s", out.String())
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(out.String(), -1) {
		flags[m[1]] = true
	}
	if !flags["listen"] || !flags["upstream"] {
		t.Fatalf("serve documents no --listen/--upstream:\n%s", out.String())
	}
	return flags
}

// flagOfEnv maps VECGATE_MAX_CONNS to max-conns.
func flagOfEnv(env string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(env, "VECGATE_")), "_", "-")
}

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct{ op, args string }

func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(more + " ")
			continue
		}
		cur.WriteString(line)
		op, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestComposeMatchesServe checks the Dockerfile and docker-compose.yml against the real
// `vecgate serve`: the image runs `vecgate serve` as a non-root user, built with cgo on Debian, and
// every VECGATE_* variable they set names a serve flag.
func TestComposeMatchesServe(t *testing.T) {
	flags := serveFlags(t)
	ins := readDockerfile(t)
	var froms, runs []string
	env := map[string]string{}
	last := map[string]string{}
	for _, in := range ins {
		last[in.op] = in.args
		switch in.op {
		case "FROM":
			froms = append(froms, in.args)
		case "RUN":
			runs = append(runs, in.args)
		case "ENV":
			for _, kv := range strings.Fields(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	if len(froms) != 2 {
		t.Fatalf("want a two-stage build (builder, runtime), got FROM %q", froms)
	}
	builder := regexp.MustCompile(`^golang:1\.26-(bookworm|trixie) AS build$`).FindStringSubmatch(froms[0])
	if builder == nil {
		t.Fatalf("builder %q: want golang:1.26-<debian release> AS build", froms[0])
	}
	if froms[1] != "debian:"+builder[1]+"-slim" {
		t.Errorf("runtime %q: want debian:%s-slim (the builder's Debian release, for glibc)", froms[1], builder[1])
	}
	if env["CGO_ENABLED"] != "1" {
		t.Errorf("CGO_ENABLED=%q: pg_query_go needs cgo", env["CGO_ENABLED"])
	}
	if !anyOf(runs, func(r string) bool { return strings.Contains(r, "go build") && strings.HasSuffix(r, "./cmd/vecgate") }) {
		t.Errorf("no RUN builds ./cmd/vecgate: %q", runs)
	}
	if u := last["USER"]; u == "" || strings.HasPrefix(u, "root") || strings.HasPrefix(u, "0") {
		t.Errorf("USER %q: the image must not run as root", u)
	}
	if !strings.Contains(last["COPY"], "/usr/local/bin/vecgate") {
		t.Errorf("last COPY %q: want the binary on PATH as /usr/local/bin/vecgate", last["COPY"])
	}
	var entrypoint, cmd []string
	if err := json.Unmarshal([]byte(last["ENTRYPOINT"]), &entrypoint); err != nil || len(entrypoint) != 1 || entrypoint[0] != "vecgate" {
		t.Errorf(`ENTRYPOINT %s: want ["vecgate"] (exec form) (%v)`, last["ENTRYPOINT"], err)
	}
	if err := json.Unmarshal([]byte(last["CMD"]), &cmd); err != nil || len(cmd) != 1 || cmd[0] != "serve" {
		t.Errorf(`CMD %s: want ["serve"] (exec form) (%v)`, last["CMD"], err)
	}
	for k := range env {
		if strings.HasPrefix(k, "VECGATE_") && !flags[flagOfEnv(k)] {
			t.Errorf("Dockerfile sets %s but serve has no --%s", k, flagOfEnv(k))
		}
	}

	compose, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(VECGATE_[A-Z0-9_]+):\s*(\S+)\s*$`).FindAllStringSubmatch(string(compose), -1) {
		vars[m[1]] = m[2]
		if !flags[flagOfEnv(m[1])] {
			t.Errorf("docker-compose.yml sets %s but serve has no --%s", m[1], flagOfEnv(m[1]))
		}
	}
	if vars["VECGATE_LISTEN"] != "0.0.0.0:5433" {
		t.Errorf("VECGATE_LISTEN %q: want 0.0.0.0:5433 (inside the container)", vars["VECGATE_LISTEN"])
	}
	if !strings.Contains(string(compose), `"127.0.0.1:5433:5433"`) || last["EXPOSE"] != "5433" {
		t.Errorf("vecgate's port 5433 must be exposed by the image and published on 127.0.0.1 only")
	}
	up, err := pgconn.ParseConfig(vars["VECGATE_UPSTREAM"])
	if err != nil {
		t.Fatalf("VECGATE_UPSTREAM %q: %v", vars["VECGATE_UPSTREAM"], err)
	}
	if up.Host != "postgres" || up.Port != 5432 {
		t.Errorf("VECGATE_UPSTREAM points at %s:%d, want the postgres service at postgres:5432", up.Host, up.Port)
	}
	for _, want := range []string{
		"image: pgvector/pgvector:pg17",
		"command: postgres -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10",
		"pg_isready",
		"condition: service_healthy",
		"./examples/compose/init.sql:/docker-entrypoint-initdb.d/",
		"build: .",
	} {
		if !strings.Contains(string(compose), want) {
			t.Errorf("docker-compose.yml lacks %q", want)
		}
	}
}

func anyOf(xs []string, f func(string) bool) bool {
	for _, x := range xs {
		if f(x) {
			return true
		}
	}
	return false
}

// TestComposeInitSQL runs examples/compose/init.sql the way the Postgres image does (psql with
// ON_ERROR_STOP) against a fresh database and checks the demo data.
func TestComposeInitSQL(t *testing.T) {
	dsn := pgtest.NewDB(t)
	script, err := os.ReadFile(initSQL)
	if err != nil {
		t.Fatal(err)
	}
	psql := pgtest.Tool(t, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", "-")
	psql.Stdin = bytes.NewReader(script)
	start := time.Now()
	// NOTICEs are fine (the test database already has the vector extension); errors and warnings are not.
	if out, err := psql.CombinedOutput(); err != nil || bytes.Contains(out, []byte("ERROR")) || bytes.Contains(out, []byte("WARNING")) {
		t.Fatalf("psql -f init.sql: %v\n%s", err, out)
	}
	t.Logf("init.sql ran in %s", time.Since(start).Round(time.Millisecond))

	c := pgtest.Connect(t, dsn)
	var rows, categories, distinct int
	if err := c.QueryRow(ctxT(t), `SELECT count(*), count(DISTINCT category), count(DISTINCT embedding::text) FROM items`).
		Scan(&rows, &categories, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != 5000 || categories != 10 || distinct != rows {
		t.Fatalf("items: %d rows, %d categories, %d distinct embeddings; want 5000, 10, 5000", rows, categories, distinct)
	}
	var dims int
	if err := c.QueryRow(ctxT(t), `SELECT vector_dims(embedding) FROM items LIMIT 1`).Scan(&dims); err != nil || dims != 8 {
		t.Fatalf("dims %d, %v", dims, err)
	}
	lines, err := c.Query(ctxT(t), `EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> '[1,0,1,0,1,0,1,0]' LIMIT 5`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(lines, pgx.RowTo[string])
	if err != nil || !strings.Contains(strings.Join(plan, "\n"), "items_embedding_hnsw") {
		t.Fatalf("the demo top-k query does not use the HNSW index: %q (%v)", plan, err)
	}
	// Categories cluster: the nearest neighbours of an item are mostly of its own category.
	var same int
	if err := c.QueryRow(ctxT(t), `SELECT count(*) FILTER (WHERE n.category = q.category) FROM
		(SELECT category, embedding FROM items WHERE id = 42) q,
		LATERAL (SELECT category FROM items ORDER BY embedding <-> q.embedding LIMIT 10) n`).Scan(&same); err != nil {
		t.Fatal(err)
	}
	if same < 8 {
		t.Errorf("only %d of item 42's 10 nearest neighbours share its category: the demo data does not cluster", same)
	}
}
