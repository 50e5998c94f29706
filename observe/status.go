package observe

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vecgate/vecgate/internal/procmem"
	"github.com/vecgate/vecgate/live"
	"github.com/vecgate/vecgate/replication"
)

// Status is a point-in-time view of a gateway: its live indexes, replication and the initial
// load. It is served as JSON at /status, printed by `vecgate status`, and as a table (Rows) by
// SHOW vecgate.status.
type Status struct {
	Time        time.Time         `json:"time"`
	Version     string            `json:"version"`
	Intercept   bool              `json:"intercept"`
	Sessions    int               `json:"sessions"`
	Intercepted int64             `json:"intercepted"`
	FastPath    int64             `json:"fast_path"`
	Forwarded   map[string]int64  `json:"forwarded,omitempty"` // by reason
	Replication *ReplicationState `json:"replication,omitempty"`
	Load        LoadProgress      `json:"load"`
	Indexes     []IndexStatus     `json:"indexes"`
	Skipped     []SkippedTarget   `json:"skipped,omitempty"`
	// Process is vecgate's resident memory (anonymous and file-backed) as the kernel counts it;
	// absent where /proc/self/status is not available.
	Process *procmem.RSS `json:"process_rss,omitempty"`
	// CatalogError is set when index parameters could not be read from the upstream catalog.
	CatalogError string `json:"catalog_error,omitempty"`
}

// ReplicationState is the replication stream's part of Status.
type ReplicationState struct {
	State        string  `json:"state"`
	Ready        bool    `json:"ready"`
	Slot         string  `json:"slot"`
	Publication  string  `json:"publication"`
	AppliedLSN   string  `json:"applied_lsn"`
	Acknowledged string  `json:"acknowledged_lsn"`
	Persisted    string  `json:"persisted_lsn,omitempty"`
	LagBytes     uint64  `json:"lag_bytes"`
	LagSeconds   float64 `json:"lag_seconds"`
	InitialLoads int     `json:"initial_loads"`
	// CatalogEvents: vecgate's event trigger is installed, so other sessions' GRANT, REVOKE and
	// DDL are seen within replication lag; false: within 10 s (the trigger needs a superuser).
	CatalogEvents bool   `json:"catalog_events"`
	RejectedRows  int64  `json:"rejected_rows"`
	LastError     string `json:"last_error,omitempty"`
	// The slot's WAL as Postgres reports it (every 10 s; absent when unknown): retained bytes,
	// bytes left before max_slot_wal_keep_size invalidates the slot (absent when unbounded), and
	// pg_replication_slots.wal_status.
	SlotRetainedWAL *uint64 `json:"slot_retained_wal_bytes,omitempty"`
	SlotSafeWAL     *int64  `json:"slot_safe_wal_bytes,omitempty"`
	SlotWALStatus   string  `json:"slot_wal_status,omitempty"`
}

// LoadProgress is the initial load (snapshot) in progress, or the last one.
type LoadProgress struct {
	Running       bool    `json:"running"`
	Rows          int64   `json:"rows"`                     // rows indexed (IndexedRows): so far, or now when no load runs
	EstimatedRows int64   `json:"estimated_rows,omitempty"` // from pg_class.reltuples; 0 unknown
	RowsPerSecond float64 `json:"rows_per_second,omitempty"`
	ETASeconds    float64 `json:"eta_seconds,omitempty"` // 0 unknown
}

// IndexStatus is one live in-memory index.
type IndexStatus struct {
	Table          string  `json:"table"` // schema.table
	Column         string  `json:"column"`
	Method         string  `json:"method"` // in-memory structure: hnsw, hnsw-sq8, ivf-flat, ivf-sq8, ivf-pq, ivf-binary
	Metric         string  `json:"metric"` // pgvector operator: <->, <#>, <=>, <+>
	M              int     `json:"m,omitempty"`
	EfConstruction int     `json:"ef_construction,omitempty"`
	Source         string  `json:"source"`        // the pgvector index it mirrors
	SourceMethod   string  `json:"source_method"` // that index's access method: hnsw or ivfflat ("" unknown)
	Lists          int     `json:"lists,omitempty"`
	State          string  `json:"state"` // ready, loading, starting, reconnecting, stopped
	Rows           int64   `json:"rows"`
	Bytes          int64   `json:"bytes"`
	AppliedLSN     string  `json:"applied_lsn"`
	LagBytes       uint64  `json:"lag_bytes"`
	LagSeconds     float64 `json:"lag_seconds"`
	// IVF twins: rows when the twin last trained its lists, retrains since it was built (live
	// retrains a twin whose table doubled or whose rows drifted from the centroids), whether one
	// runs now, and the drift of rows added since training (1: as close to their centroid as the
	// training rows; 0: none added).
	TrainedRows int     `json:"trained_rows,omitempty"`
	Retrains    int     `json:"retrains,omitempty"`
	Retraining  bool    `json:"retraining,omitempty"`
	Drift       float64 `json:"drift,omitempty"`
	// Covering: rows whose other columns the twin holds (statements returning them are answered
	// from memory), rows it does not (past the row cap, or not known), and their bytes.
	CoveredRows   int64 `json:"covered_rows,omitempty"`
	UncoveredRows int64 `json:"uncovered_rows,omitempty"`
	CoveredBytes  int64 `json:"covered_bytes,omitempty"`
	// CoverDropped: the memory budget (--max-memory) took the held values; statements returning
	// other columns than the key take the rewrite until the twin is rebuilt.
	CoverDropped bool `json:"cover_dropped,omitempty"`
	// Quantised twins: rows drifted past their codes (kept on a side list searched exactly),
	// re-quantisations of an HNSW SQ8 twin since it was built (live.Quantization).
	DriftedRows     int `json:"drifted_rows,omitempty"`
	Requantizations int `json:"requantizations,omitempty"`
	// RecallSpot is the spot-checked recall@k of the twin's answers (vecgate_recall_spot: the
	// mean over its last samples), RecallSamples the answers checked since start; absent before
	// the first sample or with the spot-check off.
	RecallSpot    *float64 `json:"recall_spot,omitempty"`
	RecallSamples uint64   `json:"recall_samples,omitempty"`
}

// SkippedTarget is a table (Column "") or a vector column that vecgate does not index, and why.
type SkippedTarget struct {
	Table  string `json:"table"`
	Column string `json:"column,omitempty"`
	Reason string `json:"reason"`
}

// Status gathers the gateway's Status from its live state and the observer's catalog cache (index
// parameters, row estimates).
func (o *Observer) Status() Status {
	s := Status{Time: time.Now().UTC(), Version: o.opt.Version, Indexes: []IndexStatus{}}
	if rss, err := procmem.Read(); err == nil {
		s.Process = &rss
	}
	if o.src.Sessions != nil {
		s.Sessions = o.src.Sessions()
	}
	if o.src.Counts != nil {
		stats := o.src.Counts.Stats()
		s.Intercepted, s.FastPath = stats.Intercepted, stats.FastPath
		for reason, v := range stats.Forwarded {
			if reason == "" {
				continue
			}
			if s.Forwarded == nil {
				s.Forwarded = map[string]int64{}
			}
			s.Forwarded[reason] += v
		}
	}
	if o.src.Stream == nil {
		return s
	}
	s.Intercept = true
	st := o.src.Stream.Status()
	rs := &ReplicationState{
		State: string(st.State), Ready: st.State == replication.StateStreaming,
		Slot: st.Slot, Publication: st.Publication,
		AppliedLSN: st.Applied.String(), Acknowledged: st.Acknowledged.String(),
		LagBytes: st.LagBytes, LagSeconds: st.LagTime.Seconds(),
		InitialLoads: st.Resnapshots, RejectedRows: st.RejectedRows, LastError: st.LastError,
		CatalogEvents: st.CatalogEvents,
	}
	if st.Persisted != 0 {
		rs.Persisted = st.Persisted.String()
	}
	if w, ok := o.slotWAL(); ok {
		rs.SlotRetainedWAL, rs.SlotSafeWAL, rs.SlotWALStatus = &w.Retained, w.Safe, w.Status
	}
	s.Replication = rs

	s.Load = o.loadProgress(st)
	o.mu.Lock()
	params, catErr := o.params, o.catErr
	o.mu.Unlock()
	s.CatalogError = catErr

	var indexed map[string]bool
	s.Indexes, indexed = o.indexStatuses(st, params)
	s.Skipped = skippedTargets(st, indexed)
	return s
}

// indexStatuses describes the live indexes, sorted by table, column and metric, and says which
// schema.table.column have one.
func (o *Observer) indexStatuses(st replication.Status, params map[string]indexParams) ([]IndexStatus, map[string]bool) {
	out := []IndexStatus{}
	state := indexState(st.State)
	indexed := map[string]bool{} // schema.table.column with a live index
	var ixs []*live.Index
	if o.src.Set != nil {
		ixs = o.src.Set.Indexes()
	}
	for _, ix := range ixs {
		is := IndexStatus{
			Table: ix.Schema + "." + ix.Table, Column: ix.Column, Method: ix.Kind(),
			Metric: ix.Metric.String(), Source: ix.Source, State: state,
			Rows: int64(ix.Len()), Bytes: ix.MemoryBytes(),
			AppliedLSN: st.Applied.String(), LagBytes: st.LagBytes, LagSeconds: st.LagTime.Seconds(),
		}
		if p, ok := params[ix.Schema+"."+ix.Source]; ok {
			is.SourceMethod, is.Lists = p.Method, p.Lists
			is.M, is.EfConstruction = p.M, p.EfConstruction
			if p.Method != "hnsw" { // an IVF twin: no graph parameters
				is.M, is.EfConstruction = 0, 0
			}
		}
		if ix.Lists() > 0 {
			is.Lists = ix.Lists()
		}
		if tr, ok := ix.Training(); ok {
			is.TrainedRows, is.Retrains, is.Retraining, is.Drift = tr.Rows, tr.Retrains, tr.Retraining, tr.Drift
		}
		held, unheld, heldBytes := ix.HeldRows()
		is.CoveredRows, is.UncoveredRows, is.CoveredBytes = int64(held), int64(unheld), heldBytes
		is.CoverDropped = ix.CoverDropped()
		if q, ok := ix.Quantization(); ok {
			is.DriftedRows, is.Requantizations = q.Drifted, q.Requantizations
		}
		if f, ok := o.src.Recall.Figure(ix); ok {
			is.RecallSpot, is.RecallSamples = &f.Mean, f.Samples
		}
		indexed[is.Table+"."+is.Column] = true
		out = append(out, is)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Metric < b.Metric
	})

	return out, indexed
}

// skippedTargets lists the tables and columns vecgate does not index, and why, sorted.
func skippedTargets(st replication.Status, indexed map[string]bool) []SkippedTarget {
	var out []SkippedTarget
	for _, t := range st.Tables {
		name := t.Schema + "." + t.Name
		if t.Skip != "" {
			out = append(out, SkippedTarget{Table: name, Reason: t.Skip})
			continue
		}
		for col, why := range t.SkipColumns {
			out = append(out, SkippedTarget{Table: name, Column: col, Reason: why})
		}
		// Replicated columns without a live index: live logs the exact reason at load.
		if st.State == replication.StateStreaming {
			for _, col := range t.Columns {
				if !indexed[name+"."+col] {
					out = append(out, SkippedTarget{Table: name, Column: col,
						Reason: "no in-memory index: no valid, non-partial pgvector hnsw or ivfflat index on the column, or an unsupported key or type (see the log)"})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		return a.Column < b.Column
	})
	return out
}

// indexState is what a live index's state column says for a replication state.
func indexState(st replication.State) string {
	if st == replication.StateStreaming {
		return "ready"
	}
	return string(st)
}

// loadProgress reports the running initial load: rows indexed, rate since the observer first saw
// it running, estimated total from the catalog's row estimates, and ETA.
func (o *Observer) loadProgress(st replication.Status) LoadProgress {
	rows, byTable := IndexedRows(o.src.Set)
	o.mu.Lock()
	defer o.mu.Unlock()
	if st.State != replication.StateLoading {
		o.loadStart = time.Time{}
		return LoadProgress{Rows: rows}
	}
	now := time.Now()
	if o.loadStart.IsZero() {
		o.loadStart, o.loadRows0 = now, rows
	}
	lp := LoadProgress{Running: true, Rows: rows}
	lp.EstimatedRows = estimatedRows(byTable, o.rowsEst)
	if el := now.Sub(o.loadStart).Seconds(); el > 0 && rows > o.loadRows0 {
		lp.RowsPerSecond = float64(rows-o.loadRows0) / el
	}
	lp.ETASeconds = ETA(lp.Rows, lp.EstimatedRows, lp.RowsPerSecond).Seconds()
	return lp
}

// estimatedRows is a load's total rows: each table once, at the larger of its estimate
// (reltuples) and its rows indexed, so a table with no estimate (never analysed) or one that grew
// since counts as done, and the rows indexed never pass the total.
func estimatedRows(indexed map[string]int64, est map[string]float64) int64 {
	var total int64
	for t, n := range indexed {
		total += max(int64(est[t]), n)
	}
	return total
}

// ETA is the time left at rate for the rows not yet done; 0 when unknown.
func ETA(rows, total int64, rate float64) time.Duration {
	if total <= rows || rate <= 0 {
		return 0
	}
	return time.Duration(float64(total-rows) / rate * float64(time.Second)).Round(time.Second)
}

// statusColumns are the columns of Rows (and of SHOW vecgate.status).
var statusColumns = []string{"table", "column", "method", "metric", "m", "ef_construction", "source",
	"state", "rows", "bytes", "applied_lsn", "lag_bytes", "lag", "note"}

// Rows is Status as a table: one row per live index, then one per skipped table or column (state
// "skipped", the reason in note). While an initial load runs, each index's note shows its progress.
func (s Status) Rows() (columns []string, rows [][]string) {
	columns = append([]string(nil), statusColumns...)
	num := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	for _, ix := range s.Indexes {
		src := ix.Source
		if ix.SourceMethod != "" {
			src += " (" + ix.SourceMethod + ")"
		}
		note := ""
		if s.Load.Running {
			note = "initial load: " + FormatLoad(s.Load)
		} else {
			note = trainingNote(ix)
		}
		rows = append(rows, []string{ix.Table, ix.Column, ix.Method, ix.Metric, num(ix.M), num(ix.EfConstruction),
			src, ix.State, strconv.FormatInt(ix.Rows, 10), strconv.FormatInt(ix.Bytes, 10), ix.AppliedLSN,
			strconv.FormatUint(ix.LagBytes, 10), FormatSeconds(ix.LagSeconds), note})
	}
	for _, sk := range s.Skipped {
		rows = append(rows, []string{sk.Table, sk.Column, "", "", "", "", "", "skipped", "", "", "", "", "", sk.Reason})
	}
	return columns, rows
}

// trainingNote sums up an IVF twin's training for the note column: "trained on 9999 rows, 1
// retrain, drift 1.07", "retraining" while a retrain runs; "" for others and untrained twins.
func trainingNote(ix IndexStatus) string {
	if ix.TrainedRows == 0 {
		return ""
	}
	note := fmt.Sprintf("trained on %d rows", ix.TrainedRows)
	switch ix.Retrains {
	case 0:
	case 1:
		note += ", 1 retrain"
	default:
		note += fmt.Sprintf(", %d retrains", ix.Retrains)
	}
	if ix.Drift > 0 {
		note += fmt.Sprintf(", drift %.2f", ix.Drift)
	}
	if ix.Retraining {
		note += ", retraining"
	}
	return note
}

func FormatSeconds(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

// FormatLoad is a one-line summary of load progress: "42% 420000/1000000 rows, 35000 rows/s, ETA 17s".
func FormatLoad(lp LoadProgress) string {
	count := fmt.Sprintf("%d rows", lp.Rows)
	if frac, ok := lp.Fraction(); ok {
		count = fmt.Sprintf("%.0f%% %d/%d rows", 100*frac, lp.Rows, lp.EstimatedRows)
	}
	return strings.Join(append([]string{count}, lp.RateETA()...), ", ")
}

// Fraction is the share of the estimated rows indexed (at most 1); false without an estimate.
func (lp LoadProgress) Fraction() (float64, bool) {
	if lp.EstimatedRows <= 0 {
		return 0, false
	}
	return min(float64(lp.Rows)/float64(lp.EstimatedRows), 1), true
}

// RateETA are the rate and the ETA as shown to people ("35000 rows/s", "ETA 17s"), those known.
func (lp LoadProgress) RateETA() []string {
	var parts []string
	if lp.RowsPerSecond > 0 {
		parts = append(parts, fmt.Sprintf("%.0f rows/s", lp.RowsPerSecond))
	}
	if lp.ETASeconds > 0 {
		parts = append(parts, "ETA "+time.Duration(lp.ETASeconds*float64(time.Second)).Round(time.Second).String())
	}
	return parts
}

// WriteText writes s for people: a summary, then the Rows table aligned.
func (s Status) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "vecgate %s, %d session(s), %d intercepted (%d from memory)", s.Version, s.Sessions, s.Intercepted, s.FastPath)
	if len(s.Forwarded) > 0 {
		reasons := make([]string, 0, len(s.Forwarded))
		for r, n := range s.Forwarded {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(reasons)
		fmt.Fprintf(&b, ", forwarded: %s", strings.Join(reasons, ", "))
	}
	b.WriteString("\n")
	if p := s.Process; p != nil {
		fmt.Fprintf(&b, "memory: RSS %s (anonymous %s, file-backed %s)\n", formatBytes(p.Total()), formatBytes(p.Anon), formatBytes(p.File))
	}
	if r := s.Replication; r != nil {
		fmt.Fprintf(&b, "replication: %s, slot %s, applied %s, lag %d bytes / %s", r.State, r.Slot, r.AppliedLSN, r.LagBytes, FormatSeconds(r.LagSeconds))
		if r.SlotRetainedWAL != nil {
			fmt.Fprintf(&b, ", slot retains %s of WAL", formatBytes(int64(*r.SlotRetainedWAL)))
		}
		if !r.CatalogEvents && r.State != string(replication.StateStarting) {
			b.WriteString(", catalog events off (no event trigger: other sessions' GRANT, REVOKE and DDL are seen within 10 s)")
		}
		if r.LastError != "" {
			fmt.Fprintf(&b, ", last error: %s", r.LastError)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("replication: off (--intercept=false), every statement is forwarded\n")
	}
	if s.Load.Running {
		fmt.Fprintf(&b, "initial load: %s\n", FormatLoad(s.Load))
	}
	if s.CatalogError != "" {
		fmt.Fprintf(&b, "catalog: %s\n", s.CatalogError)
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	cols, rows := s.Rows()
	if len(rows) == 0 {
		_, err := io.WriteString(w, "no indexes\n")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return errors.Join(tw.Flush())
}
