package observe

import (
	"testing"
	"time"
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
