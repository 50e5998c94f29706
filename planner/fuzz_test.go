package planner_test

import (
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/vecgate/vecgate/planner"
)

// FuzzClassify: any text is classified or forwarded without a panic, and every intercepted
// statement yields a rewrite that parses, and that is itself no longer a top-k (the distance sort
// is wrapped so no pgvector index can serve it).
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"SELECT id FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5",
		"SELECT id, e <=> $1 AS d FROM s.t x WHERE x.a = $2 AND b IN (1,2) ORDER BY d DESC LIMIT $3 OFFSET 2",
		"SELECT * FROM t ORDER BY 1 LIMIT 1", "", ";", "SELECT", "select 1 order by 1 <-> 2 limit 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		sh, err := planner.Classify(sql)
		if err != nil {
			return
		}
		rw, err := sh.Rewrite(planner.Target{Schema: "public", Table: sh.Table, Key: "id", KeyType: "bigint"})
		if err != nil {
			return
		}
		filled := rw.Fill("$99::bigint[]")
		if _, err := pg.Parse(filled); err != nil {
			t.Fatalf("rewrite of %q does not parse: %v\n%s", sql, err, filled)
		}
		if _, err := planner.Classify(filled); err == nil {
			t.Fatalf("rewrite of %q is still a top-k an index could serve:\n%s", sql, filled)
		}
	})
}
