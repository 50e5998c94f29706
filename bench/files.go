package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/flat"
	"github.com/vecgate/vecgate/quant"
)

// EngineFiles is a run of `vecgate bench engine` over data sets in files.
type EngineFiles struct {
	Data, Queries string // base and query vectors (.fvecs)
	GT            string // exact neighbours (.ivecs); "" computes them with the flat index
	Spec          IndexSpec
	// Dims, when between 0 and the data's dimension, keeps each vector's first Dims components
	// (Matryoshka; renormalised for cosine and inner product).
	Dims int
	// EFs (hnsw) or Probes (ivf) are the settings swept; other kinds run one exact search.
	EFs, Probes []int
	K           int
	MinQueries  int // repeat the queries until this many ran single-threaded
}

// ReadDataQueries reads base and query vectors, which must have the same dimension.
func ReadDataQueries(dataPath, queriesPath string) (data, queries []float32, dims int, err error) {
	data, dims, err = ReadFvecsFile(dataPath)
	if err != nil {
		return nil, nil, 0, err
	}
	queries, qdims, err := ReadFvecsFile(queriesPath)
	if err != nil {
		return nil, nil, 0, err
	}
	if qdims != dims {
		return nil, nil, 0, &ann.DimensionError{Want: dims, Got: qdims}
	}
	return data, queries, dims, nil
}

// RunEngineFiles reads f's files and runs RunEngine: report rows go to out as they are measured,
// other progress (ground truth) to progress.
func RunEngineFiles(ctx context.Context, f EngineFiles, out, progress io.Writer) ([]Row, error) {
	if f.K <= 0 {
		return nil, fmt.Errorf("k must be positive")
	}
	data, qdata, d, err := ReadDataQueries(f.Data, f.Queries)
	if err != nil {
		return nil, err
	}
	var truth [][]int32
	if f.GT == "" {
		fmt.Fprintln(progress, "computing ground truth with the flat index")
		truth, err = flat.GroundTruth(ctx, f.Spec.Metric, d, data, Rows(qdata, d), f.K, f.Spec.Threads, nil)
	} else if truth, err = ReadIvecsFile(f.GT); err == nil && len(truth) < len(qdata)/d {
		err = fmt.Errorf("ground truth has %d rows for %d queries", len(truth), len(qdata)/d)
	}
	if err != nil {
		return nil, err
	}
	label := f.Spec.Label()
	if f.Dims > 0 && f.Dims < d {
		renorm := f.Spec.Metric == ann.Cosine || f.Spec.Metric == ann.InnerProduct
		if data, err = quant.TruncateRows(data, d, f.Dims, renorm); err != nil {
			return nil, err
		}
		if qdata, err = quant.TruncateRows(qdata, d, f.Dims, renorm); err != nil {
			return nil, err
		}
		d = f.Dims
		label += " dims=" + strconv.Itoa(d)
	}
	build, err := NewBuilder(f.Spec)
	if err != nil {
		return nil, err
	}
	var scan float64
	if f.Spec.Kind == "flat" && (f.Spec.Quantizer == "none" || f.Spec.Quantizer == "") {
		scan = float64(len(data)) * 4
	}
	return RunEngine(ctx, EngineConfig{
		Name: label, Build: build, Data: data, Dims: d, Queries: qdata, Truth: truth,
		K: f.K, Threads: f.Spec.Threads, Settings: f.settings(), MinQueries: f.MinQueries, ScanBytes: scan,
	}, out)
}

// settings are the search settings swept: ef values for hnsw, probes for ivf, one exact search
// otherwise.
func (f EngineFiles) settings() []Setting {
	oversample := f.Spec.Oversample
	var out []Setting
	switch f.Spec.Kind {
	case "hnsw":
		for _, ef := range f.EFs {
			out = append(out, Setting{Label: "ef=" + strconv.Itoa(ef), Opts: ann.SearchOptions{EF: ef, Oversample: oversample}})
		}
	case "ivf":
		for _, p := range f.Probes {
			out = append(out, Setting{Label: "probes=" + strconv.Itoa(p), Opts: ann.SearchOptions{Probes: p, Oversample: oversample}})
		}
	default:
		out = []Setting{{Label: "exact", Opts: ann.SearchOptions{Oversample: oversample}}}
	}
	return out
}

// ParseInts reads a comma-separated list of positive integers (a flag's value); empty elements
// are skipped.
func ParseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad list element %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseShape reads "N:DIMS", a data set's size (positive N, 1..16000 dimensions).
func ParseShape(s string) (n, dims int, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not N:DIMS", s)
	}
	n, err1 := strconv.Atoi(strings.TrimSpace(a))
	dims, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || n <= 0 || dims <= 0 || dims > 16000 {
		return 0, 0, fmt.Errorf("%q is not N:DIMS with positive N and 1..16000 dims", s)
	}
	return n, dims, nil
}

// GTFiles is a run of `vecgate bench gt`: the exact neighbours of every query, by the flat index.
type GTFiles struct {
	Data, Queries string // base and query vectors (.fvecs)
	Out           string // the neighbours' row numbers (.ivecs)
	Metric        ann.Metric
	K, Threads    int // neighbours per query; threads (0: all cores)
}

// GroundTruthFiles computes f's ground truth and writes it to f.Out, with progress lines to
// progress; it returns the number of base vectors and of queries.
func GroundTruthFiles(ctx context.Context, f GTFiles, progress io.Writer) (n, queries int, err error) {
	data, qdata, dims, err := ReadDataQueries(f.Data, f.Queries)
	if err != nil {
		return 0, 0, err
	}
	last := time.Now()
	gt, err := flat.GroundTruth(ctx, f.Metric, dims, data, Rows(qdata, dims), f.K, f.Threads, func(done, total int) {
		if time.Since(last) > 2*time.Second || done == total {
			last = time.Now()
			fmt.Fprintf(progress, "\rground truth %d/%d queries", done, total)
		}
	})
	fmt.Fprintln(progress)
	if err != nil {
		return 0, 0, err
	}
	if err := WriteFile(f.Out, func(w io.Writer) error { return WriteIvecs(w, gt) }); err != nil {
		return 0, 0, err
	}
	return len(data) / dims, len(gt), nil
}
