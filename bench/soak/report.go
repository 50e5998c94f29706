package soak

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Report is what a soak did and found.
type Report struct {
	Clients int     `json:"clients"`
	Rows    int     `json:"rows"`
	Dims    int     `json:"dims"`
	Seconds float64 `json:"seconds"`
	Ops     OpStats `json:"ops"`
	// Faults injected by kind: cut (one to three connections), cut_all, stall, restart.
	Faults      map[string]int `json:"faults"`
	FaultsTotal int            `json:"faults_total"`
	RelayConns  int64          `json:"relay_connections"` // upstream connections relayed
	QuietPoints []QuietPoint   `json:"quiet_points"`
	// Totals over the quiet points.
	Checked      int      `json:"checked"`
	Wrong        []string `json:"wrong,omitempty"` // the first wrong answers
	WrongAnswers int      `json:"wrong_answers"`
	Lost         int      `json:"lost_rows"`
	Stale        int      `json:"stale_rows"`
	Duplicates   int      `json:"duplicate_rows"`
	MaxCatchUp   float64  `json:"max_catch_up_seconds"`
	Goroutines   struct {
		Baseline int `json:"baseline"` // after the load, before the clients
		Max      int `json:"max"`      // at the quiet points (clients included)
		End      int `json:"end"`      // after the clients closed
		Leaked   int `json:"leaked"`
	} `json:"goroutines"`
	MaxFDs      int              `json:"max_fds"`
	MaxRSS      int64            `json:"max_rss_bytes"`
	Windows     []Window         `json:"windows"` // latency of the answered vector queries
	Intercepted int64            `json:"intercepted"`
	FastPath    int64            `json:"fast_path"`
	Forwarded   map[string]int64 `json:"forwarded"`
	// Failures are the targets missed (empty: the soak passed).
	Failures []string `json:"failures,omitempty"`
}

// OpStats count the load's operations and their errors by class (connection, canceled,
// conflict, ddl, unexpected).
type OpStats struct {
	Ops        map[string]int64 `json:"ops"`
	Errors     map[string]int64 `json:"errors"`
	Unexpected []string         `json:"unexpected,omitempty"` // the first different unexpected errors
}

// Window is the latency of the vector queries answered in one window of the load.
type Window struct {
	Start   float64 `json:"start_seconds"`
	Queries int     `json:"queries"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	Maxms   float64 `json:"max_ms"`
}

// leakSlack is the goroutines the end may have over the baseline without counting as leaked
// (pgx's and the runtime's own come and go).
const leakSlack = 5

// finish sums the quiet points up and lists the failures.
func (r *Report) finish() {
	for _, n := range r.Faults {
		r.FaultsTotal += n
	}
	var unreached []string
	for i, qp := range r.QuietPoints {
		r.Checked += qp.Checked
		r.WrongAnswers += qp.Wrong
		r.Lost += qp.Lost
		r.Stale += qp.Stale
		r.Duplicates += qp.Duplicates
		r.MaxCatchUp = max(r.MaxCatchUp, qp.CatchUp)
		r.Goroutines.Max = max(r.Goroutines.Max, qp.Goroutines)
		r.MaxFDs = max(r.MaxFDs, qp.FDs)
		r.MaxRSS = max(r.MaxRSS, qp.RSS)
		if qp.Failure != "" {
			unreached = append(unreached, fmt.Sprintf("quiet point %d at %.0fs: %s", i+1, qp.At, qp.Failure))
		}
	}
	r.Failures = append(r.Failures, unreached...)
	if r.WrongAnswers > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d wrong answers of %d compared", r.WrongAnswers, r.Checked))
	}
	if r.Lost+r.Stale+r.Duplicates > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("twins: %d rows lost, %d stale, %d duplicated", r.Lost, r.Stale, r.Duplicates))
	}
	if r.Goroutines.End > r.Goroutines.Baseline+leakSlack {
		r.Failures = append(r.Failures, fmt.Sprintf("goroutines: %d after the load, %d before", r.Goroutines.End, r.Goroutines.Baseline))
	}
	if n := r.Ops.Errors["unexpected"]; n > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d unexpected errors: %s", n, strings.Join(r.Ops.Unexpected, "; ")))
	}
	if len(r.QuietPoints) == 0 || r.QuietPoints[len(r.QuietPoints)-1].Failure != "" {
		r.Failures = append(r.Failures, "vecgate did not recover by the last quiet point")
	}
}

// OK reports whether the soak met its targets.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

// Text writes the report for people.
func (r *Report) Text(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "vecgate bench soak: %d clients, %.0f s, %d rows × %d dims\n", r.Clients, r.Seconds, r.Rows, r.Dims)
	fmt.Fprintf(&b, "operations: %s\n", counts(r.Ops.Ops))
	fmt.Fprintf(&b, "errors (expected under faults): %s\n", counts(r.Ops.Errors))
	fmt.Fprintf(&b, "faults: %d (%s), %d upstream connections relayed\n", r.FaultsTotal, counts(r.Faults), r.RelayConns)
	fmt.Fprintf(&b, "statements: %d intercepted (%d from memory), forwarded %s\n", r.Intercepted, r.FastPath, counts(r.Forwarded))
	fmt.Fprintf(&b, "quiet points: %d; %d statements compared with Postgres, %d wrong; twins: %d rows lost, %d stale, %d duplicated; catch-up at most %.2f s\n",
		len(r.QuietPoints), r.Checked, r.WrongAnswers, r.Lost, r.Stale, r.Duplicates, r.MaxCatchUp)
	fmt.Fprintf(&b, "goroutines: %d before the load, at most %d during it, %d after (leaked %d); fds at most %d; RSS at most %d MiB\n",
		r.Goroutines.Baseline, r.Goroutines.Max, r.Goroutines.End, r.Goroutines.Leaked, r.MaxFDs, r.MaxRSS>>20)
	b.WriteString("\n| from (s) | vector queries | p50 (ms) | p99 (ms) | max (ms) |\n|---:|---:|---:|---:|---:|\n")
	for _, win := range r.Windows {
		fmt.Fprintf(&b, "| %.0f | %d | %.2f | %.2f | %.1f |\n", win.Start, win.Queries, win.P50ms, win.P99ms, win.Maxms)
	}
	b.WriteString("\n")
	for _, s := range r.Wrong {
		fmt.Fprintf(&b, "wrong: %s\n", s)
	}
	if r.OK() {
		b.WriteString("PASS: 0 wrong answers, 0 lost rows, no leaked goroutines; vecgate recovered from every fault\n")
	} else {
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "FAIL: %s\n", f)
		}
	}
	_, _ = io.WriteString(w, b.String())
}

// counts renders a map of counts as "a 3, b 1", sorted by name.
func counts[V int | int64](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
