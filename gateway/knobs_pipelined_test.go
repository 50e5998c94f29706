package gateway

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
	efSearchAgrees(t, f, via, "pipelined COMMIT + SET 77")
}
