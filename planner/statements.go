package planner

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// Knobs vecgate follows in a session. The pgvector ones are applied to vecgate's own search and
// still forwarded, so Postgres keeps them too; the vecgate ones are custom settings Postgres
// stores without knowing them.
const (
	KnobEFSearch      = "hnsw.ef_search"
	KnobProbes        = "ivfflat.probes"
	KnobIterative     = "hnsw.iterative_scan"
	KnobEnabled       = "vecgate.enabled"
	KnobConsistency   = "vecgate.consistency"
	KnobMaxWait       = "vecgate.max_wait"
	KnobExactDistance = "vecgate.exact_distances"
)

var knobs = map[string]bool{KnobEFSearch: true, KnobProbes: true, KnobIterative: true, KnobEnabled: true,
	KnobConsistency: true, KnobMaxWait: true, KnobExactDistance: true}

// Setting is one SET or RESET of a knob vecgate follows.
type Setting struct {
	Name  string // "" with ResetAll
	Value string // "" for a reset (back to the default)
	Local bool   // SET LOCAL: until the end of the transaction
	// ResetAll is RESET ALL (or SET … TO DEFAULT of every knob).
	ResetAll bool
	// Block: a BEGIN earlier in the same string opened the block this SET runs in.
	Block bool
}

// Settings returns the SET/RESET statements in sql (one or several statements) that concern
// knobs vecgate follows, in order. Invalid SQL yields none: Postgres will refuse it.
func (p *Planner) Settings(sql string) []Setting {
	if !mayMention(sql) {
		return nil
	}
	tree, err := pg.Parse(sql)
	if err != nil {
		return nil
	}
	var out []Setting
	block := false
	for _, st := range tree.Stmts {
		if tx := st.GetStmt().GetTransactionStmt(); tx != nil {
			switch tx.Kind {
			case pg.TransactionStmtKind_TRANS_STMT_BEGIN, pg.TransactionStmtKind_TRANS_STMT_START:
				block = true
			case pg.TransactionStmtKind_TRANS_STMT_COMMIT, pg.TransactionStmtKind_TRANS_STMT_ROLLBACK,
				pg.TransactionStmtKind_TRANS_STMT_PREPARE:
				block = false
			}
			continue
		}
		if d := st.GetStmt().GetDiscardStmt(); d != nil && d.Target == pg.DiscardMode_DISCARD_ALL {
			// DISCARD ALL (a pooler's reset between clients) resets every setting, as RESET ALL.
			out = append(out, Setting{ResetAll: true, Block: block})
			continue
		}
		v := st.GetStmt().GetVariableSetStmt()
		if v == nil {
			continue
		}
		name := strings.ToLower(v.Name)
		switch v.Kind {
		case pg.VariableSetKind_VAR_RESET_ALL:
			out = append(out, Setting{ResetAll: true, Block: block})
		case pg.VariableSetKind_VAR_RESET, pg.VariableSetKind_VAR_SET_DEFAULT:
			if knobs[name] {
				out = append(out, Setting{Name: name, Local: v.IsLocal, Block: block})
			}
		case pg.VariableSetKind_VAR_SET_VALUE:
			if knobs[name] && len(v.Args) == 1 {
				if val, ok := constArg(v.Args[0]); ok && !val.IsParam() {
					out = append(out, Setting{Name: name, Value: val.Literal, Local: v.IsLocal, Block: block})
				}
			}
		}
	}
	return out
}

// mayMention is a cheap filter before parsing: only statements that start with SET or RESET (or
// contain one after a semicolon or a leading comment) can change a knob. It keeps the parser off
// the common path (`… LIMIT 10 OFFSET 20` mentions "set" but changes nothing).
func mayMention(sql string) bool {
	t := strings.TrimLeft(sql, " \t\r\n")
	if hasPrefixFold(t, "set") || hasPrefixFold(t, "reset") || hasPrefixFold(t, "discard") {
		return true
	}
	multi := strings.Contains(sql, ";") || strings.HasPrefix(t, "--") || strings.HasPrefix(t, "/*")
	return multi && containsFold(sql, "set")
}

func hasPrefixFold(s, w string) bool { return len(s) >= len(w) && containsFold(s[:len(w)], w) }

// parseOne parses sql when it mentions word (containsFold: a cheap test before the parser) and
// is one statement; otherwise it returns nil.
func parseOne(sql, word string) (*pg.ParseResult, *pg.Node) {
	if !containsFold(sql, word) {
		return nil, nil
	}
	tree, err := pg.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, nil
	}
	return tree, tree.Stmts[0].GetStmt()
}

// containsFold reports whether s contains the lower-case ASCII word w in any case, without
// allocating.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for j < len(w) && s[i+j]|0x20 == w[j] {
			j++
		}
		if j == len(w) {
			return true
		}
	}
	return false
}

// Session is a session's settings as vecgate applies them.
type Session struct {
	Settings
	// Enabled is vecgate.enabled (default on): off forwards everything.
	Enabled bool
	// Consistency is vecgate.consistency: "session" (default: wait for the session's own
	// committed writes), "eventual" (never wait) or "strong" (wait for the upstream's current
	// position before every intercepted read).
	Consistency string
	// MaxWait is vecgate.max_wait (default 100ms): how long a read waits for the indexes before
	// it is forwarded instead.
	MaxWait time.Duration
	// ExactDistances is vecgate.exact_distances (default off): on, distance-projecting queries
	// go through Postgres so it computes the distances itself.
	ExactDistances bool
}

// DefaultSession is the behaviour of a session that set nothing.
func DefaultSession() Session {
	return Session{Enabled: true, Consistency: "session", MaxWait: 100 * time.Millisecond}
}

// ApplySettings computes a session's behaviour from its knob values (name → value as SET gave
// it; absent means default). Values vecgate cannot read are ignored (the default stays).
func ApplySettings(values map[string]string) Session {
	s := DefaultSession()
	for name, v := range values {
		v = strings.ToLower(strings.TrimSpace(v))
		switch name {
		case KnobEFSearch:
			if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 1000 {
				s.EFSearch = n
			}
		case KnobProbes:
			if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 32768 {
				s.Probes = n
			}
		case KnobEnabled:
			if b, ok := parseBool(v); ok {
				s.Enabled = b
			}
		case KnobExactDistance:
			if b, ok := parseBool(v); ok {
				s.ExactDistances = b
			}
		case KnobConsistency:
			switch v {
			case "session", "eventual", "strong":
				s.Consistency = v
			}
		case KnobMaxWait:
			if d, err := parseDuration(v); err == nil && d >= 0 {
				s.MaxWait = d
			}
		}
	}
	return s
}

func parseBool(v string) (bool, bool) {
	switch v {
	case "on", "true", "yes", "1", "t", "y":
		return true, true
	case "off", "false", "no", "0", "f", "n":
		return false, true
	}
	return false, false
}

// parseDuration reads Postgres-style durations: "250" (milliseconds), "250ms", "2s", "1min".
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Millisecond, nil
	}
	v = strings.ReplaceAll(v, " ", "")
	v = strings.Replace(v, "min", "m", 1)
	return time.ParseDuration(v)
}

// ExplainOf recognises `EXPLAIN [options] <select>` and returns the inner statement's text,
// whether the output is plain text (the format vecgate can add its lines to) and whether it has
// the ANALYZE option (with any value: EXPLAIN then may run the statement).
func ExplainOf(sql string) (inner string, text, analyze bool, ok bool) {
	if !hasDistanceOperator(sql) {
		return "", false, false, false
	}
	tree, st := parseOne(sql, "explain")
	ex := st.GetExplainStmt()
	if ex == nil || ex.Query.GetSelectStmt() == nil {
		return "", false, false, false
	}
	text = true
	for _, o := range ex.Options {
		d := o.GetDefElem()
		if d != nil && d.Defname == "analyze" {
			analyze = true
		}
		if d != nil && d.Defname == "format" {
			if f, ok := constArg(d.Arg); ok && strings.ToLower(f.Literal) != "text" {
				text = false
			}
			if s := d.Arg.GetString_(); s != nil && strings.ToLower(s.Sval) != "text" {
				text = false
			}
		}
	}
	inner, err := pg.Deparse(&pg.ParseResult{Version: tree.Version, Stmts: []*pg.RawStmt{{Stmt: ex.Query}}})
	if err != nil {
		return "", false, false, false
	}
	return inner, text, analyze, true
}

// ExplainWith returns the EXPLAIN statement sql with its inner statement replaced by inner.
func ExplainWith(sql, inner string) (string, error) {
	tree, err := pg.Parse(sql)
	if err != nil {
		return "", err
	}
	in, err := pg.Parse(inner)
	if err != nil || len(in.Stmts) != 1 {
		return "", fmt.Errorf("planner: explain: inner statement: %v", err)
	}
	ex := tree.Stmts[0].GetStmt().GetExplainStmt()
	if ex == nil {
		return "", fmt.Errorf("planner: not an EXPLAIN")
	}
	ex.Query = in.Stmts[0].Stmt
	return pg.Deparse(tree)
}

// IsShowStatus recognises `SHOW vecgate.status`, which vecgate answers itself.
func IsShowStatus(sql string) bool {
	_, st := parseOne(sql, "vecgate.status")
	v := st.GetVariableShowStmt()
	return v != nil && strings.ToLower(v.Name) == "vecgate.status"
}
