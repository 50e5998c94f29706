package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestNonSuperuser runs vecgate with the role docs/replication.md says is enough — the tables'
// owner with REPLICATION and CREATE on the database, not a superuser, logging in with SCRAM: the
// schema migration, the initial load, streaming, interception and CREATE INDEX through vecgate
// all work.
func TestNonSuperuser(t *testing.T) {
	dsn := pgtest.NewDB(t)
	admin := pgtest.Connect(t, dsn)
	ctx := context.Background()
	db := dsn[strings.LastIndex(dsn, "/")+1:]
	if i := strings.IndexByte(db, '?'); i >= 0 {
		db = db[:i]
	}
	const role, password = "vg_repl_owner", "owner-pw-1"
	for _, q := range []string{
		"SET password_encryption = 'scram-sha-256'",
		"DO $$ BEGIN CREATE ROLE " + role + "; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
		"ALTER ROLE " + role + " LOGIN REPLICATION NOSUPERUSER PASSWORD '" + password + "'",
		"GRANT CONNECT, CREATE ON DATABASE " + pgx.Identifier{db}.Sanitize() + " TO " + role,
		"GRANT CREATE ON SCHEMA public TO " + role,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	owner := pgtest.WithUser(t, dsn, role, password)
	oc := pgtest.Connect(t, owner)
	for _, q := range []string{
		`CREATE TABLE items (id bigserial PRIMARY KEY, category int NOT NULL, emb vector(8))`,
		`INSERT INTO items (category, emb) SELECT g % 10, (SELECT array_agg(random())::vector(8) FROM generate_series(1, 8) d WHERE g > 0)
			FROM generate_series(1, 3000) g`,
		`CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`,
	} {
		if _, err := oc.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var super bool
	if err := oc.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || super {
		t.Fatalf("the role is a superuser (%v, %v)", super, err)
	}

	g := startTestGateway(t, owner, gatewayOptions{Intercept: true, SlotName: fmt.Sprintf("np%d", rand.Uint32())})
	waitIndexed(t, g, 3000)

	via := pgtest.Connect(t, viaDSN(owner, g))
	const q = `SELECT id, emb <-> $1::vector FROM items WHERE category = 3 ORDER BY emb <-> $1::vector LIMIT 5`
	v := "[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5]"
	before := g.counts.get("intercept")
	if got := ids(t, via, q, v); len(got) != 5 {
		t.Fatalf("%d rows", len(got))
	}
	var id int64
	if err := via.QueryRow(ctx, `INSERT INTO items (category, emb) VALUES (3, $1::vector) RETURNING id`, pgx.QueryExecModeSimpleProtocol, v).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, via, q, v); len(got) != 5 || got[0] != id {
		t.Fatalf("after inserting row %d with the query vector: %v", id, got)
	}
	if n := g.counts.get("intercept") - before; n != 2 {
		t.Fatalf("%d of 2 queries intercepted", n)
	}
	if _, err := via.Exec(ctx, `CREATE INDEX items_emb_ip ON items USING hnsw (emb vector_ip_ops) WITH (quantizer = sq8, mode = offload)`, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("CREATE INDEX through vecgate as the owner: %v", err)
	}
	var defs int
	if err := admin.QueryRow(ctx, `SELECT count(*) FROM vecgate.indexes`).Scan(&defs); err != nil || defs != 1 {
		t.Fatalf("vecgate.indexes holds %d definitions (%v)", defs, err)
	}
}
