package planner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vecgate/vecgate/ann"
	"github.com/vecgate/vecgate/internal/half"
	"github.com/vecgate/vecgate/internal/pgdist"
	"github.com/vecgate/vecgate/internal/sqltext"
	"github.com/vecgate/vecgate/internal/vectext"
)

// Index is what the planner needs of a live index.
type Index interface {
	Search(ctx context.Context, q []float32, k int, opts ann.SearchOptions) ([]ann.Result, error)
	Dims() int
	Len() int
	// Complete reports whether the index holds every row of its table that the statement could
	// return: no row is left out (a NULL vector, a vector the index refused). Only then does a
	// search that saw every row the index holds prove that Postgres has no other row to give.
	Complete() bool
}

// Target is a live index with the key it answers in.
type Target struct {
	Index Index
	// Schema and Table name the table the index is on (an unqualified statement's table is
	// looked up in schema public; the rewrite then checks the session resolves it there).
	Schema, Table string
	// RelOID is the table's relation OID and DatabaseOID its database's, upstream: the session
	// check (TableCheck) requires the session to be in that database and the statement's table
	// name to resolve to that relation, and the rewrite's guard requires the latter again when
	// Postgres plans the rewrite. 0 when unknown: the check then fails and the statement is
	// forwarded.
	RelOID, DatabaseOID uint32
	Key                 string // key column ("" for a composite key)
	KeyType             string // its SQL type: bigint, integer, smallint, uuid, text
	// KeyColumns and KeyTypes name a composite key's columns and their types (keys.go); nil, or
	// one column, for a single-column key (Key, KeyType).
	KeyColumns, KeyTypes []string
	// Leaves, set for a partitioned table searched through its leaf partitions' twins, are the
	// leaves' OIDs, ascending: the session check requires the table's leaves to be these
	// (partition.go).
	Leaves []uint32
	// LeafBounds are the leaves' partition bounds as Postgres prints them (parallel to Leaves):
	// the check and the rewrite's guard require those too, for a search pruned by them.
	LeafBounds []string
	Name       string // for EXPLAIN and logs
	// Exact: the index's distances are pgvector's (full-precision vectors); a quantised index's
	// are estimates, so its answers always go through Postgres.
	Exact bool
	// Oversample is candidates per wanted row in the first round (0: Oversample).
	Oversample float64
	// Kind names the index structure for EXPLAIN: hnsw, ivf-flat, ivf-sq8, …
	Kind string
	// Lists is an IVF index's number of lists (0: not IVF); Probes its probes when the session
	// sets none.
	Lists, Probes int
	// Halfvec: the indexed column is halfvec. Postgres reads an untyped or ::halfvec query
	// vector as halves (each element rounded to nearest, ties to even) and computes the
	// distances in float32 from the halves, so the query is rounded alike (internal/half); a
	// ::vector query vector would compare in another type and is forwarded, and distances are
	// not printed from memory (pgvector sums halfvec distances in another order than vector's,
	// which internal/pgdist does not reproduce).
	Halfvec bool
	// Expr is the expression of the index the twin mirrors (expression.go), zero for a column's
	// own index; a halfvec expression is also Halfvec.
	Expr ColumnExpr
	// Sparse: the indexed column is sparsevec (sparse.go); as for Halfvec, distances and the
	// column's values are not printed from memory.
	Sparse bool
}

// Searcher finds the live index for a column and metric (schema "" when unqualified).
type Searcher interface {
	Find(schema, table, column string, m ann.Metric) (Target, bool)
}

// Loader is implemented by a Searcher that knows which tables' twins are being loaded: a
// statement on one that Find has no index for is forwarded as ReasonLoading, not ReasonNoIndex.
type Loader interface {
	Loading(schema, table string) bool
}

// Settings are a session's knobs that shape a search.
type Settings struct {
	// EFSearch is hnsw.ef_search (0: the index default, 40).
	EFSearch int
	// Probes is ivfflat.probes (0: the index default, Target.Probes).
	Probes int
}

// Planner classifies statements (cached by text) and plans intercepted ones.
type Planner struct {
	search Searcher
	// distances, when set, says whether vecgate computes the server's distances bit for bit
	// (pgdist; nil answers: it does not).
	distances func() *pgdist.Calibration

	mu          sync.Mutex
	cache       map[string]cached       // guarded by mu; bounded by maxCache
	nestedCache map[string]cachedNested // guarded by mu; bounded by maxCache (nested.go)
}

type cached struct {
	shape *Shape
	err   error
}

const maxCache = 4096

// Oversample is how many candidates per wanted row the first round asks the index for: Postgres
// reranks them exactly, so a few extra candidates buy recall for little.
const Oversample = 2

// MaxCandidates bounds the candidate list of the last widening round; past it the statement is
// forwarded.
const MaxCandidates = 20000

// New returns a planner that searches through s.
func New(s Searcher) *Planner {
	return &Planner{search: s, cache: map[string]cached{}}
}

// SetDistances gives the planner the server's distance calibration (called when an answer from
// memory needs it; it may return nil). Set it before planning.
func (p *Planner) SetDistances(f func() *pgdist.Calibration) { p.distances = f }

// errNoOperator is the verdict for statements without a distance operator, reached without
// parsing them: most statements a proxy sees, which must cost next to nothing.
var errNoOperator = notShape("no distance operator")

// Shape classifies sql, from the cache when it was seen before.
func (p *Planner) Shape(sql string) (*Shape, error) {
	if !hasDistanceOperator(sql) {
		return nil, errNoOperator
	}
	c := memo(&p.mu, &p.cache, sql, func() cached {
		sh, err := Classify(sql)
		return cached{sh, err}
	})
	return c.shape, c.err
}

// memo returns m's value for key, made by make the first time (m guarded by mu and bounded by
// maxCache: simply cleared when full, since statements worth caching come back at once).
func memo[V any](mu *sync.Mutex, m *map[string]V, key string, make func() V) V {
	mu.Lock()
	v, ok := (*m)[key]
	mu.Unlock()
	if ok {
		return v
	}
	v = make()
	mu.Lock()
	if *m == nil || len(*m) >= maxCache {
		*m = map[string]V{}
	}
	(*m)[key] = v
	mu.Unlock()
	return v
}

// Query is one intercepted statement being answered: it hands out the statement to send for each
// round, widening the candidate list while Postgres returns fewer rows than asked.
type Query struct {
	Shape  *Shape
	Target Target
	// Want is the number of rows the statement can return: LIMIT (rows beyond OFFSET).
	Want int
	// Rounds counts the statements handed out; Candidates is the last round's candidate count.
	Rounds, Candidates int
	// Probes is the lists the last round's search visited (IVF; 0 for HNSW).
	Probes int

	rw       *Rewrite
	vec      []float32
	need     int // LIMIT + OFFSET
	settings Settings
	ids      []ann.Result
	covered  bool // the last search saw every row that can match: no point widening
	// exhausted: the last search returned every row the index holds that can match, but the
	// table has rows the index does not hold (not Complete): widening cannot find them.
	exhausted bool
	bound     bool // extended protocol: Next hands out the key array's text value
	filter    *inFilter
	held      *heldFilter // the WHERE, when vecgate evaluates it over held values (held.go)
	bounds    []bound     // the WHERE's thresholds on the distance, read (similarity.go)
	// unequal: a derived output or threshold uses a vector other than the ORDER BY's, or a
	// threshold's value could not be read: not answered from memory.
	unequal   bool
	distances func() *pgdist.Calibration
	fastOnce  sync.Once // Fast's answer, worked out once
	fastOuts  []Output
	fastOK    bool
	checkOnce sync.Once // TableCheck's text, built once
	check     string
	// Filtered says how the last round applied the in-index filter ("" when there is none).
	Filtered string
}

// FilterColumns lists the WHERE columns the index filters on (nil when none).
func (q *Query) FilterColumns() []string {
	if q.filter == nil {
		return nil
	}
	return q.filter.columns
}

// ErrForward is wrapped by the reasons a statement of the shape is still forwarded (no live
// index, a vector that Postgres should judge, …).
var ErrForward = errors.New("forward")

func forward(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrForward, fmt.Sprintf(format, args...))
}

// PlanSimple plans a statement sent with the simple protocol (no parameters). It returns an error
// wrapping ErrNotShape or ErrForward when the statement goes to Postgres unchanged.
func (p *Planner) PlanSimple(sql string, st Settings) (*Query, error) {
	sh, err := p.Shape(sql)
	if err != nil {
		return nil, err
	}
	if sh.Params > 0 {
		return nil, forward("parameters in a simple query")
	}
	t, err := p.find(sh)
	if err != nil {
		return nil, err
	}
	return p.planLiterals(sh, t, st)
}

// planLiterals plans sh, answered by t, with the literal values of a statement without
// parameters.
func (p *Planner) planLiterals(sh *Shape, t Target, st Settings) (*Query, error) {
	return p.plan(sh, t, st, func(a Arg) (string, bool) { return a.Literal, !a.IsParam() }, nil,
		func(a Arg) (filterValue, bool) { return filterValue{arg: a}, !a.IsParam() })
}

// find returns the live index that can answer sh.
func (p *Planner) find(sh *Shape) (Target, error) {
	var t Target
	var ok bool
	if sh.Expr.Kind != "" {
		t, ok = p.findExpr(sh) // expression.go
	} else {
		t, ok = p.search.Find(sh.Schema, sh.Table, sh.Column, sh.Metric)
	}
	if l, loader := p.search.(Loader); !ok && loader && l.Loading(sh.Schema, sh.Table) {
		return Target{}, because(ReasonLoading, forward("the twins of %s.%s are loading", sh.Schema, sh.Table))
	}
	if !ok {
		return Target{}, because(ReasonNoIndex, forward("no live index on %s.%s for %s", sh.Table, sh.Column, sh.Metric))
	}
	if sh.Farthest && (t.Lists > 0 || !t.Exact || t.Index.Len()*max(t.Index.Dims(), 1) > FarthestScanWork) {
		// The farthest rows: an exact scan of a graph twin's vectors (farthest.go), within bounds.
		return Target{}, because(ReasonDesc, forward("ORDER BY … DESC needs an exact scan of a graph twin's vectors of at most %d values", FarthestScanWork))
	}
	return t, nil
}

// plan plans sh, answered by t, with its values (literals, or parameters through value); vec, when not nil, is
// the query vector already decoded (a binary parameter). filterArg gives the WHERE's values as
// they arrived, for the in-index filter.
func (p *Planner) plan(sh *Shape, t Target, st Settings, value func(Arg) (string, bool), vec []float32, filterArg func(Arg) (filterValue, bool)) (*Query, error) {
	if vec == nil {
		vtext, ok := value(sh.Vector)
		if !ok {
			return nil, forward("query vector is NULL or missing")
		}
		var err error
		if vec, err = sh.targetVector(t, []byte(vtext)); err != nil { // sparse.go
			return nil, forward("query vector: %v", err)
		}
	}
	if err := sh.bitsForward(); err != nil {
		return nil, err
	}
	if err := sh.sparseForward(t); err != nil { // sparse.go
		return nil, err
	}
	switch {
	case t.Expr.Kind == ExprHalfvec && (len(sh.DistanceOutputs)+len(sh.derived)+len(sh.Thresholds) > 0 || sh.Star || sh.nested):
		// Its distances (and the vector's values) are Postgres' to print, so such a statement
		// would take the rewrite (a top-k node inside a statement always does), where Postgres
		// casts every candidate's vector to halfvec again: at 3,072 dimensions slower than
		// pgvector's own index over its stored halves (0.66-0.86x measured, 0.78x for pgvector's
		// rerank wrapper). Forwarded.
		return nil, because(ReasonHalfvec, forward("halfvec expression distances: pgvector's index answers them sooner"))
	case t.Expr.Kind == ExprHalfvec:
		// `col::halfvec(n) <op> v`: v is read as halves, or as a vector cast to halfvec: the
		// same rounding of the same float4 (expression.go).
		vec = slices.Clone(vec)
		if !half.RoundAll(vec) {
			return nil, forward("query vector out of range for halfvec") // Postgres' error
		}
	case t.Halfvec && sh.VectorType == "vector":
		// A halfvec column against a vector: another operator, another type's values.
		return nil, because(ReasonHalfvec, forward("vector query vector against a halfvec column"))
	case t.Halfvec:
		vec = slices.Clone(vec)
		if !half.RoundAll(vec) {
			return nil, forward("query vector out of range for halfvec") // Postgres' error
		}
	case sh.VectorType == "halfvec":
		// A vector column against a halfvec: Postgres casts the column to halfvec and computes
		// in half precision, row by row (TestHalfvecQueryVector), which the index cannot.
		return nil, because(ReasonHalfvec, forward("halfvec query vector"))
	}
	if sh.VectorDims > 0 && len(vec) != sh.VectorDims {
		return nil, forward("query vector has %d dimensions, its cast %d", len(vec), sh.VectorDims)
	}
	if len(vec) != t.Index.Dims() {
		return nil, forward("query vector has %d dimensions, index %d", len(vec), t.Index.Dims())
	}
	k, err := intValue(sh.Limit, value)
	if err != nil || k <= 0 {
		return nil, forward("LIMIT %v", sh.Limit)
	}
	off := 0
	if sh.Offset != nil {
		if off, err = intValue(*sh.Offset, value); err != nil || off < 0 {
			return nil, forward("OFFSET %v", *sh.Offset)
		}
	}
	if k+off > MaxCandidates {
		return nil, forward("LIMIT + OFFSET %d above %d", k+off, MaxCandidates)
	}
	rw, err := sh.Rewrite(t)
	if err != nil {
		return nil, err
	}
	t = t.prunedFor(sh, filterArg) // partition.go
	q := &Query{Shape: sh, Target: t, Want: k, rw: rw, vec: vec, need: k + off, settings: st, distances: p.distances}
	if fi, ok := t.Index.(FilterIndex); ok {
		q.filter = buildFilter(sh, fi, filterArg)
	}
	q.held = buildHeldFilter(sh, t.Index, t.Key, filterArg)
	q.unequal = !q.resolveDerived(filterArg)
	return q, nil
}

func intValue(a Arg, value func(Arg) (string, bool)) (int, error) {
	s, ok := value(a)
	if !ok {
		return 0, errors.New("missing")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n > math.MaxInt32 {
		return 0, fmt.Errorf("not an integer: %q", s)
	}
	return int(n), nil
}

// Next returns what to send for the next round, given how many rows the previous round returned
// (ignored on the first call): for a simple-protocol query the rewritten statement, for a bound
// one the candidate-key array's text value. When the answer is complete, done is true; when the
// statement must be forwarded unchanged instead, forward is true.
func (q *Query) Next(ctx context.Context, prevRows int) (next string, done, forward bool, err error) {
	res, done, forward, err := q.nextKeys(ctx, prevRows)
	if done || forward || err != nil {
		return "", done, forward, err
	}
	if q.bound {
		return q.Target.keysText(res), false, false, nil
	}
	return q.rw.Fill(q.Target.keysLiteral(res)), false, false, nil
}

// nextKeys is Next's decision and, for a next round, its candidates.
func (q *Query) nextKeys(ctx context.Context, prevRows int) (res []ann.Result, done, forward bool, err error) {
	if q.Rounds > 0 {
		if prevRows >= q.Want || q.covered {
			return nil, true, false, nil
		}
		if q.Candidates >= MaxCandidates || q.exhausted {
			return nil, false, true, nil
		}
	}
	if q.Rounds == 0 && q.nullsFirst() {
		return nil, false, true, nil
	}
	n := q.firstRound()
	if q.Rounds > 0 {
		n = min(q.Candidates*4, MaxCandidates)
	}
	res, seenAll, err := q.candidates(ctx, n)
	if errors.Is(err, errNearTies) {
		return nil, false, true, nil
	}
	if err != nil {
		return nil, false, true, err
	}
	q.Rounds++
	q.Candidates = max(n, len(res)) // more when the cut moved past near ties
	q.covered = seenAll && q.Target.Index.Complete()
	q.exhausted = seenAll && !q.covered
	q.ids = res
	return res, false, false, nil
}

// candidates asks the index for n candidates (search) and, for an exact twin, moves the cut
// past every candidate near-tied with the n-th: the twin sums distances in float32 in another
// order than pgvector, so rows whose distances are within NearTie (relative) of the last
// candidate's may rank before it in Postgres, and a cut among them would keep from Postgres rows
// it ranks nearer than some it is given (the reviewer's cosine near-ties of collinear vectors).
// A row past the cut is then farther than every candidate by Postgres' distances too. The
// index is asked for some more than n to see where the near-tied group ends; when the group
// runs past what came back, for more (×4 each time), and past MaxCandidates the answer is
// errNearTies: the statement is forwarded. A quantised twin's distances are estimates anyway
// (its candidates are oversampled), so its cut is left where it is.
func (q *Query) candidates(ctx context.Context, n int) (res []ann.Result, seenAll bool, err error) {
	if !q.Target.Exact {
		return q.search(ctx, n)
	}
	ask := min(n+n/4+4, MaxCandidates)
	for {
		res, seenAll, err = q.search(ctx, ask)
		if err != nil || len(res) <= n {
			return res, seenAll, err
		}
		last := res[n-1].Distance
		cut := n
		for cut < len(res) && nearTieFor(q.Shape.Metric, last, res[cut].Distance) {
			cut++
		}
		switch {
		case cut < len(res):
			// Rows past the cut exist: the candidates are not every row that can match.
			return res[:cut], false, nil
		case seenAll || len(res) < ask:
			// Every row that can match came back, or the search found no more: as search
			// says.
			return res, seenAll, nil
		case ask >= MaxCandidates:
			return nil, false, errNearTies
		}
		ask = min(ask*4, MaxCandidates)
	}
}

// errNearTies: no cut of the candidate list up to MaxCandidates falls between two distances that
// are not near-tied.
var errNearTies = errors.New("planner: near-tied distances past the candidate bound")

// nearTie reports whether distances a and b are too close for float32 sums in different orders
// to compare them alike (NearTie).
func nearTie(a, b float64) bool {
	return math.Abs(a-b) <= NearTie*math.Max(math.Abs(a), math.Abs(b))
}

// CosineMargin is the absolute gap under which two cosine distances the index computed may
// compare otherwise in Postgres: 1 − similarity loses the similarity's relative precision, so
// its float32 sums are a few 1e-7 off whatever the distance (more over many dimensions), which
// for small distances is more than NearTie's relative margin (TestRewriteCutPastNearTies:
// collinear rows 3e-8 apart at 7e-4).
const CosineMargin = 4e-6

// nearTieFor is nearTie with, for cosine, CosineMargin as well.
func nearTieFor(m ann.Metric, a, b float64) bool {
	return nearTie(a, b) || m == ann.Cosine && math.Abs(a-b) <= CosineMargin
}

// search asks the index for n candidates. seenAll reports that the answer holds every row the
// index has that can match — proven, never inferred from a short answer: the exact scan of the
// rows that pass the in-index filter returned short; or every passing row came back (their count
// is exact); or every row of the index came back; or an IVF that probed every list returned
// short. A graph search that returns short has not necessarily seen every row (a node the graph
// does not reach, a filter that cut the walk short), so a short answer widens and, past
// MaxCandidates, is forwarded. Whether the table has rows the index does not hold is the caller's
// question (Index.Complete).
// An IVF search that returns short raises probes ×4 and searches again; widening rounds start
// with more probes too (×4 per round), so a filtered query that needs candidates far from the
// query vector reaches them.
func (q *Query) search(ctx context.Context, n int) (res []ann.Result, seenAll bool, err error) {
	if q.Shape.Farthest {
		return q.searchFarthest(ctx, n)
	}
	opts := ann.SearchOptions{EF: q.ef(n)}
	lists := q.Target.Lists
	if lists == 0 && q.smallTable() {
		opts.EF = q.Target.Index.Len() + 1 // an HNSW twin scans when ef reaches its row count
	}
	if lists > 0 {
		opts.Probes = cmp.Or(q.settings.Probes, q.Target.Probes, 1)
		for range q.Rounds {
			opts.Probes = min(opts.Probes*4, lists)
		}
		opts.Probes = min(opts.Probes, lists)
	}
	var sel selection
	if q.filter != nil {
		sel = q.filter.sel(n)
		q.Filtered = ""
		if sel.keys != nil {
			res, err = q.filter.idx.SearchKeys(ctx, q.vec, n, sel.keys)
			if err == nil {
				q.Filtered = fmt.Sprintf("exact over the %d matching rows", len(sel.keys))
				return res, len(res) < n, nil
			}
			if !errors.Is(err, ann.ErrUnsupported) {
				return nil, false, fmt.Errorf("planner: search %s: %w", q.Target.Name, err)
			}
		}
		if sel.ok {
			opts.Filter = sel.match
			q.Filtered = sel.String(lists > 0)
		}
	}
	for {
		res, err = q.Target.Index.Search(ctx, q.vec, n, opts)
		if errors.Is(err, ann.ErrEmpty) {
			return nil, true, nil // the index holds no rows at all
		}
		if err != nil {
			return nil, false, fmt.Errorf("planner: search %s: %w", q.Target.Name, err)
		}
		q.Probes = opts.Probes
		// With the filter, every passing row came back: nothing more to find.
		allPassing := opts.Filter != nil && sel.countExact && len(res) >= sel.count
		// Every row came back (e.g. an IVF still scanning its rows exactly, before training):
		// as many distinct keys as the index holds.
		allRows := len(res) < n && len(res) >= q.Target.Index.Len() && distinctKeys(res) >= q.Target.Index.Len()
		// An IVF that probed every list saw every row.
		allLists := lists > 0 && opts.Probes >= lists && len(res) < n
		if len(res) >= n || allPassing || allRows || lists == 0 || opts.Probes >= lists {
			return res, allPassing || allRows || allLists, nil
		}
		opts.Probes = min(opts.Probes*4, lists)
	}
}

// nullsFirst reports whether the answer would start with rows the index does not hold: under
// ORDER BY … DESC (the distance's, or 1 - (col <op> q)'s), rows without a vector (NULL) come
// first, and a cosine zero vector's NaN distance before every other. Checked when the
// statement is answered (after read-your-writes), not when planned.
func (q *Query) nullsFirst() bool {
	return q.Shape.descSQL && !q.Target.Index.Complete()
}

// ExactScanWork bounds the work (rows × dimensions) of a twin searched by scanning every row
// rather than through its graph or lists: about a millisecond of distance computations, and
// exact. Postgres itself scans small tables rather than use pgvector's index; a graph over few
// rows, many of them duplicates, missed rows in the differential tester.
const ExactScanWork = 1 << 21

// smallTable reports whether the twin is small enough to scan whole (ExactScanWork). (IVF twins
// widen to every list instead.)
func (q *Query) smallTable() bool {
	return q.Target.Index.Len()*max(q.Target.Index.Dims(), 1) <= ExactScanWork
}

// distinctKeys counts the different keys in res: a proof that every row came back counts rows,
// not results (a graph searched while it is relinked or compacted must not pass by a repeat).
func distinctKeys(res []ann.Result) int {
	seen := make(map[ann.Key]struct{}, len(res))
	for _, r := range res {
		seen[r.Key] = struct{}{}
	}
	return len(seen)
}

// DefaultEFSearch is hnsw.ef_search when the session sets none: pgvector's default.
const DefaultEFSearch = 40

// ef is the HNSW candidate list for a search of n candidates: the session's hnsw.ef_search (as
// pgvector, a lower setting trades recall for speed), at least 2n. A list of n returns its far end
// from a walk that stopped there: with ef = n, answers deep in a table (LIMIT 2000, OFFSET 3000
// of 4,000–5,000 rows, inner product) missed rows in the differential tester.
func (q *Query) ef(n int) int {
	return max(cmp.Or(q.settings.EFSearch, DefaultEFSearch), 2*n)
}

// SearchKnob describes the last search's effort for EXPLAIN: "ef_search 40" or
// "probes 10 of 100 lists".
func (q *Query) SearchKnob() string {
	if q.Target.Lists > 0 {
		return fmt.Sprintf("probes %d of %d lists", q.Probes, q.Target.Lists)
	}
	return fmt.Sprintf("ef_search %d", q.ef(q.Candidates))
}

// firstRound is the first round's candidate count.
func (q *Query) firstRound() int {
	f := q.Target.Oversample
	if f <= 0 && q.Target.Exact && !q.Shape.HasWhere && !q.Shape.Join {
		// Exact distances and nothing to filter: every candidate Postgres sees is a row of the
		// answer, in order. The extra quarter covers rows it does not see (deleted, or written
		// by a transaction it cannot see yet); a shortfall widens.
		return min(q.need+q.need/4+1, MaxCandidates)
	}
	if f <= 0 {
		f = Oversample
	}
	return min(int(float64(q.need)*f+0.999), MaxCandidates)
}

// Placeholder returns the first round's statement for EXPLAIN without searching: the rewrite
// with as many candidate keys as the first round asks for, of the key type, but placeholder
// values (1, 2, …), so that EXPLAIN (whose plan prints the array) reveals nothing of the index —
// neither which rows are near the query vector nor how many there are, rows the session may not
// see included. Candidates and Probes are set as the first round sets them before any widening.
func (q *Query) Placeholder() string { return q.rw.Fill(q.placeholderKeys()) }

// placeholderKeys is Placeholder's array of placeholder keys.
func (q *Query) placeholderKeys() string {
	q.Candidates = q.firstRound()
	if q.Target.Lists > 0 {
		q.Probes = min(cmp.Or(q.settings.Probes, q.Target.Probes, 1), q.Target.Lists)
	}
	res := make([]ann.Result, q.Candidates)
	for i := range res {
		res[i].Key = q.Target.placeholderKey(i + 1)
	}
	return q.Target.keysLiteral(res)
}

// Candidates returns the keys of the last round (for EXPLAIN and tests).
func (q *Query) Keys() []ann.Key {
	out := make([]ann.Key, len(q.ids))
	for i, r := range q.ids {
		out[i] = r.Key
	}
	return out
}

// Sample is what the recall spot-check needs of an answered statement: the query vector, the
// rows the statement ranks (LIMIT + OFFSET) and the keys vecgate gave for them (the last
// round's candidates, or the rows answered from memory); false for a statement with a WHERE (its
// exact answer depends on rows' other columns) or before an answer.
func (q *Query) Sample() (vec []float32, k int, keys []ann.Key, ok bool) {
	if q.Shape.HasWhere || q.Shape.Farthest || len(q.ids) == 0 {
		return nil, 0, nil, false // the spot-check's exact answer is the nearest rows of the whole twin
	}
	return q.vec, q.need, q.Keys(), true
}

// arrayLiteral renders keys as an SQL array of the key type.
func arrayLiteral(res []ann.Result, keyType string) string {
	if len(res) == 0 {
		return "'{}'::" + keyType + "[]"
	}
	var b strings.Builder
	b.WriteString("ARRAY[")
	writeKeys(&b, res, func(k ann.Key) string { return sqltext.QuoteLiteral(k.String()) })
	b.WriteString("]::")
	b.WriteString(keyType)
	b.WriteString("[]")
	return b.String()
}

// textArray renders keys as the text form of an SQL array value, `{1,2,3}`, for a parameter.
func textArray(res []ann.Result) string {
	var b strings.Builder
	b.WriteByte('{')
	writeKeys(&b, res, func(k ann.Key) string {
		if k.Kind() == ann.KindUUID {
			return k.String()
		}
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k.String()) + `"`
	})
	b.WriteByte('}')
	return b.String()
}

// writeKeys writes the keys of res to b separated by commas: integers in decimal, other keys
// as quote renders them.
func writeKeys(b *strings.Builder, res []ann.Result, quote func(ann.Key) string) {
	for i, r := range res {
		if i > 0 {
			b.WriteByte(',')
		}
		if r.Key.Kind() == ann.KindInt {
			b.WriteString(strconv.FormatInt(r.Key.Int(), 10))
		} else {
			b.WriteString(quote(r.Key))
		}
	}
}

// ParseVector reads pgvector's text format, `[1,2.5,-3e-2]`, exactly as pgvector's vector_in
// does (internal/vectext): the same float32 values, and an error (a *vectext.Error with pgvector's
// words) for anything pgvector rejects, whereupon the statement is forwarded so Postgres answers
// in its own words.
func ParseVector(s string) ([]float32, error) { return vectext.Parse(s) }

// hasDistanceOperator reports whether sql contains one of pgvector's distance operators.
func hasDistanceOperator(sql string) bool {
	for i := 0; i+2 < len(sql); i++ {
		if sql[i] == '<' && sql[i+2] == '>' {
			switch sql[i+1] {
			case '-', '#', '=', '+', '~':
				return true
			}
		}
	}
	return false
}
