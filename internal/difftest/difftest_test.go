package difftest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vecgate/vecgate/internal/difftest"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// ciSeed and ciDuration fix what CI runs; VECGATE_DIFFTEST_SEED, _DURATION and _SKIP override
// them (a longer run by hand: go run ./cmd/vecgate-difftest -duration 1h).
const (
	ciSeed     = 20261207
	ciDuration = 75 * time.Second
)

// ciSkip lists the generator features CI leaves out (see difftest.Features); the maintainer
// decides which, as the defects they find are fixed.
const ciSkip = ""

// TestDifferential builds vecgate, runs it as its own process against a fresh database, and runs
// the differential tester for a bounded time with a fixed seed. Any difference fails the test
// with its shrunk reproduction; so does a vecgate that answers too few queries itself (one that
// forwarded everything would otherwise pass).
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("a bounded but long run: not in -short")
	}
	admin := pgtest.DSN(t)
	seed := uint64(ciSeed)
	if s := os.Getenv("VECGATE_DIFFTEST_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("VECGATE_DIFFTEST_SEED: %v", err)
		}
		seed = n
	}
	dur := ciDuration
	if s := os.Getenv("VECGATE_DIFFTEST_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("VECGATE_DIFFTEST_DURATION: %v", err)
		}
		dur = d
	}
	skipSpec := ciSkip
	if s, ok := os.LookupEnv("VECGATE_DIFFTEST_SKIP"); ok {
		skipSpec = s
	}
	skip, err := difftest.ParseSkip(skipSpec)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildVecgate(t)
	out := t.TempDir()
	logf, err := os.Create(filepath.Join(out, "vecgate.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	rep, err := difftest.Run(ctx, difftest.Config{
		AdminDSN: admin, VecgateBinary: bin, Seed: seed, Duration: dur, ShrinkTime: 30 * time.Second, OutDir: out, Skip: skip, VecgateLog: logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep.Summary())
	if rep.RunError > rep.Cases/20 || rep.CatchUpFailures > 2 {
		t.Errorf("%d of %d cases could not run, %d replication catch-up failures", rep.RunError, rep.Cases, rep.CatchUpFailures)
	}
	if rep.Queries < 200 {
		t.Errorf("only %d queries compared in %s", rep.Queries, dur)
	}
	// Many generated statements are forwarded on purpose (DESC, second sort keys, other databases,
	// encodings, volatile functions…): what must hold is that vecgate answered a good number of
	// them itself (a vecgate that forwarded everything would otherwise pass).
	if f := rep.InterceptedFraction(); f < 0.1 || rep.Intercepted < 100 {
		t.Errorf("vecgate answered only %d queries (%.0f%%) with its index: the run did not exercise it", rep.Intercepted, 100*f)
	}
	if rep.Hard+rep.Recall > 0 {
		t.Errorf("%d hard differences, %d recall misses (seed %d; reproductions above)", rep.Hard, rep.Recall, seed)
	}
}

// buildVecgate builds ./cmd/vecgate into a temporary directory.
func buildVecgate(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "vecgate")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/vecgate")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vecgate: %v\n%s", err, b)
	}
	return bin
}
