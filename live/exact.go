package live

import (
	"context"
	"fmt"

	"github.com/vecgate/vecgate/ann"
)

// ExactSearch returns the k nearest rows to q by the index's full-precision distances, every row
// scanned: the ground truth the recall spot-check (observe.Recall) compares the index's own
// answers with. An HNSW twin scans when ef reaches its rows (an SQ8 one with kept vectors reranks
// every row by them), an IVF twin probes every list. It reads the index only, and costs a scan of
// the table's vectors: callers run it off the query path. A twin without full-precision vectors
// (codes only, truncated) has no exact answer: ann.ErrUnsupported.
func (ix *Index) ExactSearch(ctx context.Context, q []float32, k int) ([]ann.Result, error) {
	if !ix.Exact || ix.truncate > 0 {
		return nil, fmt.Errorf("live: exact search of %s (%s): %w", ix.Source, ix.Kind(), ann.ErrUnsupported)
	}
	n := ix.Len()
	opts := ann.SearchOptions{EF: n + 1}
	if ix.lists > 0 {
		opts = ann.SearchOptions{Probes: ix.lists}
	} else if ix.kind != "hnsw" {
		// Codes rank the scan: every row taken to the exact rerank.
		opts.Oversample = float64(n)/float64(max(k, 1)) + 1
	}
	return ix.Search(ctx, q, k, opts)
}
