package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vecgate/vecgate/gateway"
	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/observe"
	"github.com/vecgate/vecgate/proxy"
)

// The framework suite (frameworks/, docs/frameworks.md): LangChain JS, LlamaIndex TS, Drizzle,
// Knex and GORM, used as a new user would, through vecgate and directly. Each framework gets its
// own database and vecgate; its program loads the documents through vecgate, then runs its
// searches through vecgate and directly against the same rows. The answers must be the same
// (distances within 1e-6 relative: vecgate sums float32 in another order than pgvector), and
// each step's statements are counted by path from the gateway's counters.

const frameworksDir = "frameworks"

// frameworkCase is one framework: the command that runs its program, the table its twin
// follows, and what vecgate does today with its searches (wants, by kind of step).
type frameworkCase struct {
	name   string
	cmd    []string // program and arguments before the mode; "go-gorm" is built first
	table  string
	retags bool // churn updates a row's metadata only (lib.mjs)
	wants  map[string]pathWant
}

// pathWant is what the steps of one kind (three searches each) must at least get from vecgate,
// summed over the steps: statements answered from memory, and statements answered by vecgate at
// all (from memory or by the id-list rewrite). Less is a regression; more is logged, for the
// want to be raised.
type pathWant struct{ fast, intercepted int64 }

// frameworkCases says what is true today (docs/frameworks.md explains each line).
var frameworkCases = []frameworkCase{
	// SELECT *, … WHERE collection_id = $3 (uuid), and a metadata->>'…' filter: from memory
	// (covering twins: the * with the vector column, held-column and jsonb-member filters) but
	// for each shape's first run in a session, which teaches vecgate the description.
	{name: "langchain", cmd: []string{"node", "langchain.mjs"}, table: "langchain_pg_embedding",
		wants: map[string]pathWant{"search": {2, 3}, "filter": {3, 3}, "mmr": {2, 3}}},
	// SELECT v.*, … WHERE collection = $2: the same.
	{name: "llamaindex", cmd: []string{"node", "llamaindex.mjs"}, table: "llamaindex_embedding",
		wants: map[string]pathWant{"search": {2, 3}, "filter": {3, 3}}},
	// similarity: 1 - (distance) projected, bounded in the WHERE and ordered DESC; distance: the
	// vector bound once per use ($1 in the select list, $2 in ORDER BY). From memory once the
	// bound vectors are seen to be the same (planner/similarity.go), but for each shape's first
	// run in a session (node-postgres describes the portal).
	{name: "drizzle", cmd: []string{"node", "drizzle.mjs"}, table: "documents", retags: true,
		wants: map[string]pathWant{"similarity": {2, 3}, "distance": {2, 3}, "filter": {3, 3}}},
	// distance: node-postgres asks for the description of an unnamed portal, which vecgate learns
	// from the first run of the shape in the session (rewritten), then answers from memory.
	{name: "knex", cmd: []string{"node", "knex.mjs"}, table: "items", retags: true,
		wants: map[string]pathWant{"star": {2, 3}, "distance": {2, 3}, "filter": {3, 3}}},
	// distance: pgx prepares the statement, and its description comes from the Parse.
	{name: "gorm", cmd: []string{"go-gorm"}, table: "documents", retags: true,
		wants: map[string]pathWant{"star": {3, 3}, "distance": {3, 3}, "filter": {3, 3}}},
}

// stepCounts are the statements of one step, by path.
type stepCounts struct {
	fast, rewrite int64
	forwarded     map[string]int64 // by reason
}

func (c stepCounts) String() string {
	var fw []string
	for r, n := range c.forwarded {
		fw = append(fw, fmt.Sprintf("%s=%d", r, n))
	}
	slices.Sort(fw)
	return fmt.Sprintf("memory %d, rewrite %d, forwarded %d %v", c.fast, c.rewrite, sumValues(c.forwarded), fw)
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// stepResult is one line a program prints: the step's name and, for searches, the rows.
type stepResult struct {
	Step    string           `json:"step"`
	Results []map[string]any `json:"results"`
}

// retaggedRows counts the rows of steps whose metadata churn retagged.
func retaggedRows(steps []stepResult) int {
	n := 0
	for _, s := range steps {
		for _, r := range s.Results {
			if m, _ := r["metadata"].(map[string]any); m["retagged"] == true {
				n++
			}
		}
	}
	return n
}

// revisedRows counts the rows of steps whose content churn revised (the " (revised)" suffix).
func revisedRows(steps []stepResult) int {
	n := 0
	for _, s := range steps {
		for _, r := range s.Results {
			if c, _ := r["content"].(string); strings.HasSuffix(c, " (revised)") {
				n++
			}
		}
	}
	return n
}

func TestFrameworks(t *testing.T) {
	pgtest.DSN(t) // skips without a test server
	if testing.Short() {
		t.Skip("the framework suite runs Node and Go programs: not in -short")
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = exec.LookPath("npm")
	}
	if err != nil {
		t.Skipf("the framework suite needs node and npm on PATH (%v): install Node.js 20 or later to run it", err)
	}
	npmCI(t, node)
	gormBin := buildGorm(t)

	var table []string
	for _, fc := range frameworkCases {
		t.Run(fc.name, func(t *testing.T) {
			cmd := slices.Clone(fc.cmd)
			if cmd[0] == "go-gorm" {
				cmd = []string{gormBin}
			}
			rows := runFramework(t, fc, cmd)
			table = append(table, rows...)
		})
	}
	t.Logf("statements by path, per step (through vecgate):\n%s", strings.Join(table, "\n"))
}

// runFramework runs one framework's load and searches and returns its lines of the path table.
func runFramework(t *testing.T, fc frameworkCase, cmd []string) []string {
	dsn := pgtest.NewDB(t)
	g := startGateway(t, dsn)
	via := viaGateway(t, dsn, g)

	var lines []string
	record := func(phase string, steps []stepResult, counts []stepCounts) {
		for i, s := range steps {
			lines = append(lines, fmt.Sprintf("%-10s %-6s %-13s %s", fc.name, phase, s.Step, counts[i]))
		}
	}
	loadSteps, loadCounts := runProgram(t, cmd, "load", via, g)
	record("load", loadSteps, loadCounts)
	waitTwin(t, g, fc.table, 200)
	var toasted bool
	err := pgtest.Connect(t, dsn).QueryRow(context.Background(),
		`SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE oid = $1::regclass`, fc.table).Scan(&toasted)
	if err != nil || !toasted {
		t.Fatalf("%s: contents not stored out of line (%v)", fc.table, err)
	}

	viaSteps, viaCounts := runProgram(t, cmd, "search", via, g)
	record("search", viaSteps, viaCounts)
	directSteps, _ := runProgram(t, cmd, "search", dsn, nil)
	sameSteps(t, "search", viaSteps, directSteps)

	// Churn: a delete and inserts through vecgate, and the searches at once (the session's
	// writes must be seen); then the same searches directly.
	churnSteps, churnCounts := runProgram(t, cmd, "churn", via, g)
	record("churn", churnSteps, churnCounts)
	if len(churnSteps) == 0 || churnSteps[0].Step != "write" {
		t.Fatalf("churn: steps %v, want write first", churnSteps)
	}
	directSteps, _ = runProgram(t, cmd, "search", dsn, nil)
	sameSteps(t, "churn", churnSteps[1:], directSteps)
	if revisedRows(churnSteps) == 0 {
		t.Errorf("churn: no revised row in the searches: the update tests nothing")
	}
	if fc.retags && retaggedRows(churnSteps) == 0 {
		t.Errorf("churn: no retagged row in the searches: the metadata update tests nothing")
	}

	got := map[string]pathWant{}
	for i, v := range viaSteps {
		kind, _, _ := strings.Cut(v.Step, " ")
		if _, ok := fc.wants[kind]; !ok {
			t.Errorf("%s: no want for steps %q", v.Step, kind)
		}
		g := got[kind]
		// A statement forwarded because replication lagged behind the session's writes past
		// the bounded wait is vecgate doing as designed on a loaded machine: not a regression.
		lagging := viaCounts[i].forwarded["lagging"]
		g.fast += viaCounts[i].fast + lagging
		g.intercepted += viaCounts[i].fast + viaCounts[i].rewrite + lagging
		got[kind] = g
	}
	for kind, want := range fc.wants {
		switch g := got[kind]; {
		case g.fast < want.fast || g.intercepted < want.intercepted:
			t.Errorf("%s steps regressed: %d from memory and %d answered by vecgate, want at least %d and %d",
				kind, g.fast, g.intercepted, want.fast, want.intercepted)
		case g != want:
			t.Logf("%s steps: %d from memory and %d answered by vecgate, more than the want (%d and %d): raise it",
				kind, g.fast, g.intercepted, want.fast, want.intercepted)
		}
	}
	return lines
}

// sameSteps requires the steps of a run through vecgate to be those of the run directly, with
// the same rows (compareResults), and rows directly.
func sameSteps(t *testing.T, phase string, via, direct []stepResult) {
	t.Helper()
	if len(via) != len(direct) {
		t.Fatalf("%s: %d steps through vecgate, %d directly", phase, len(via), len(direct))
	}
	for i, v := range via {
		d := direct[i]
		if v.Step != d.Step {
			t.Fatalf("%s: step %d: %q through vecgate, %q directly", phase, i, v.Step, d.Step)
		}
		if len(d.Results) == 0 {
			t.Errorf("%s: %s: no rows directly: the step tests nothing", phase, d.Step)
		}
		if diff := compareResults(v.Results, d.Results); diff != "" {
			t.Errorf("%s: %s: through vecgate and directly differ: %s\nvia:    %v\ndirect: %v", phase, v.Step, diff, v.Results, d.Results)
		}
	}
}

// runProgram runs cmd with mode against dsn, reading its steps; between steps it reads the
// counters of g (nil: not through vecgate) and returns each step's statements by path.
func runProgram(t *testing.T, cmd []string, mode, dsn string, g *gateway.Gateway) ([]stepResult, []stepCounts) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd[0], append(cmd[1:], mode)...)
	c.Dir = frameworksDir
	c.Env = append(os.Environ(), "DATABASE_URL="+dsn)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		_ = stdin.Close()
		_ = c.Wait()
		t.Fatalf("%s %s: %s\nstderr:\n%s", strings.Join(cmd, " "), mode, fmt.Sprintf(format, args...), stderr.String())
	}
	var steps []stepResult
	var counts []stepCounts
	before := stats(g)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s stepResult
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			fail("line %q: %v", sc.Text(), err)
		}
		if s.Step == "end" {
			break
		}
		after := settledStats(g)
		counts = append(counts, delta(before, after))
		steps = append(steps, s)
		before = after
		if _, err := io.WriteString(stdin, "next\n"); err != nil {
			fail("stdin: %v", err)
		}
	}
	_ = stdin.Close()
	_, _ = io.Copy(io.Discard, stdout)
	if err := c.Wait(); err != nil || sc.Err() != nil {
		fail("%v %v", err, sc.Err())
	}
	return steps, counts
}

func stats(g *gateway.Gateway) observe.Stats {
	if g == nil {
		return observe.Stats{Forwarded: map[string]int64{}}
	}
	return g.Stats()
}

// settledStats reads g's counters once they have not moved for 30 ms: a statement is counted
// when vecgate has sent its answer, a moment after the client may have read it.
func settledStats(g *gateway.Gateway) observe.Stats {
	s := stats(g)
	for range 100 {
		time.Sleep(30 * time.Millisecond)
		n := stats(g)
		if reflect.DeepEqual(n, s) {
			break
		}
		s = n
	}
	return s
}

func delta(a, b observe.Stats) stepCounts {
	c := stepCounts{fast: b.FastPath - a.FastPath, rewrite: (b.Intercepted - b.FastPath) - (a.Intercepted - a.FastPath),
		forwarded: map[string]int64{}}
	for r, n := range b.Forwarded {
		if d := n - a.Forwarded[r]; d != 0 {
			if r == "" {
				r = "unsaid"
			}
			c.forwarded[r] = d
		}
	}
	return c
}

// compareResults says how two steps' rows differ ("" when they do not): every field equal, but
// the score, within 1e-6 relative.
func compareResults(via, direct []map[string]any) string {
	if len(via) != len(direct) {
		return fmt.Sprintf("%d rows, want %d", len(via), len(direct))
	}
	for i := range via {
		v, d := via[i], direct[i]
		if !slices.Equal(sortedKeys(v), sortedKeys(d)) {
			return fmt.Sprintf("row %d: fields %v, want %v", i, sortedKeys(v), sortedKeys(d))
		}
		for k, dv := range d {
			if k == "score" {
				a, aok := v[k].(float64)
				b, bok := dv.(float64)
				if !aok || !bok || math.Abs(a-b) > 1e-6*math.Abs(b) {
					return fmt.Sprintf("row %d: score %v, want %v", i, v[k], dv)
				}
				continue
			}
			if !reflect.DeepEqual(v[k], dv) {
				return fmt.Sprintf("row %d: %s %v, want %v", i, k, v[k], dv)
			}
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// startGateway runs an intercepting vecgate in front of dsn until the test ends.
func startGateway(t *testing.T, dsn string) *gateway.Gateway {
	t.Helper()
	cfg := proxy.DefaultConfig()
	cfg.Listen, cfg.Upstream = "127.0.0.1:0", dsn
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("VECGATE_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	g, err := gateway.Start(context.Background(), gateway.Config{Proxy: cfg, Intercept: true,
		SlotName: fmt.Sprintf("fw%d", rand.Uint32()), CatalogInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return g
}

func viaGateway(t *testing.T, dsn string, g *gateway.Gateway) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(g.Addr().(*net.TCPAddr).Port))
	return u.String()
}

// waitTwin waits until replication streams and vecgate's twin of table holds rows rows (the
// programs wait through SHOW vecgate.status too; this says which side failed).
func waitTwin(t *testing.T, g *gateway.Gateway, table string, rows int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for _, ix := range g.Set().Indexes() {
			if ix.Table == table && ix.Len() == rows && g.Stream().Ready() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no twin of %s with %d rows: %+v", table, rows, g.Status().Indexes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// npmCI installs frameworks/node_modules from the lockfile, unless the install there was made
// from this lockfile already (a stamp with its hash).
func npmCI(t *testing.T, node string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(frameworksDir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	stamp := filepath.Join(frameworksDir, "node_modules", ".vecgate-lock-sha256")
	if have, err := os.ReadFile(stamp); err == nil && string(have) == hex.EncodeToString(sum[:]) {
		return
	}
	began := time.Now()
	c := exec.Command("npm", "ci", "--no-audit", "--no-fund")
	c.Dir = frameworksDir
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("npm ci (node %s): %v\n%s", node, err, out)
	}
	t.Logf("npm ci: %s", time.Since(began).Round(time.Second))
	if err := os.WriteFile(stamp, []byte(hex.EncodeToString(sum[:])), 0o644); err != nil {
		t.Fatal(err)
	}
}

// buildGorm builds the GORM program (its own module, frameworks/gorm) into the test's
// temporary directory.
func buildGorm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gorm")
	c := exec.Command("go", "build", "-o", bin, ".")
	c.Dir = filepath.Join(frameworksDir, "gorm")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("go build (frameworks/gorm): %v\n%s", err, out)
	}
	return bin
}
