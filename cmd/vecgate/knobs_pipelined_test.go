package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestKnobsPipelined: a COMMIT and a SET sent together, the SET before the COMMIT's
// ReadyForQuery: the SET runs outside the block and stays (vecgate took it for part of the block,
// which needs a COMMIT tag of its own, and dropped it).
func TestKnobsPipelined(t *testing.T) {
	f := newFixture(t, 500)
	via := pgtest.Connect(t, f.via)
	ctx := context.Background()
	simple := pgx.QueryExecModeSimpleProtocol
	check := func(step string) {
		t.Helper()
		var shown string
		if err := via.QueryRow(ctx, "SHOW hnsw.ef_search", simple).Scan(&shown); err != nil {
			t.Fatalf("%s: SHOW: %v", step, err)
		}
		plan := simpleLines(t, via, "EXPLAIN SELECT id FROM items ORDER BY emb <-> '"+f.vector()+"' LIMIT 3")
		m := efSearchRE.FindStringSubmatch(plan)
		if m == nil || m[1] != shown {
			t.Errorf("MISMATCH after %s: Postgres has hnsw.ef_search = %s, vecgate's EXPLAIN: %v", step, shown, m)
		}
	}
	for _, sql := range []string{"SET hnsw.ef_search = 100", "BEGIN"} {
		if _, err := via.Exec(ctx, sql, simple); err != nil {
			t.Fatal(err)
		}
	}
	fe := via.PgConn().Frontend()
	fe.Send(&pgproto3.Query{String: "COMMIT"})
	fe.Send(&pgproto3.Query{String: "SET hnsw.ef_search = 77"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	for z := 0; z < 2; {
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			z++
		}
	}
	check("pipelined COMMIT + SET 77")
}
