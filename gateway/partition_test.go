package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// partitionedSetup creates pt (composite key (a, b), partitioned by list of a; one partition
// sub-partitioned by range of b, one a default partition) and pr (key b, partitioned by range of
// b), each with an L2 and a cosine HNSW index created on the parent (so on every leaf), 150 rows
// each.
func partitionedSetup() []string {
	return []string{
		`CREATE TABLE pt (a int, b bigint, note text, emb vector(4), PRIMARY KEY (a, b)) PARTITION BY LIST (a)`,
		`CREATE TABLE pt_01 PARTITION OF pt FOR VALUES IN (0, 1)`,
		`CREATE TABLE pt_2 PARTITION OF pt FOR VALUES IN (2) PARTITION BY RANGE (b)`,
		`CREATE TABLE pt_2lo PARTITION OF pt_2 FOR VALUES FROM (MINVALUE) TO (700)`,
		`CREATE TABLE pt_2hi PARTITION OF pt_2 FOR VALUES FROM (700) TO (MAXVALUE)`,
		`CREATE TABLE pt_other PARTITION OF pt DEFAULT`,
		`INSERT INTO pt SELECT g % 4, g * 10, 'n' || g, ARRAY[sin(g), cos(g * 1.3), sin(g * 0.7), cos(g * 2.1)]::vector FROM generate_series(1, 150) g`,
		`CREATE INDEX ON pt USING hnsw (emb vector_l2_ops)`,
		`CREATE INDEX ON pt USING hnsw (emb vector_cosine_ops)`,
		`CREATE TABLE pr (a int, b bigint PRIMARY KEY, note text, emb vector(4)) PARTITION BY RANGE (b)`,
		`CREATE TABLE pr_lo PARTITION OF pr FOR VALUES FROM (MINVALUE) TO (75)`,
		`CREATE TABLE pr_hi PARTITION OF pr FOR VALUES FROM (75) TO (MAXVALUE)`,
		`INSERT INTO pr SELECT g % 4, g, 'n' || g, ARRAY[cos(g), sin(g * 1.3), cos(g * 0.7), sin(g * 2.1)]::vector FROM generate_series(1, 150) g`,
		`CREATE INDEX ON pr USING hnsw (emb vector_l2_ops)`,
		`CREATE INDEX ON pr USING hnsw (emb vector_cosine_ops)`,
	}
}

// TestPartitionedParent: statements on a partitioned table (what applications send), with a
// composite key or a single one, sub-partitions and a default partition, are answered by
// vecgate through the leaves' twins, as Postgres answers them, in both protocols, and after
// writes through vecgate that move rows between partitions. A role that may read the parent
// but none of its partitions gets the parent's answer (Postgres checks the parent only); with
// row-level security on the parent, its policy applies (the rewrite runs on the parent).
func TestPartitionedParent(t *testing.T) {
	dsn, g := tableGateway(t, 300, partitionedSetup()...)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tb := range []string{"pt", "pr"} {
		if fast := sameThroughVecgate(t, g, via, direct, keyedQueries(tb), rng); fast == 0 {
			t.Errorf("%s: none of the answers to %s came from memory", tb, keyedQueries(tb)[0])
		}
	}
	// Rows move between partitions (a changes: another leaf), some go, some come.
	mustExec(t, via, `UPDATE pt SET a = (a + 1) % 4 WHERE note IN ('n3', 'n4', 'n5', 'n9')`)
	mustExec(t, via, `DELETE FROM pt WHERE note IN ('n6', 'n7')`)
	mustExec(t, via, `INSERT INTO pt SELECT 7, b + 5000, note || 'x', ARRAY[cos(b), sin(b), cos(b * 2), sin(b * 3)]::vector FROM pt WHERE note IN ('n8', 'n10')`)
	mustExec(t, via, `UPDATE pr SET b = b + 1000 WHERE note IN ('n3', 'n4')`)
	sameThroughVecgate(t, g, via, direct, keyedQueries("pt"), rng)
	sameThroughVecgate(t, g, via, direct, keyedQueries("pr")[:2], rng)

	// A role with SELECT on the parent only, and row-level security on the parent.
	role := fmt.Sprintf("ptest_%d", rand.Uint32())
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN PASSWORD 'pw'`,
		`GRANT SELECT ON pt TO ` + role,
		`ALTER TABLE pt ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY only_even ON pt FOR SELECT USING (a % 2 = 0)`,
		`CREATE POLICY all_rows ON pt_01 FOR SELECT USING (false)`, // a partition's RLS does not apply through the parent
		`ALTER TABLE pt_01 ENABLE ROW LEVEL SECURITY`,
	} {
		mustExec(t, direct, q)
	}
	t.Cleanup(func() {
		c := pgtest.Connect(t, dsn)
		mustExec(t, c, `DROP OWNED BY `+role)
		mustExec(t, c, `DROP ROLE `+role)
	})
	asRole := func(d string) string {
		u, err := url.Parse(d)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword(role, "pw")
		return u.String()
	}
	rvia, rdirect := pgtest.Connect(t, asRole(viaDSN(dsn, g))), pgtest.Connect(t, asRole(dsn))
	waitLonger(t, rvia)
	// (Not the nested node: its first round skips the probe, the guard finds rows the policy
	// hides, and the statement is forwarded, as for an ordinary table with row-level security.)
	sameThroughVecgate(t, g, rvia, rdirect, keyedQueries("pt")[:5], rng)
	if got := answer(t, rdirect, pgx.QueryExecModeSimpleProtocol, `SELECT count(*) FROM pt_01`); got[:5] != "ERROR" {
		t.Errorf("the role reads a partition directly: %q (the test's premise is that it cannot)", got)
	}
}

// TestPartitionedParentForwarded: a partitioned table with a leaf vecgate has no twin for (an
// unlogged partition: not published), or without a key of its own (its partitions' keys are
// unique within each only), is forwarded, with the reason no_index; another is not.
func TestPartitionedParentForwarded(t *testing.T) {
	dsn, g := tableGateway(t, 320, append(partitionedSetup(),
		`CREATE UNLOGGED TABLE pt_9 PARTITION OF pt FOR VALUES IN (9)`,
		// No key on the parent: each partition's own key is unique within it only.
		`CREATE TABLE nk (id int, emb vector(4)) PARTITION BY RANGE (id)`,
		`CREATE TABLE nk_1 PARTITION OF nk (PRIMARY KEY (id)) FOR VALUES FROM (0) TO (10)`,
		`CREATE TABLE nk_2 PARTITION OF nk (PRIMARY KEY (id)) FOR VALUES FROM (10) TO (20)`,
		`INSERT INTO nk SELECT g, ARRAY[g, 1, 2, 3]::vector FROM generate_series(0, 19) g`,
		`CREATE INDEX ON nk USING hnsw (emb vector_l2_ops)`)...)
	via := pgtest.Connect(t, viaDSN(dsn, g))
	waitLonger(t, via)
	forwardedBecause(t, via, `SELECT b FROM pt ORDER BY emb <-> '[1,2,3,4]' LIMIT 3`, "no live index")
	forwardedBecause(t, via, `SELECT id FROM nk ORDER BY emb <-> '[1,2,3,4]' LIMIT 3`, "no live index")
	before := g.Stats()
	answer(t, via, pgx.QueryExecModeExec, `SELECT b FROM pr ORDER BY emb <-> $1 LIMIT 3`, "[1,2,3,4]")
	if moved := statsMoved(before, g.Stats()); len(moved) != 1 || moved[0] != "intercept+1" {
		t.Errorf("pr (every leaf has twins): counters moved %v, want intercept+1", moved)
	}
}

// untilIntercepted runs q through vecgate until vecgate answers it (a partition's twins load
// alone after the catalog change; meanwhile the parent's statements are forwarded), then checks
// the answer against Postgres'.
func untilIntercepted(t *testing.T, g *Gateway, via, direct *pgx.Conn, step, q, vec string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		before := g.Stats()
		got := answer(t, via, pgx.QueryExecModeExec, q, vec)
		moved := statsMoved(before, g.Stats())
		if want := answer(t, direct, pgx.QueryExecModeExec, q, vec); got != want {
			t.Fatalf("%s: %s: WRONG ANSWER (counters moved %v)\nthrough vecgate:\n%s\ndirectly:\n%s", step, q, moved, got, want)
		}
		if len(moved) == 1 && moved[0] == "intercept+1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still forwarded after 30 s (counters moved %v)", step, q, moved)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPartitionsFollowDDL: the parent's leaves follow CREATE … PARTITION OF, DETACH and ATTACH
// sent through vecgate or directly: each new leaf loads alone, after which statements on the
// parent are answered through vecgate again, as Postgres answers them; a detached partition's
// rows are no longer the parent's.
func TestPartitionsFollowDDL(t *testing.T) {
	dsn, g := tableGateway(t, 300, partitionedSetup()...)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	// DDL sent directly is another session's change, which vecgate sees within replication lag
	// (as another session's rows): strong consistency waits for it. A statement planned before
	// the change is not answered from the leaves it was planned with (from memory: the leaves are
	// checked again after the wait; the rewrite: its guard), and the answers are compared at
	// every try.
	mustExec(t, via, `SET vecgate.consistency = 'strong'`)
	const q = `SELECT a, b, note, emb <-> $1 AS d FROM pt ORDER BY emb <-> $1 LIMIT 12`
	const vec = `[0.3,-0.2,0.5,0.1]`
	untilIntercepted(t, g, via, direct, "start", q, vec)

	mustExec(t, via, `CREATE TABLE pt_5 PARTITION OF pt FOR VALUES IN (5)`,
		`INSERT INTO pt SELECT 5, g, 'm' || g, ARRAY[0.3 + g / 1000.0, -0.2, 0.5, 0.1]::vector FROM generate_series(1, 20) g`)
	untilIntercepted(t, g, via, direct, "new partition, through vecgate", q, vec)
	if got := answer(t, via, pgx.QueryExecModeExec, q, vec); !strings.Contains(got, "m1 ") {
		t.Fatalf("the new partition's nearest rows are not in the answer:\n%s", got)
	}

	mustExec(t, direct, `ALTER TABLE pt DETACH PARTITION pt_5`)
	untilIntercepted(t, g, via, direct, "detached directly", q, vec)
	if got := answer(t, via, pgx.QueryExecModeExec, q, vec); strings.Contains(got, "m1 ") {
		t.Fatalf("a detached partition's rows are still the parent's:\n%s", got)
	}

	mustExec(t, direct, `ALTER TABLE pt ATTACH PARTITION pt_5 FOR VALUES IN (5)`)
	untilIntercepted(t, g, via, direct, "attached again directly", q, vec)
	if got := answer(t, via, pgx.QueryExecModeExec, q, vec); !strings.Contains(got, "m1 ") {
		t.Fatalf("the attached partition's rows are not in the answer:\n%s", got)
	}

	// A sub-partition attached under a partition: a leaf two levels down.
	mustExec(t, direct, `CREATE TABLE pt_6 (LIKE pt)`, `INSERT INTO pt_6 SELECT 6, g, 'k' || g, ARRAY[0.3, -0.2 + g / 1000.0, 0.5, 0.1]::vector FROM generate_series(1, 20) g`,
		`CREATE TABLE pt_67 PARTITION OF pt FOR VALUES IN (6, 7) PARTITION BY LIST (a)`,
		`ALTER TABLE pt_67 ATTACH PARTITION pt_6 FOR VALUES IN (6)`)
	untilIntercepted(t, g, via, direct, "sub-partition attached directly", q, vec)
	if got := answer(t, via, pgx.QueryExecModeExec, q, vec); !strings.Contains(got, "k1 ") {
		t.Fatalf("the sub-partition's rows are not in the answer:\n%s", got)
	}
}

// TestPartitionedIVF: partitions with IVF twins (trained: 1,200 rows each) are searched with the
// session's ivfflat.probes, as an ordinary table's twin is: with every list probed, the answers
// through vecgate are Postgres' exact ones (with the twins' default probes, 3 of 8, they missed
// rows).
func TestPartitionedIVF(t *testing.T) {
	dsn, g := tableGateway(t, 2400,
		`CREATE TABLE pv (a int, b bigint, note text, emb vector(4), PRIMARY KEY (a, b)) PARTITION BY LIST (a)`,
		`CREATE TABLE pv_0 PARTITION OF pv FOR VALUES IN (0)`,
		`CREATE TABLE pv_1 PARTITION OF pv FOR VALUES IN (1)`,
		`INSERT INTO pv SELECT g % 2, g, 'n' || g, ARRAY[sin(g), cos(g * 1.3), sin(g * 0.7), cos(g * 2.1)]::vector FROM generate_series(1, 2400) g`,
		`CREATE INDEX ON pv USING ivfflat (emb vector_l2_ops) WITH (lists = 8)`)
	via, direct := pgtest.Connect(t, viaDSN(dsn, g)), pgtest.Connect(t, dsn)
	waitLonger(t, via)
	for _, c := range []*pgx.Conn{via, direct} {
		mustExec(t, c, `SET ivfflat.probes = 8`)
	}
	mustExec(t, direct, `SET enable_indexscan = off`) // Postgres' exact answer
	rng := rand.New(rand.NewPCG(11, 12))
	sameThroughVecgate(t, g, via, direct, keyedQueries("pv")[:4], rng)
}
