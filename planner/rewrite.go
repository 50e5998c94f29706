package planner

import (
	"fmt"
	"github.com/vecgate/vecgate/internal/sqltext"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// idsMarker stands for the candidate-key array in a rewrite template until Fill puts the real
// expression there. It is an identifier no statement of a user's will contain.
const idsMarker = "vecgate_candidate_ids_b7e1c2"

// Rewrite is a statement template for the id-list rewrite: the original statement with
// `AND <key> = ANY(<ids>)` added to its WHERE and the distance sort made unusable for pgvector's
// own index, so Postgres reranks exactly the candidates vecgate found and applies projection,
// filters, privileges, row-level security and visibility with its own semantics.
type Rewrite struct {
	template string
}

// Rewrite builds the template for the target t: its table's primary key is the single column
// t.Key of SQL type t.KeyType (e.g. "bigint", "uuid", "text").
//
// The ORDER BY distance becomes `(<distance>) + 0`: the same values in the same order, but an
// expression no pgvector index can produce, so the planner filters through the primary key and
// sorts, instead of an HNSW scan that would return short with the id filter applied after it.
// (Sorting by the candidates' order instead, which spares Postgres the distances, returns rows
// out of order when the index lags an update: Postgres must sort by what it holds.)
//
// The statement's table name may stand for another relation than the indexed one: a name without
// a schema reads whatever table the session's search_path finds first (another schema's table
// of the same name, a temporary table), and any name reads a table created again, or renamed
// into its place, since the index was built. The rewrite carries a guard that compares the
// name, as a regclass constant, with the indexed relation's OID (Target.RelOID): Postgres
// resolves the name when it parses the statement (again when a prepared one's search_path or
// table changes) and folds the comparison while planning, so a match costs nothing at run time,
// and a mismatch fails the statement (an invalid integer cast whose text holds GuardMarker):
// vecgate forwards the original instead of sending the indexed table's candidate keys to another
// table. (Inheritance children, whose rows `FROM items` reads too, the session's database and
// the operator the statement resolves are checked per session before the rewrite is used:
// TableCheck. The database cannot change within a session, so the guard leaves it out.)
//
// The operators vecgate adds (the key's = ANY, the + 0, the guard's) are pg_catalog's by name,
// so a session's own operators of those names cannot change what the rewrite means.
func (sh *Shape) Rewrite(t Target) (*Rewrite, error) {
	ck := t.keySignature() + fmt.Sprintf("\x00%s\x00%s\x00%d", t.Schema, t.Table, t.RelOID)
	sh.rwMu.Lock()
	rw, ok := sh.rewrites[ck]
	sh.rwMu.Unlock()
	if ok {
		return rw, nil
	}
	rw, err := sh.rewrite(t)
	if err != nil {
		return nil, err
	}
	sh.rwMu.Lock()
	if sh.rewrites == nil {
		sh.rewrites = map[string]*Rewrite{}
	}
	sh.rewrites[ck] = rw
	sh.rwMu.Unlock()
	return rw, nil
}

// GuardMarker is in the error a rewrite fails with when the session resolves the statement's
// unqualified table name to another table than the indexed one.
const GuardMarker = "vecgate: not the indexed table alone"

// tableGuard is the rewrite's check that the statement's table name stands for the target's
// relation (nil when there is nothing to compare with: the target's relation is not known and
// the statement qualifies its table).
func (sh *Shape) tableGuard(t Target) (*pg.Node, error) {
	name := sqltext.QuoteIdent(sh.Table)
	if sh.Schema != "" {
		name = sqltext.QuoteIdent(sh.Schema) + "." + name
	}
	var target string
	switch {
	case t.RelOID != 0:
		target = sqltext.QuoteLiteral(fmt.Sprint(t.RelOID))
	case sh.Schema == "" && t.Schema != "" && t.Table != "":
		target = sqltext.QuoteLiteral(sqltext.QuoteIdent(t.Schema) + "." + sqltext.QuoteIdent(t.Table))
	default:
		return nil, nil
	}
	// Both sides are constants: the planner folds the CASE to true, or to its ELSE, whose
	// concatenation it folds too and whose cast then fails (a plain literal would fail when the
	// statement is parsed, whatever the names).
	guard := fmt.Sprintf(`SELECT WHERE CASE WHEN %s::pg_catalog.regclass OPERATOR(pg_catalog.=) %s::pg_catalog.regclass THEN true
		ELSE (%s::pg_catalog.text OPERATOR(pg_catalog.||) '')::pg_catalog.int4 OPERATOR(pg_catalog.>) 0 END`,
		sqltext.QuoteLiteral(name), target, sqltext.QuoteLiteral(GuardMarker))
	tree, err := pg.Parse(guard)
	if err != nil {
		return nil, fmt.Errorf("planner: table guard: %w", err)
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().WhereClause, nil
}

func (sh *Shape) rewrite(t Target) (*Rewrite, error) {
	tree := proto.Clone(sh.tree).(*pg.ParseResult)
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	sb := sel.SortClause[0].GetSortBy()

	expr := sb.Node
	// Reuse the analysis on the copy: an alias or ordinal resolves to the distance expression.
	cp := &Shape{tree: tree, stmt: sel, Schema: sh.Schema, Table: sh.Table}
	if t, ok := cp.resolveOutput(expr); ok {
		expr = proto.Clone(t).(*pg.Node)
	}
	sb.Node = plusZero(expr)
	// A node's ranking windows (checkWindows) sort by the distance too: the same + 0, or
	// Postgres might feed the window from pgvector's index, with the key filter after it.
	for _, w := range rankWindows(sel) {
		o := w.OrderClause[0].GetSortBy()
		o.Node = plusZero(o.Node)
	}

	anyIDs, err := t.keyFilter(sh.tableRefName())
	if err != nil {
		return nil, err
	}
	conds := []*pg.Node{anyIDs}
	if sel.WhereClause != nil {
		conds = append([]*pg.Node{sel.WhereClause}, conds...)
	}
	guard, err := sh.tableGuard(t)
	if err != nil {
		return nil, err
	}
	if guard != nil {
		conds = append(conds, guard)
	}
	if guard, err = t.leavesGuard(); err != nil {
		return nil, err
	} else if guard != nil {
		conds = append(conds, guard)
	}
	if len(conds) == 1 {
		sel.WhereClause = conds[0]
	} else {
		sel.WhereClause = pg.MakeBoolExprNode(pg.BoolExprType_AND_EXPR, conds, -1)
	}
	sql, err := pg.Deparse(tree)
	if err != nil {
		return nil, fmt.Errorf("planner: deparse rewrite: %w", err)
	}
	if strings.Count(sql, idsMarker) != 1 {
		return nil, fmt.Errorf("planner: rewrite lost its id placeholder")
	}
	return &Rewrite{template: sql}, nil
}

// plusZero is `(expr) + 0`, pg_catalog's +: the same values, which no index produces.
func plusZero(expr *pg.Node) *pg.Node {
	return pg.MakeAExprNode(pg.A_Expr_Kind_AEXPR_OP, []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode("+")},
		expr, pg.MakeAConstIntNode(0, -1), -1)
}

// Fill returns the rewritten statement with ids standing for the candidate keys: a parameter
// (`$7::bigint[]`) for the extended protocol or a literal array for a simple Query.
func (r *Rewrite) Fill(ids string) string {
	return strings.Replace(r.template, idsMarker, ids, 1)
}

// String shows the template, with <ids> where the candidates go.
func (r *Rewrite) String() string { return r.Fill("<ids>") }

// walk calls fn on n and every Node below it.
func walk(n *pg.Node, fn func(*pg.Node)) {
	if n == nil {
		return
	}
	fn(n)
	walkMessage(n.ProtoReflect(), fn)
}

func walkMessage(m protoreflect.Message, fn func(*pg.Node)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		visit := func(x protoreflect.Message) {
			if node, ok := x.Interface().(*pg.Node); ok {
				fn(node)
			}
			walkMessage(x, fn)
		}
		if fd.IsList() {
			l := v.List()
			for i := range l.Len() {
				visit(l.Get(i).Message())
			}
		} else if !fd.IsMap() {
			visit(v.Message())
		}
		return true
	})
}
