package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vecgate/vecgate/ann"
)

// Builder builds an index over data (rows of dims floats, key = row number)
// for the engine runner. It returns the index and a label.
type Builder func(ctx context.Context, data []float32, dims int) (ann.Index, error)

// EngineConfig drives RunEngine.
type EngineConfig struct {
	Name    string // label for the report, e.g. "hnsw m=16 efc=64"
	Build   Builder
	Data    []float32
	Dims    int
	Queries []float32
	Truth   [][]int32 // exact neighbours per query (row numbers)
	K       int
	Threads int // all-threads run; 0 = GOMAXPROCS
	// Settings are the per-query knobs to sweep (one row each); nil means
	// one run with zero options.
	Settings []Setting
	// ScanBytes, when set, is the bytes one query reads (exact scans):
	// rows report the scan throughput in GB/s next to MemoryBandwidth.
	ScanBytes float64
	// MinQueries repeats the query set until at least this many queries
	// ran in the single-thread measurement (default: one pass).
	MinQueries int
}

// Setting is one point of a sweep.
type Setting struct {
	Label string // e.g. "ef=40"
	Opts  ann.SearchOptions
}

// Row is one line of an engine report.
type Row struct {
	Index          string  `json:"index"`
	Setting        string  `json:"setting"`
	N              int     `json:"n"`
	Dims           int     `json:"dims"`
	K              int     `json:"k"`
	BuildSeconds   float64 `json:"build_seconds"`
	BytesPerVector float64 `json:"bytes_per_vector"`
	Recall         float64 `json:"recall"`
	QPS1           float64 `json:"qps_1thread"`
	QPSAll         float64 `json:"qps_all_threads"`
	Threads        int     `json:"threads"`
	P50Micros      float64 `json:"p50_us"`
	P99Micros      float64 `json:"p99_us"`
	ScanGBps       float64 `json:"scan_gbps,omitempty"`
	MemGBps        float64 `json:"mem_gbps,omitempty"`
}

// RunEngine builds the index once and measures every setting.
func RunEngine(ctx context.Context, cfg EngineConfig, progress io.Writer) ([]Row, error) {
	n := len(cfg.Data) / cfg.Dims
	start := time.Now()
	x, err := cfg.Build(ctx, cfg.Data, cfg.Dims)
	if err != nil {
		return nil, fmt.Errorf("bench: build %s: %w", cfg.Name, err)
	}
	build := time.Since(start).Seconds()
	runtime.GC()
	bpv := float64(x.MemoryBytes()) / float64(max(n, 1))
	if progress != nil {
		fmt.Fprintf(progress, "built %s over %d x %d in %.2fs, %.0f bytes/vector\n", cfg.Name, n, cfg.Dims, build, bpv)
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	qs := Rows(cfg.Queries, cfg.Dims)
	settings := cfg.Settings
	if len(settings) == 0 {
		settings = []Setting{{Label: "-"}}
	}
	var mem float64
	if cfg.ScanBytes > 0 {
		mem = MemoryBandwidth(threads)
		if progress != nil {
			fmt.Fprintf(progress, "memory read bandwidth (%d threads): %.1f GB/s\n", threads, mem)
		}
	}
	var rows []Row
	for _, st := range settings {
		// Recall and single-thread latency.
		got := make([][]int32, len(qs))
		lat := make([]time.Duration, 0, len(qs))
		t0 := time.Now()
		nq := 0
		for pass := 0; pass == 0 || nq < cfg.MinQueries; pass++ {
			for i, q := range qs {
				s := time.Now()
				res, err := x.Search(ctx, q, cfg.K, st.Opts)
				lat = append(lat, time.Since(s))
				if err != nil {
					return nil, fmt.Errorf("bench: search %s %s: %w", cfg.Name, st.Label, err)
				}
				if pass == 0 {
					ids := make([]int32, len(res))
					for j, r := range res {
						ids[j] = int32(r.Key.Int())
					}
					got[i] = ids
				}
				nq++
			}
		}
		qps1 := float64(nq) / time.Since(t0).Seconds()
		slices.Sort(lat)
		// All threads.
		var next atomic.Int64
		var wg sync.WaitGroup
		total := max(nq, len(qs)*threads)
		t1 := time.Now()
		for range threads {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= total {
						return
					}
					x.Search(ctx, qs[i%len(qs)], cfg.K, st.Opts)
				}
			})
		}
		wg.Wait()
		qpsAll := float64(total) / time.Since(t1).Seconds()
		row := Row{
			Index: cfg.Name, Setting: st.Label, N: n, Dims: cfg.Dims, K: cfg.K,
			BuildSeconds: build, BytesPerVector: bpv,
			Recall: Recall(got, cfg.Truth, cfg.K), QPS1: qps1, QPSAll: qpsAll, Threads: threads,
			P50Micros: float64(lat[len(lat)/2].Nanoseconds()) / 1e3,
			P99Micros: float64(lat[min(len(lat)-1, len(lat)*99/100)].Nanoseconds()) / 1e3,
		}
		if cfg.ScanBytes > 0 {
			row.ScanGBps, row.MemGBps = qpsAll*cfg.ScanBytes/1e9, mem
			if progress != nil {
				fmt.Fprintf(progress, "%-28s %-12s scan %.1f GB/s = %.2f x memory bandwidth\n",
					row.Index, row.Setting, row.ScanGBps, row.ScanGBps/mem)
			}
		}
		if progress != nil {
			fmt.Fprintf(progress, "%-28s %-12s recall@%d %.4f  qps1 %8.0f  qps%d %8.0f  p50 %7.1fus  p99 %7.1fus\n",
				row.Index, row.Setting, cfg.K, row.Recall, row.QPS1, threads, row.QPSAll, row.P50Micros, row.P99Micros)
		}
		rows = append(rows, row)
	}
	return rows, nil
}
