package live

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/ann/hnsw"
	"github.com/vecgate/vecgate/ann/ivf"
	"github.com/vecgate/vecgate/catalog"
	"github.com/vecgate/vecgate/indexdef"
	"github.com/vecgate/vecgate/internal/half"
	"github.com/vecgate/vecgate/quant"
	"github.com/vecgate/vecgate/replication"
)

// Twins: which in-memory structure answers for a pgvector index or a vecgate definition.
//
//   - pgvector hnsw: an HNSW with the same m / ef_construction (SQ8 codes reranked with the kept
//     float32 vectors at ≥ Options.SQ8MinDims dimensions): exact distances (estimates with
//     Options.CodesOnly).
//   - pgvector ivfflat: an IVF with the same lists and float32 vectors ("ivf-flat"): exact
//     distances. ivfflat.probes sets its probes; unset, DefaultProbes(lists).
//   - definitions: USING hnsw with quantizer none or sq8; USING ivfflat with quantizer none, sq8,
//     pq or binary (codes only, no kept vectors: Postgres reranks). dims = N (Matryoshka) makes
//     the index hold the first N dimensions (renormalised for cosine) and search with the query
//     truncated the same way. Anything quantised or truncated is inexact.

// layout is how a live index holds its vectors; fixed when the index is built.
type layout struct {
	kind     string // hnsw, hnsw-sq8, ivf-flat, ivf-sq8, ivf-pq, ivf-binary
	dims     int    // the column's dimension: what rows and queries carry
	truncate int    // Matryoshka: the index holds the first truncate dimensions (0: all)
	lists    int    // IVF lists (0 for HNSW)
	probes   int    // IVF probes when the session sets none
	// halfvec: the column is halfvec; the twin holds its values widened to float32 (exact), and
	// queries must round their vector to halves as Postgres does (Halfvec).
	halfvec bool
	// expr: the twin is of an expression index on the column (catalog.Index.Expr): with
	// catalog.ExprHalfvec it holds the column's values rounded to halves (transform), as
	// `col::halfvec(n)` computes them, and is a halfvec twin for the query path (Halfvec).
	expr catalog.IndexExpr
	// sparse: the column is sparsevec; the twin holds its rows dense (sparse.go).
	sparse bool
}

// Halfvec reports whether the twin ranks halves: of a halfvec column, or of the expression
// `col::halfvec(n)` (Expr).
func (ix *Index) Halfvec() bool { return ix.halfvec || ix.expr == catalog.ExprHalfvec }

// Expr is the expression of the index the twin mirrors ("" for a column index).
func (ix *Index) Expr() catalog.IndexExpr { return ix.expr }

// Kind names the in-memory structure: hnsw, hnsw-sq8, ivf-flat, ivf-sq8, ivf-pq or ivf-binary,
// with " dims=N" when the index holds only the first N dimensions.
func (ix *Index) Kind() string {
	switch {
	case ix.truncate > 0:
		return ix.kind + " dims=" + strconv.Itoa(ix.truncate)
	case ix.expr != "":
		return ix.kind + " on " + string(ix.expr) + "(" + strconv.Itoa(ix.dims) + ")"
	}
	return ix.kind
}

// Lists is an IVF index's number of lists (0 for HNSW).
func (ix *Index) Lists() int { return ix.lists }

// Probes is the number of lists an IVF search visits when the session did not set
// ivfflat.probes (0 for HNSW).
func (ix *Index) Probes() int { return ix.probes }

// DefaultProbes is the probes of an IVF twin when ivfflat.probes is unset: √lists (pgvector's
// own advice for a starting point), not pgvector's default of 1, whose recall is poor. Postgres
// reranks vecgate's candidates exactly, so more probes only cost vecgate's time. A session that
// sets ivfflat.probes gets exactly that number in the first round.
func DefaultProbes(lists int) int {
	return max(1, min(lists, int(math.Ceil(math.Sqrt(float64(lists))))))
}

// Default candidates per wanted row for inexact definitions: Postgres reranks them, and codes
// that keep less of the vector need more (measured through vecgate, cmd/vecgate ivf_test.go).
const (
	oversampleSQ8       = 2
	oversamplePQ        = 8
	oversampleBinary    = 10
	oversampleTruncated = 4 // dims = N: at least this
)

// transform maps a row or query vector of the column into the index's space.
func (ix *Index) transform(v []float32) ([]float32, error) {
	if ix.expr == catalog.ExprBinaryQuantize {
		return quantizeBits(v), nil // bits.go
	}
	if ix.expr == catalog.ExprHalfvec {
		// `col::halfvec(n)`: vector_to_halfvec rounds each float4 as halfvec_in does. A row
		// whose value has no half could not have been written (the index expression fails).
		h := slices.Clone(v)
		if !half.RoundAll(h) {
			return nil, fmt.Errorf("live: a value out of range for type halfvec")
		}
		return h, nil
	}
	if ix.truncate == 0 {
		return v, nil
	}
	if len(v) != ix.dims {
		return nil, &ann.DimensionError{Want: ix.dims, Got: len(v)}
	}
	return quant.Truncate(v, ix.truncate, ix.Metric == ann.Cosine)
}

// newIVF returns an empty IVF. It is not trained through Index.pending: rows added before it
// has ivf's TrainRows (50 per list, at least 1000) wait in its own buffer, which searches scan
// exactly, and it trains on them when they are enough. A small table (or one created empty) is
// thus searched exactly instead of through lists trained on a handful of rows.
func newIVF(m ann.Metric, dims, lists int, codes string) (*ivf.Index, error) {
	cfg := ivf.DefaultConfig(m, dims)
	cfg.Lists, cfg.Probes, cfg.Codes, cfg.Seed = lists, DefaultProbes(lists), codes, 1
	return ivf.New(cfg)
}

// catalogTwin is the live index mirroring the pgvector index ci (metric m) on t.
func catalogTwin(t replication.TargetInfo, ci catalog.Index, m ann.Metric, kf keyFields, opts Options) (*Index, error) {
	ix := &Index{Schema: t.Schema, Table: t.Table, Column: t.Column, RelOID: t.OID, Metric: m,
		Source: ci.Name, Exact: true,
		layout: layout{kind: "hnsw", dims: t.Dims, halfvec: t.Kind == catalog.TypeHalfvec, expr: ci.Expr, sparse: t.Kind == catalog.TypeSparsevec}}
	kf.set(ix)
	if ci.Method == "ivfflat" {
		lists := ci.Lists
		if lists <= 0 {
			lists = catalog.DefaultLists
		}
		x, err := newIVF(m, t.Dims, lists, ivf.CodesFlat)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", ci.Name, err)
		}
		ix.index, ix.kind, ix.lists, ix.probes, ix.trained = x, "ivf-flat", lists, x.Config().Probes, true
		return ix, nil
	}
	cfg := hnsw.DefaultConfig(m, t.Dims)
	cfg.M, cfg.EFConstruction = ci.M, ci.EfConstruction
	codes := opts.SQ8MinDims > 0 && t.Dims >= opts.SQ8MinDims && m != ann.L1
	if codes {
		// Search int8 codes (a quarter of the memory traffic) and rerank exactly with the
		// float32 vectors kept beside them: pgvector's distances, found faster. Codes only:
		// Postgres reranks.
		cfg.Quantizer, cfg.KeepVectors, cfg.VectorDir = "sq8", !opts.CodesOnly, opts.VectorDir
		ix.kind, ix.Exact = "hnsw-sq8", !opts.CodesOnly
	}
	x, err := hnsw.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", ci.Name, err)
	}
	ix.index, ix.trained, ix.bulk = x, !codes, true
	return ix, nil
}

// definitionTwin is the live index for a vecgate definition d on t.
func definitionTwin(t replication.TargetInfo, d indexdef.Spec, kf keyFields) (*Index, error) {
	if d.Dims < 0 || d.Dims >= t.Dims && d.Dims != 0 {
		return nil, fmt.Errorf("index %s: dims %d must be below the column's %d", d.Name, d.Dims, t.Dims)
	}
	dims := t.Dims
	if d.Dims > 0 {
		dims = d.Dims
	}
	ix := &Index{Schema: t.Schema, Table: t.Table, Column: t.Column, RelOID: t.OID, Metric: d.Metric,
		Source: d.Name, Oversample: d.Oversample,
		Exact: d.Quantizer == "" && d.Dims == 0, trained: d.Quantizer == "" || d.Method == "ivfflat",
		layout: layout{dims: t.Dims, truncate: d.Dims}}
	kf.set(ix)
	over := 0.0
	if d.Method == "ivfflat" {
		lists := d.Lists
		if lists <= 0 {
			lists = catalog.DefaultLists
		}
		codes := d.Quantizer
		switch codes {
		case "":
			codes = ivf.CodesFlat
		case "sq8":
			over = oversampleSQ8
		case "pq":
			over = oversamplePQ
		case "binary":
			over = oversampleBinary
		}
		x, err := newIVF(d.Metric, dims, lists, codes)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Name, err)
		}
		ix.index, ix.kind, ix.lists, ix.probes = x, "ivf-"+codes, lists, x.Config().Probes
	} else {
		if d.Quantizer != "" && d.Quantizer != "sq8" {
			return nil, fmt.Errorf("index %s: quantizer %s needs USING ivfflat", d.Name, d.Quantizer)
		}
		cfg := hnsw.DefaultConfig(d.Metric, dims)
		if d.M > 0 {
			cfg.M = d.M
		}
		if d.EFConstruction > 0 {
			cfg.EFConstruction = d.EFConstruction
		}
		cfg.Quantizer = d.Quantizer
		x, err := hnsw.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", d.Name, err)
		}
		ix.index, ix.kind, ix.bulk = x, "hnsw", true
		if d.Quantizer != "" {
			ix.kind = "hnsw-" + d.Quantizer
		}
	}
	if d.Dims > 0 {
		over = max(over, oversampleTruncated)
	}
	if ix.Oversample == 0 {
		ix.Oversample = over // 0: the planner's default
	}
	return ix, nil
}
