package planner

import (
	"context"
	"errors"
	"fmt"

	"github.com/vecgate/vecgate/ann"
)

// ORDER BY … DESC (the most dissimilar rows first; also ORDER BY 1 - distance ASC): Postgres
// scans and sorts every row, pgvector's index cannot serve it. A graph twin that keeps its
// vectors scans them too (hnsw.Index.Search with Farthest), so its candidates are the farthest
// rows by vecgate's own distances, cut clear of near ties as for the nearest, and the rewrite or
// the answer from memory (with the server's own distances) orders them exactly.

// FarthestScanWork bounds the work (rows × dimensions) of a twin scanned for the farthest rows:
// about 100 million values, some tens of milliseconds (60,000 × 1536); larger tables go to
// Postgres.
const FarthestScanWork = 1 << 27

// searchFarthest returns the n farthest rows that pass the in-index filter (the rewrite's
// candidates), farthest first.
func (q *Query) searchFarthest(ctx context.Context, n int) ([]ann.Result, bool, error) {
	var filter func(ann.Key) bool
	if q.filter != nil {
		if sel := q.filter.sel(n); sel.ok {
			filter = sel.match
			q.Filtered = sel.String(false)
		}
	}
	return q.scanFarthest(ctx, n, filter)
}

// scanFarthest returns the n farthest rows that filter (nil: every row) accepts, farthest first.
// The scan sees every row, so fewer than n means every row that passes came back (seenAll).
func (q *Query) scanFarthest(ctx context.Context, n int, filter func(ann.Key) bool) ([]ann.Result, bool, error) {
	res, err := q.Target.Index.Search(ctx, q.vec, n, ann.SearchOptions{Farthest: true, Filter: filter})
	if errors.Is(err, ann.ErrEmpty) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("planner: search %s farthest: %w", q.Target.Name, err)
	}
	return res, len(res) < n, nil
}
