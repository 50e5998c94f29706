package observe

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vecgate/vecgate/internal/procmem"
)

func TestETA(t *testing.T) {
	for _, c := range []struct {
		rows, total int64
		rate        float64
		want        time.Duration
	}{
		{100, 1100, 100, 10 * time.Second},
		{100, 1100, 0, 0},  // no rate yet
		{1100, 1000, 5, 0}, // past the estimate
		{0, 0, 10, 0},      // no estimate
	} {
		if got := ETA(c.rows, c.total, c.rate); got != c.want {
			t.Errorf("ETA(%d, %d, %v) = %s, want %s", c.rows, c.total, c.rate, got, c.want)
		}
	}
}

func TestFormatLoad(t *testing.T) {
	if got := FormatLoad(LoadProgress{Rows: 420, EstimatedRows: 1000, RowsPerSecond: 35, ETASeconds: 17}); got != "42% 420/1000 rows, 35 rows/s, ETA 17s" {
		t.Errorf("FormatLoad = %q", got)
	}
}

func TestStatsString(t *testing.T) {
	s := Stats{Intercepted: 9, FastPath: 8, Forwarded: map[string]int64{"loading": 1, "desc": 2}}
	if got := s.String(); got != "intercept=9 fast=8 forward:desc=2 forward:loading=1" {
		t.Errorf("Stats.String = %q", got)
	}
}

// TestStatusProcessRSS: status reports the process's resident memory, split, and says it in text.
func TestStatusProcessRSS(t *testing.T) {
	st := New(Source{Counts: &Counts{}}, Config{Version: "test"}).Status()
	if runtime.GOOS == "linux" && (st.Process == nil || st.Process.Anon <= 0 || st.Process.File <= 0) {
		t.Fatalf("status process RSS %+v", st.Process)
	}
	st.Process = &procmem.RSS{Anon: 3 << 30, File: 5 << 20}
	var b strings.Builder
	if err := st.WriteText(&b); err != nil || !strings.Contains(b.String(), "memory: RSS 3.0 GiB (anonymous 3.0 GiB, file-backed 5.0 MiB)\n") {
		t.Errorf("status text (%v):\n%s", err, b.String())
	}
}

func TestEstimatedRows(t *testing.T) {
	indexed := map[string]int64{"public.a": 500, "public.b": 70, "public.c": 10}
	est := map[string]float64{"public.a": 1000, "public.b": 60, "public.c": -1, "public.other": 5000}
	// a: 1000 estimated; b grew past its estimate (70); c has none (-1: never analysed): its rows.
	if got := estimatedRows(indexed, est); got != 1000+70+10 {
		t.Errorf("estimatedRows = %d, want 1080", got)
	}
}
