package planner

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/vecgate/vecgate/internal/sqltext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Top-k nodes inside a statement: `SELECT … FROM t [WHERE …] ORDER BY <distance> LIMIT k` as a
// CTE, a FROM subquery (LATERAL too), a set operation's arm or a subquery expression, the rest of
// the statement being Postgres' (joins, fusion, aggregation).
//
// vecgate does not see such a node's rows: the statement's answer is what the rest of the
// statement makes of them. Its answer is proven complete in two steps:
//
//  1. Probe rounds: the node alone, rewritten as a top-level statement is (candidate keys, the
//     sort made `+ 0`) but selecting only its key, runs and its rows are counted; while short, the
//     candidates widen as a top-level statement's do (to a forward, or to a search that saw every
//     row). A node that runs alone references nothing around it: it is not correlated. An
//     isolated node (isolatedSelects: no column of another query level visible where it stands)
//     without a WHERE skips the probe: every candidate is a row of its answer; so does a node
//     whose first search saw every row it can return (an exact in-index filter, a small table),
//     its guard lifted.
//  2. The whole statement, the node rewritten with the last candidates and a guard (unless they
//     are every row the node can return, from a search that saw every row): a subquery
//     (uncorrelated, the node being so, and Postgres evaluates it once, before the node's first
//     row, as a one-time filter) that counts the node's rows among the candidates (LIMIT +
//     OFFSET at most) and, when there are fewer, fails the statement with an invalid integer
//     cast. The node's answer is therefore complete under the snapshot of the statement the
//     client gets — not only the probe's — and a short node fails the statement, which is
//     forwarded unchanged.
//
// A prepared statement (extended protocol) is prepared once, as the whole statement guarded with
// the candidates as one more parameter: an execution is one round with the first candidates, no
// probe, and a node short of them fails the guard and is forwarded. Without a probe nothing shows
// that a node is uncorrelated, so only isolated nodes are prepared so.
//
// A node whose rows depend on the statement around it (a correlated subquery) fails its probe
// (Postgres cannot resolve the outer reference alone) and the statement is forwarded. Up to
// MaxNodes nodes, none inside another, are probed one after the other and guarded together (the
// extended protocol: one node, as the proxy binds one candidate array); the whole statement must be a SELECT with nothing
// but the known side-effect-free functions, no data-modifying or recursive CTE, no locking
// clause and no SELECT INTO, since a forward after a failed guard runs it again. The node's
// table name must not be a CTE's. Ranking windows over the node's distance (row_number, rank,
// dense_rank OVER (ORDER BY <distance>)) give the same values among the candidates: a row's rank
// counts only the rows before it, all of which are in the answer.

// rankFunctions are the window functions whose value for a row depends only on the rows ordered
// before it and its peers: over the candidates, the same as over the table for the rows of the
// answer.
var rankFunctions = map[string]bool{"row_number": true, "rank": true, "dense_rank": true}

// isRankWindow reports whether a select-list entry is a call of a rankFunction with OVER.
func isRankWindow(t *pg.Node) bool {
	fc := t.GetResTarget().GetVal().GetFuncCall()
	return fc != nil && fc.Over != nil && len(fc.Funcname) == 1 && rankFunctions[fc.Funcname[0].GetString_().GetSval()]
}

// rankWindows returns the windows of sel's ranking calls.
func rankWindows(sel *pg.SelectStmt) []*pg.WindowDef {
	var out []*pg.WindowDef
	for _, t := range sel.TargetList {
		if isRankWindow(t) {
			out = append(out, t.GetResTarget().GetVal().GetFuncCall().Over)
		}
	}
	return out
}

// checkWindows accepts a nested node's ranking windows only when they rank by exactly the ORDER
// BY distance, ascending, over the whole answer (no PARTITION BY), with no arguments.
func (sh *Shape) checkWindows() error {
	if len(rankWindows(sh.stmt)) == 0 {
		return nil
	}
	if sh.Similarity || sh.Farthest || sh.Join {
		return notShape("ranking window with a similarity, DESC or join ordering")
	}
	expr := sh.order.Node
	if t, ok := sh.resolveOutput(expr); ok {
		expr = t
	}
	col, op, vec, _ := sh.distance(expr)
	for _, t := range sh.stmt.TargetList {
		if !isRankWindow(t) {
			continue
		}
		fc := t.GetResTarget().GetVal().GetFuncCall()
		w := fc.Over
		if len(fc.Args) > 0 || fc.AggFilter != nil || fc.AggStar || fc.AggDistinct || len(fc.AggOrder) > 0 ||
			w.Name != "" || w.Refname != "" || len(w.PartitionClause) > 0 || len(w.OrderClause) != 1 {
			return notShape("window other than a ranking by the distance")
		}
		sb := w.OrderClause[0].GetSortBy()
		if sb == nil || len(sb.UseOp) > 0 || sb.SortbyDir == pg.SortByDir_SORTBY_DESC || sb.SortbyNulls != pg.SortByNulls_SORTBY_NULLS_DEFAULT {
			return notShape("window other than a ranking by the distance")
		}
		c, o, v, ok := sh.distance(sb.Node)
		if !ok || c != col || o != op || !sameVector(v, vec) {
			return notShape("window other than a ranking by the distance")
		}
	}
	return nil
}

// Nested is a statement with top-k nodes that are not the statement itself.
type Nested struct {
	// Nodes are the nodes, each classified as a statement of its own.
	Nodes []*Shape
	// Params is the highest $n the whole statement uses.
	Params int

	tree  *pg.ParseResult  // the whole statement
	nodes []*pg.SelectStmt // the nodes in tree
	// isolated: a node stands where no column of another query level is visible
	// (isolatedSelects), so it cannot be correlated: its guard is a one-time filter however
	// its names resolve.
	isolated []bool

	mu        sync.Mutex                  // guards templates: a cached Nested is shared by sessions
	templates map[string]*nestedTemplates // by targets, as Shape.rewrites
}

// nestedTemplates are a Nested's statements with markers where the candidate keys go.
type nestedTemplates struct {
	// probes are the nodes alone, each selecting its key, idsMarker where its candidates go.
	probes []string
	// whole is the statement, each node rewritten and guarded: nodeMarker(i, "ids") where node
	// i's candidates go, nodeMarker(i, "open") where true lifts its guard (candidates that are
	// every row the node can return, from a search that saw every row: its answer is complete
	// however short) and false keeps it.
	whole string
}

// nodeMarker names the identifier that stands for node i's value of kind in a whole template:
// none is a prefix of another, nor of idsMarker.
func nodeMarker(i int, kind string) string { return fmt.Sprintf("vecgate_node%d_%s_b7e1c2", i, kind) }

// NoNode ends the reason ClassifyNested gives for a statement without a top-k node.
const NoNode = "no top-k node"

// MaxNodes bounds the top-k nodes of a statement vecgate answers.
const MaxNodes = 4

// ShortMarker is in the error the whole statement fails with when a node is short.
const ShortMarker = "vecgate: top-k node short of rows: "

// ClassifyNested finds the top-k nodes of a statement that is not itself the top-k shape. It
// returns an error wrapping ErrNotShape when there is none, or more than MaxNodes, or one inside
// another, or the statement cannot be run once more after a failed guard.
func ClassifyNested(sql string) (n *Nested, err error) {
	defer func() {
		if r := recover(); r != nil { // a planner bug must never take a session down
			n, err = nil, fmt.Errorf("planner: panic classifying nested statement: %v", r)
		}
	}()
	tree, err := parseStatement(sql)
	if err != nil {
		return nil, err
	}
	top := tree.Stmts[0].GetStmt()
	if top.GetSelectStmt() == nil {
		return nil, notShape("not a SELECT")
	}
	// Aggregates around the nodes run once, in the statement the client gets (or in the forward
	// after a failed guard, the guard having failed before any row was made).
	if name, ok := unknownCall(top, aggregates); ok {
		return nil, notShape("function %s is not known to be free of side effects", name)
	}
	ctes := map[string]bool{}
	var selects []*pg.SelectStmt
	var bad error
	walkSelects(top.ProtoReflect(), func(m proto.Message) {
		switch x := m.(type) {
		case *pg.SelectStmt:
			if x.IntoClause != nil || len(x.LockingClause) > 0 {
				bad = notShape("SELECT INTO or a locking clause")
			}
			if x != top.GetSelectStmt() && x.LimitCount != nil && len(x.SortClause) > 0 {
				selects = append(selects, x)
			}
		case *pg.WithClause:
			if x.Recursive {
				bad = notShape("WITH RECURSIVE")
			}
		case *pg.CommonTableExpr:
			ctes[x.Ctename] = true
			if x.Ctequery.GetSelectStmt() == nil {
				bad = notShape("data-modifying WITH")
			}
		}
	})
	if bad != nil {
		return nil, bad
	}
	n = &Nested{tree: tree}
	isolated := isolatedSelects(top.GetSelectStmt())
	for _, s := range selects {
		alone := &pg.ParseResult{Version: tree.Version, Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: proto.Clone(s).(*pg.SelectStmt)}}}}}
		sh, err := classifyTree(alone, true)
		if err != nil || readsCTE(sh, ctes) {
			continue
		}
		n.Nodes, n.nodes, n.isolated = append(n.Nodes, sh), append(n.nodes, s), append(n.isolated, isolated[s])
	}
	switch {
	case len(n.Nodes) == 0:
		return nil, notShape(NoNode)
	case len(n.Nodes) > MaxNodes:
		return nil, notShape("%d top-k nodes, more than %d", len(n.Nodes), MaxNodes)
	}
	for i, outer := range n.nodes {
		for j, inner := range n.nodes {
			if i != j && contains(outer, inner) {
				return nil, notShape("a top-k node inside another")
			}
		}
	}
	// A parameter takes its type from all its uses in the statement (the in-index filter reads
	// a value by its type: buildFilter); every function of the statement runs when it does: the
	// session check covers them all.
	uses := map[int]int{}
	walk(top, func(x *pg.Node) {
		if p := x.GetParamRef(); p != nil {
			n.Params = max(n.Params, int(p.Number))
			uses[int(p.Number)]++
		}
	})
	for _, sh := range n.Nodes {
		sh.functions, sh.paramUses = unqualifiedCalls(top), uses
	}
	return n, nil
}

// contains reports whether inner is below outer.
func contains(outer, inner *pg.SelectStmt) bool {
	found := false
	walkSelects(outer.ProtoReflect(), func(m proto.Message) { found = found || m == proto.Message(inner) })
	return found
}

// isolatedSelects returns the SELECTs of the statement top that see no column of another query
// level: top itself, and, from an isolated SELECT, its set operation's arms, its CTEs and its
// FROM subqueries other than LATERAL (also inside joins). A subquery expression (IN, EXISTS, a
// scalar subquery) or a LATERAL subquery may reference the query around it, and Postgres then
// evaluates a guard copied from the node's FROM and WHERE per row of the node's scan, where a
// node that returns no row never evaluates it: such nodes must prove themselves uncorrelated by
// running alone (the probe).
func isolatedSelects(top *pg.SelectStmt) map[*pg.SelectStmt]bool {
	out := map[*pg.SelectStmt]bool{}
	var visit func(s *pg.SelectStmt)
	var from func(n *pg.Node)
	visit = func(s *pg.SelectStmt) {
		if s == nil || out[s] {
			return
		}
		out[s] = true
		visit(s.Larg)
		visit(s.Rarg)
		if s.WithClause != nil {
			for _, c := range s.WithClause.Ctes {
				visit(c.GetCommonTableExpr().GetCtequery().GetSelectStmt())
			}
		}
		for _, f := range s.FromClause {
			from(f)
		}
	}
	from = func(n *pg.Node) {
		if rs := n.GetRangeSubselect(); rs != nil && !rs.Lateral {
			visit(rs.Subquery.GetSelectStmt())
		}
		if j := n.GetJoinExpr(); j != nil {
			from(j.Larg)
			from(j.Rarg)
		}
	}
	visit(top)
	return out
}

// readsCTE reports whether a node's table, or any table its statement names, is named as one of
// the statement's CTEs: the node alone (its probe, the session check) would read another table.
func readsCTE(sh *Shape, ctes map[string]bool) bool {
	found := false
	walkSelects(sh.tree.Stmts[0].Stmt.ProtoReflect(), func(m proto.Message) {
		if rv, ok := m.(*pg.RangeVar); ok && rv.Schemaname == "" && ctes[rv.Relname] {
			found = true
		}
	})
	return found
}

// walkSelects calls fn on every message below m (SelectStmt, RangeVar, WithClause …), also those
// not held in a Node (a set operation's arms).
func walkSelects(m protoreflect.Message, fn func(proto.Message)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		visit := func(x protoreflect.Message) {
			fn(x.Interface())
			walkSelects(x, fn)
		}
		if fd.IsList() {
			for i := range v.List().Len() {
				visit(v.List().Get(i).Message())
			}
		} else {
			visit(v.Message())
		}
		return true
	})
}

// templatesFor builds (once per set of targets, one per node) the probes and the whole
// statement.
func (n *Nested) templatesFor(ts []Target) (*nestedTemplates, error) {
	var ck strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&ck, "%s\x00%s\x00%s\x00%d\x00", t.keySignature(), t.Schema, t.Table, t.RelOID)
	}
	n.mu.Lock()
	tp, ok := n.templates[ck.String()]
	n.mu.Unlock()
	if ok {
		return tp, nil
	}
	tp = &nestedTemplates{}
	wholeTree := proto.Clone(n.tree).(*pg.ParseResult)
	targets := make([]*pg.SelectStmt, len(n.nodes))
	walkSelects(wholeTree.Stmts[0].Stmt.ProtoReflect(), func(m proto.Message) {
		if s, ok := m.(*pg.SelectStmt); ok {
			for i, node := range n.nodes {
				if targets[i] == nil && proto.Equal(s, node) {
					targets[i] = s
				}
			}
		}
	})
	for i, t := range ts {
		if targets[i] == nil {
			return nil, fmt.Errorf("planner: nested node not found in its statement")
		}
		probe, final, err := n.rewriteNode(i, t)
		if err != nil {
			return nil, err
		}
		tp.probes = append(tp.probes, probe)
		proto.Reset(targets[i])
		proto.Merge(targets[i], final)
	}
	whole, err := pg.Deparse(wholeTree)
	if err != nil {
		return nil, fmt.Errorf("planner: deparse nested rewrite: %w", err)
	}
	for i := range ts {
		if strings.Count(whole, nodeMarker(i, "ids")) != 2 || strings.Count(whole, nodeMarker(i, "open")) != 1 {
			return nil, fmt.Errorf("planner: nested rewrite lost its placeholders")
		}
	}
	tp.whole = whole
	n.mu.Lock()
	if n.templates == nil {
		n.templates = map[string]*nestedTemplates{}
	}
	n.templates[ck.String()] = tp
	n.mu.Unlock()
	return tp, nil
}

// rewriteNode returns node i's probe (idsMarker where its candidates go) and its rewrite for the
// whole statement, guarded (nodeMarker(i, …)).
func (n *Nested) rewriteNode(i int, t Target) (probe string, final *pg.SelectStmt, err error) {
	sh := n.Nodes[i]
	rw, err := sh.Rewrite(t)
	if err != nil {
		return "", nil, err
	}
	probeTree, err := pg.Parse(rw.template)
	if err != nil {
		return "", nil, fmt.Errorf("planner: parse node rewrite: %w", err)
	}
	// The probe: the node's key only.
	probeTree.Stmts[0].Stmt.GetSelectStmt().TargetList = t.keyTargets(sh.tableRefName())
	if probe, err = pg.Deparse(probeTree); err != nil {
		return "", nil, fmt.Errorf("planner: deparse probe: %w", err)
	}
	if strings.Count(probe, idsMarker) != 1 {
		return "", nil, fmt.Errorf("planner: probe lost its id placeholder")
	}
	rwTree, err := pg.Parse(strings.Replace(rw.template, idsMarker, nodeMarker(i, "ids"), 1))
	if err != nil {
		return "", nil, fmt.Errorf("planner: parse node rewrite: %w", err)
	}
	final = rwTree.Stmts[0].Stmt.GetSelectStmt()

	// The guard: at least LIMIT + OFFSET rows among the candidates (or the candidates are every
	// row: the open marker), or the statement fails. The node's own LIMIT and OFFSET expressions
	// (literals or parameters, whose types their uses in the guard infer alike) say how many.
	guardTree, err := pg.Parse(fmt.Sprintf(`SELECT WHERE (SELECT CASE WHEN %s OR pg_catalog.count(*) OPERATOR(pg_catalog.>=) vecgate_need THEN true
		ELSE (%s OPERATOR(pg_catalog.||) pg_catalog.count(*)::pg_catalog.text)::pg_catalog.int4 OPERATOR(pg_catalog.>) 0 END
		FROM (SELECT FROM vecgate_guard_rows WHERE true LIMIT vecgate_need) vecgate_guard)`, nodeMarker(i, "open"), sqltext.QuoteLiteral(ShortMarker)))
	if err != nil {
		return "", nil, fmt.Errorf("planner: node guard: %w", err)
	}
	guard := guardTree.Stmts[0].Stmt.GetSelectStmt().WhereClause
	count := guard.GetSubLink().Subselect.GetSelectStmt()
	count.TargetList[0].GetResTarget().Val.GetCaseExpr().Args[0].GetCaseWhen().Expr.GetBoolExpr().Args[1].GetAExpr().Rexpr = n.need(i)
	rows := count.FromClause[0].GetRangeSubselect().Subquery.GetSelectStmt()
	rows.LimitCount = n.need(i)
	rows.FromClause = cloneNodes(final.FromClause)
	rows.WhereClause = proto.Clone(final.WhereClause).(*pg.Node)
	final.WhereClause = pg.MakeBoolExprNode(pg.BoolExprType_AND_EXPR, []*pg.Node{final.WhereClause, guard}, -1)
	return probe, final, nil
}

// need is node i's LIMIT + OFFSET as an expression of the statement's own values, each cast to
// bigint as LIMIT and OFFSET take them (a parameter's type is then bigint wherever it is met
// first).
func (n *Nested) need(i int) *pg.Node {
	bigint := func(x *pg.Node) *pg.Node {
		return &pg.Node{Node: &pg.Node_TypeCast{TypeCast: &pg.TypeCast{Arg: proto.Clone(x).(*pg.Node),
			TypeName: &pg.TypeName{Names: []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode("int8")}, Typemod: -1, Location: -1}, Location: -1}}}
	}
	node := n.nodes[i]
	lim := bigint(node.LimitCount)
	if node.LimitOffset == nil {
		return lim
	}
	return pg.MakeAExprNode(pg.A_Expr_Kind_AEXPR_OP, []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode("+")},
		lim, bigint(node.LimitOffset), -1)
}

// fill returns whole with node i's candidates keys[i], its guard lifted where open[i].
func (tp *nestedTemplates) fill(keys []string, open []bool) string {
	r := make([]string, 0, 4*len(keys))
	for i, k := range keys {
		r = append(r, nodeMarker(i, "ids"), k, nodeMarker(i, "open"), strconv.FormatBool(open[i]))
	}
	return strings.NewReplacer(r...).Replace(tp.whole)
}

func cloneNodes(ns []*pg.Node) []*pg.Node {
	out := make([]*pg.Node, len(ns))
	for i, x := range ns {
		out[i] = proto.Clone(x).(*pg.Node)
	}
	return out
}

// NestedQuery is one statement with top-k nodes being answered: each node's probe rounds, then
// the whole statement (see above).
type NestedQuery struct {
	// Nodes are the nodes' queries: candidates, widening, targets and session checks.
	Nodes []*Query
	// Nested is the statement.
	Nested *Nested

	tp    *nestedTemplates
	cur   int      // the node being probed
	keys  []string // each node's last candidates, as an array literal
	final bool     // the whole statement was handed out
	// bound: a prepared statement's execution (NestedBound), whose one round is the whole
	// statement, guarded, with the first candidates: no probe (a statement vecgate did not
	// prepare), so a node short of them fails the guard and is forwarded.
	bound     bool
	checkOnce sync.Once
	check     string
}

// NestedBound makes one execution of pr, a prepared statement with a top-k node (Prepared.Nested),
// planned by Bind as q.
func NestedBound(pr *Prepared, q *Query) *NestedQuery {
	return &NestedQuery{Nodes: []*Query{q}, Nested: pr.Nested, bound: true}
}

// PlanNested plans a simple-protocol statement with top-k nodes (ClassifyNested).
func (p *Planner) PlanNested(sql string, st Settings) (*NestedQuery, error) {
	n, err := p.nested(sql)
	if err != nil {
		return nil, err
	}
	if n.Params > 0 {
		return nil, forward("parameters in a simple query")
	}
	nq := &NestedQuery{Nested: n, keys: make([]string, len(n.Nodes))}
	ts := make([]Target, len(n.Nodes))
	for i, sh := range n.Nodes {
		if ts[i], err = p.find(sh); err != nil {
			return nil, err
		}
		q, err := p.planLiterals(sh, ts[i], st)
		if err != nil {
			return nil, err
		}
		nq.Nodes = append(nq.Nodes, q)
	}
	if nq.tp, err = n.templatesFor(ts); err != nil {
		return nil, err
	}
	return nq, nil
}

// nested classifies sql, from the cache when it was seen before.
func (p *Planner) nested(sql string) (*Nested, error) {
	if !hasDistanceOperator(sql) {
		return nil, errNoOperator
	}
	c := memo(&p.mu, &p.nestedCache, sql, func() cachedNested {
		n, err := ClassifyNested(sql)
		return cachedNested{n, err}
	})
	return c.n, c.err
}

type cachedNested struct {
	n   *Nested
	err error
}

// Next returns the next statement to send (Query.Next): each node's probes while it is short,
// then the whole statement, whose answer is the client's.
func (nq *NestedQuery) Next(ctx context.Context, prevRows int) (next string, done, forward bool, err error) {
	if nq.final {
		return "", true, false, nil
	}
	if nq.bound {
		res, _, forward, err := nq.Nodes[0].nextKeys(ctx, 0)
		if forward || err != nil {
			return "", false, true, err
		}
		nq.final = true
		return nq.Nodes[0].Target.keysText(res), false, false, nil
	}
	for {
		q := nq.Nodes[nq.cur]
		res, done, forward, err := q.nextKeys(ctx, prevRows)
		if forward || err != nil {
			return "", false, true, err
		}
		if !done {
			nq.keys[nq.cur] = q.Target.keysLiteral(res)
			skip := q.covered || // every row the node can return: its guard is lifted
				q.Rounds == 1 && !q.Shape.HasWhere && nq.Nested.isolated[nq.cur] // every candidate is a row of the answer; the guard proves it
			if !skip {
				return strings.Replace(nq.tp.probes[nq.cur], idsMarker, nq.keys[nq.cur], 1), false, false, nil
			}
		}
		nq.cur, prevRows = nq.cur+1, 0
		if nq.cur == len(nq.Nodes) {
			nq.final = true
			open := make([]bool, len(nq.Nodes))
			for i, q := range nq.Nodes {
				open[i] = q.covered
			}
			return nq.tp.fill(nq.keys, open), false, false, nil
		}
	}
}

// Placeholder is the whole statement for EXPLAIN, with placeholder keys (Query.Placeholder).
func (nq *NestedQuery) Placeholder() string {
	keys := make([]string, len(nq.Nodes))
	for i, q := range nq.Nodes {
		keys[i] = q.placeholderKeys()
	}
	return nq.tp.fill(keys, make([]bool, len(keys)))
}

// TableCheck is the nodes' session checks (Query.TableCheck, each covering every function of
// the statement) in one statement: true only where each node's is.
func (nq *NestedQuery) TableCheck() string {
	nq.checkOnce.Do(func() {
		if len(nq.Nodes) == 1 {
			nq.check = nq.Nodes[0].TableCheck()
			return
		}
		parts := make([]string, len(nq.Nodes))
		for i, q := range nq.Nodes {
			parts[i] = "(" + q.TableCheck() + ")"
		}
		nq.check = "SELECT coalesce(pg_catalog.bool_and(c.whole), false), coalesce(pg_catalog.bool_and(c.readable), false) FROM (" +
			strings.Join(parts, " UNION ALL ") + ") c(whole, readable)"
	})
	return nq.check
}

// DescribeNested renders ClassifyNested's decision on sql for golden tests: the reason it is
// forwarded, or the nodes, their probes and the whole statement for tables public.<node's table>
// (relation 16384 + i) with primary key id bigint, <ids i> where the candidates go and <open i>
// where a guard is lifted.
func DescribeNested(sql string) string {
	n, err := ClassifyNested(sql)
	if err != nil {
		return "forward: " + strings.TrimPrefix(err.Error(), ErrNotShape.Error()+": ")
	}
	var b strings.Builder
	ts := make([]Target, len(n.Nodes))
	for i, sh := range n.Nodes {
		ts[i] = Target{Schema: "public", Table: sh.Table, RelOID: 16384 + uint32(i), Key: "id", KeyType: "bigint"}
		fmt.Fprintf(&b, "node %d: table=%s column=%s metric=%s k=%s isolated=%v where=%v\n", i, sh.Table, sh.Column, sh.Metric, sh.Limit, n.isolated[i], sh.HasWhere)
	}
	tp, err := n.templatesFor(ts)
	if err != nil {
		return b.String() + "error: " + err.Error()
	}
	var r []string
	for i, p := range tp.probes {
		fmt.Fprintf(&b, "probe %d: %s\n", i, strings.ReplaceAll(p, idsMarker, "<ids>"))
		r = append(r, nodeMarker(i, "ids"), fmt.Sprintf("<ids %d>", i), nodeMarker(i, "open"), fmt.Sprintf("<open %d>", i))
	}
	fmt.Fprintf(&b, "whole: %s", strings.NewReplacer(r...).Replace(tp.whole))
	return b.String()
}
