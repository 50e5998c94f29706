package sqlbench

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is everything one run measured; its JSON form is `vecgate bench sql --json`.
type Report struct {
	Table           string  `json:"table"`
	N               int     `json:"n"`
	Dims            int     `json:"dims"`
	Queries         int     `json:"queries"`
	K               int     `json:"k"`
	Metric          string  `json:"metric"`
	M               int     `json:"m"`
	EFConstruction  int     `json:"ef_construction"`
	CellSeconds     float64 `json:"cell_seconds"`
	Rounds          int     `json:"rounds"`                      // each row is its cell's fastest round
	Select          string  `json:"select"`                      // the query's select list
	Content         int     `json:"content_bytes,omitempty"`     // bytes of the content column (0: no RAG columns)
	TextParams      bool    `json:"text_params"`                 // the query vector sent as text
	ClientProcess   bool    `json:"client_process"`              // the clients ran in their own process
	PGForceIndex    bool    `json:"pgvector_enable_seqscan_off"` // pgvector's sessions ran with enable_seqscan off
	GOMAXPROCS      int     `json:"gomaxprocs"`
	NumCPU          int     `json:"num_cpu"`
	Postgres        string  `json:"postgres_version"`
	Pgvector        string  `json:"pgvector_version"`
	ParallelWorkers string  `json:"max_parallel_maintenance_workers"`
	Revision        string  `json:"vecgate_revision,omitempty"`
	Kernels         string  `json:"distance_kernels"` // vecgate's distance kernels (vecmath.Impl(): avx512, avx2 or portable)
	Started         string  `json:"started"`

	CopySeconds    float64 `json:"copy_seconds"`
	PGBuildSeconds float64 `json:"pgvector_build_seconds"`
	PGIndexBytes   int64   `json:"pgvector_index_bytes"`
	PGPlanUsesHNSW bool    `json:"pgvector_plan_uses_hnsw"`
	VGLoadSeconds  float64 `json:"vecgate_load_seconds"`
	VGIndexBytes   int64   `json:"vecgate_index_bytes"`
	// The process's resident memory grown over vecgate's start and initial load (vecgate runs in
	// the benchmark's process; the data set was dropped and the heap collected and returned to
	// the kernel before the start): anonymous and file-backed pages after a GC, as a user would
	// see them, and the anonymous pages once the Go runtime returned its free heap
	// (debug.FreeOSMemory, what its scavenger reaches after minutes).
	VGRSSAnon         int64 `json:"vecgate_rss_anon_growth_bytes"`
	VGRSSFile         int64 `json:"vecgate_rss_file_growth_bytes"`
	VGRSSAnonReturned int64 `json:"vecgate_rss_anon_growth_returned_bytes"`
	// The same growth once every cell ran (searches touched the pages of vectors they reranked:
	// file-backed ones count from then on), after a GC.
	VGRSSAnonServed int64 `json:"vecgate_rss_anon_growth_served_bytes"`
	VGRSSFileServed int64 `json:"vecgate_rss_file_growth_served_bytes"`

	Rows   []Row   `json:"rows"`
	Ratios []Ratio `json:"ratios"`
}

// Row is one measured cell: a method at one ef and client count.
type Row struct {
	Method         string  `json:"method"` // "pgvector" or "vecgate"
	EF             int     `json:"ef"`     // pgvector's hnsw.ef_search; 0 for vecgate's default
	Clients        int     `json:"clients"`
	Recall         float64 `json:"recall"`
	Scored         int     `json:"scored_queries"` // distinct queries recall is averaged over
	Queries        int     `json:"queries"`        // executed in the timed window
	Seconds        float64 `json:"seconds"`
	QPS            float64 `json:"qps"`
	P50Micros      float64 `json:"p50_us"`
	P99Micros      float64 `json:"p99_us"`
	BuildSeconds   float64 `json:"build_seconds"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	Intercepted    float64 `json:"intercepted_share,omitempty"` // vecgate: intercepted ÷ sent
	FromMemory     float64 `json:"from_memory_share,omitempty"` // vecgate: answered from memory ÷ sent
}

// Ratio compares vecgate with the pgvector row at equal-or-better recall for one client count.
type Ratio struct {
	Clients        int     `json:"clients"`
	VecgateEF      int     `json:"vecgate_ef"` // 0: vecgate's default
	VecgateRecall  float64 `json:"vecgate_recall"`
	PgvectorEF     int     `json:"pgvector_ef"`
	PgvectorRecall float64 `json:"pgvector_recall"`
	EqualRecall    bool    `json:"equal_or_better_recall"` // false: pgvector never reached vecgate's recall; its best is used
	QPS            float64 `json:"qps_ratio"`              // vecgate ÷ pgvector (> 1: vecgate faster)
	// QPSInterp is vecgate's QPS ÷ pgvector's at exactly vecgate's recall, read off pgvector's
	// recall–QPS curve between the two ef values around it (0 when the curve does not reach it).
	QPSInterp float64 `json:"qps_ratio_interpolated"`
	P50       float64 `json:"p50_ratio"` // vecgate ÷ pgvector (< 1: vecgate faster)
	P99       float64 `json:"p99_ratio"`
	Build     float64 `json:"build_ratio"` // vecgate initial load ÷ pgvector CREATE INDEX
	Bytes     float64 `json:"bytes_ratio"` // vecgate memory ÷ pg_relation_size of the index
}

// ratios compares, per client count, vecgate with the fastest pgvector row whose recall is at
// least vecgate's; when pgvector never gets there, with its highest-recall row.
func ratios(rep *Report) []Ratio {
	var out []Ratio
	for _, v := range rep.Rows {
		if v.Method != "vecgate" {
			continue
		}
		var best, top *Row
		for i := range rep.Rows {
			p := &rep.Rows[i]
			if p.Method != "pgvector" || p.Clients != v.Clients {
				continue
			}
			if top == nil || p.Recall > top.Recall || (p.Recall == top.Recall && p.QPS > top.QPS) {
				top = p
			}
			if p.Recall >= v.Recall && (best == nil || p.QPS > best.QPS) {
				best = p
			}
		}
		equal := best != nil
		if best == nil {
			best = top
		}
		if best == nil {
			continue
		}
		out = append(out, Ratio{
			Clients: v.Clients, VecgateEF: v.EF, VecgateRecall: v.Recall, PgvectorEF: best.EF, PgvectorRecall: best.Recall,
			EqualRecall: equal, QPS: div(v.QPS, best.QPS), QPSInterp: div(v.QPS, qpsAt(rep.Rows, v.Clients, v.Recall)), P50: div(v.P50Micros, best.P50Micros),
			P99: div(v.P99Micros, best.P99Micros), Build: div(v.BuildSeconds, best.BuildSeconds),
			Bytes: div(v.BytesPerVector, best.BytesPerVector),
		})
	}
	return out
}

// qpsAt is pgvector's QPS at the given recall and client count, interpolated on its
// recall–QPS frontier (each ef's row, dropping rows that a higher-recall row beats on QPS):
// log QPS linear in recall between the frontier points on either side. At or below the lowest
// recall it is the fastest row; above the highest recall, 0 (not reached).
func qpsAt(rows []Row, clients int, recall float64) float64 {
	var pts []Row
	for _, r := range rows {
		if r.Method == "pgvector" && r.Clients == clients && r.QPS > 0 {
			pts = append(pts, r)
		}
	}
	// Frontier, highest recall first: a point stays when it is faster than every point above it.
	slices.SortFunc(pts, func(a, b Row) int { return cmp.Compare(b.Recall, a.Recall) })
	var front []Row
	for _, p := range pts {
		if len(front) == 0 || p.QPS > front[len(front)-1].QPS {
			front = append(front, p)
		}
	}
	for i, hi := range front {
		if hi.Recall < recall {
			continue
		}
		if i+1 == len(front) || front[i+1].Recall >= recall {
			continue // a faster point still reaches the recall
		}
		lo := front[i+1]
		f := (recall - lo.Recall) / (hi.Recall - lo.Recall)
		return math.Exp(math.Log(lo.QPS) + f*(math.Log(hi.QPS)-math.Log(lo.QPS)))
	}
	if len(front) > 0 && front[len(front)-1].Recall >= recall {
		return front[len(front)-1].QPS
	}
	return 0
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Markdown writes the report as Markdown tables: the run's settings, one row per cell, and the
// ratios.
func (rep *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "%s: %d x %d-d (%s), %d queries, k=%d, HNSW m=%d ef_construction=%d, %s per cell, best of %d round(s), SELECT %s\n",
		rep.Table, rep.N, rep.Dims, rep.Metric, rep.Queries, rep.K, rep.M, rep.EFConstruction,
		time.Duration(rep.CellSeconds*float64(time.Second)), max(rep.Rounds, 1), cmp.Or(rep.Select, "id"))
	params := "binary"
	if rep.TextParams {
		params = "text"
	}
	where := "in vecgate's process"
	if rep.ClientProcess {
		where = "in their own process"
	}
	forced := ""
	if rep.PGForceIndex {
		forced = "; pgvector's sessions with enable_seqscan off (its HNSW index, not a sequential scan)"
	}
	fmt.Fprintf(w, "vector parameters in %s format; content column %d bytes; clients %s%s\n", params, rep.Content, where, forced)
	fmt.Fprintf(w, "PostgreSQL %s, pgvector %s; vecgate %s, %s kernels, GOMAXPROCS %d; copy %.1fs; pgvector build %.2fs (%d bytes); vecgate load %.2fs (%d bytes)\n\n",
		rep.Postgres, rep.Pgvector, rep.Revision, rep.Kernels, rep.GOMAXPROCS, rep.CopySeconds, rep.PGBuildSeconds, rep.PGIndexBytes,
		rep.VGLoadSeconds, rep.VGIndexBytes)
	if rep.VGRSSAnon != 0 || rep.VGRSSFile != 0 {
		pg := float64(rep.PGIndexBytes)
		fmt.Fprintf(w, "vecgate RSS growth over its load: %.1f MB (%.2f× pgvector's index; anonymous %.1f MB, file-backed %.1f MB); anonymous %.1f MB once the free heap is returned (%.2f× with file-backed)\n",
			float64(rep.VGRSSAnon+rep.VGRSSFile)/1e6, div(float64(rep.VGRSSAnon+rep.VGRSSFile), pg), float64(rep.VGRSSAnon)/1e6,
			float64(rep.VGRSSFile)/1e6, float64(rep.VGRSSAnonReturned)/1e6, div(float64(rep.VGRSSAnonReturned+rep.VGRSSFile), pg))
		fmt.Fprintf(w, "after the queries: %.1f MB (%.2f×; anonymous %.1f MB, file-backed %.1f MB)\n\n",
			float64(rep.VGRSSAnonServed+rep.VGRSSFileServed)/1e6, div(float64(rep.VGRSSAnonServed+rep.VGRSSFileServed), pg),
			float64(rep.VGRSSAnonServed)/1e6, float64(rep.VGRSSFileServed)/1e6)
	}
	kcol := fmt.Sprintf("recall@%d", rep.K)
	t := [][]string{{"method", "ef", "clients", kcol, "QPS", "p50 ms", "p99 ms", "build s", "index B/vector", "intercepted"}}
	for _, r := range rep.Rows {
		ef, icpt := strconv.Itoa(r.EF), ""
		if r.Method == "vecgate" {
			ef, icpt = vecgateEF(r.EF), fmt.Sprintf("%.1f%% (%.1f%% from memory)", 100*r.Intercepted, 100*r.FromMemory)
		}
		t = append(t, []string{r.Method, ef, strconv.Itoa(r.Clients), fmt.Sprintf("%.4f", r.Recall),
			fmt.Sprintf("%.1f", r.QPS), fmt.Sprintf("%.2f", r.P50Micros/1000), fmt.Sprintf("%.2f", r.P99Micros/1000),
			fmt.Sprintf("%.2f", r.BuildSeconds), fmt.Sprintf("%.0f", r.BytesPerVector), icpt})
	}
	markdownTable(w, t)
	fmt.Fprintln(w)
	t = [][]string{{"clients", "vecgate ef", "vecgate " + kcol, "vs pgvector ef", "pgvector " + kcol, "QPS ×", "QPS × at equal recall", "p50 ×", "p99 ×", "build ×", "bytes ×"}}
	for _, r := range rep.Ratios {
		ef := strconv.Itoa(r.PgvectorEF)
		if !r.EqualRecall {
			ef += " (best; lower recall)"
		}
		t = append(t, []string{strconv.Itoa(r.Clients), vecgateEF(r.VecgateEF), fmt.Sprintf("%.4f", r.VecgateRecall), ef,
			fmt.Sprintf("%.4f", r.PgvectorRecall), fmt.Sprintf("%.2f", r.QPS), interp(r.QPSInterp), fmt.Sprintf("%.2f", r.P50),
			fmt.Sprintf("%.2f", r.P99), fmt.Sprintf("%.2f", r.Build), fmt.Sprintf("%.2f", r.Bytes)})
	}
	markdownTable(w, t)
}

// interp prints an interpolated ratio ("-" when pgvector's curve does not reach the recall).
func interp(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// vecgateEF names a vecgate run's hnsw.ef_search.
func vecgateEF(ef int) string {
	if ef == 0 {
		return "default"
	}
	return strconv.Itoa(ef)
}

// markdownTable writes rows as an aligned Markdown table (the first row is the header).
func markdownTable(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range r {
			b.WriteString(" " + c + strings.Repeat(" ", width[i]-len([]rune(c))) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0])
	sep := make([]string, len(width))
	for i, n := range width {
		sep[i] = strings.Repeat("-", n)
	}
	line(sep)
	for _, r := range rows[1:] {
		line(r)
	}
}
