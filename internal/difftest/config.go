package difftest

import (
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config says what to test and for how long.
type Config struct {
	// AdminDSN is a superuser DSN of the Postgres 17 + pgvector server (any database); the
	// tester creates its own databases and roles and drops them at the end.
	AdminDSN string
	// VecgateBinary is a vecgate binary to start (serve) against the tester's database. Either it
	// or Listen.
	VecgateBinary string
	// Listen is the address of an already running vecgate whose upstream is the tester's
	// database; HTTPListen its /status and /metrics address. Used with Database.
	Listen, HTTPListen string
	// Database is the (existing, empty but for the vector extension) database a running vecgate
	// follows; only with Listen. Empty: the tester creates one and starts VecgateBinary on it.
	Database string
	// Seed makes the run reproducible (with the same vecgate and Postgres).
	Seed uint64
	// Duration bounds the generation; Cases, when positive, bounds the number of cases instead.
	Duration time.Duration
	Cases    int
	// ShrinkTime bounds the shrinking of the findings' rows after generation (0: none).
	ShrinkTime time.Duration
	// OutDir receives one reproduction script per difference found (empty: none written).
	OutDir string
	// Skip lists generator features not to use (see Features).
	Skip map[string]bool
	// Logger; nil discards.
	Logger *slog.Logger
	// VecgateLog receives vecgate's stderr when the tester starts it (nil: discarded).
	VecgateLog interface{ Write([]byte) (int, error) }
}

// Features are the generator features that can be skipped, with what each adds.
var Features = map[string]string{
	"keys":       "bigint, uuid and text primary keys (otherwise int only)",
	"nulls":      "NULL vectors",
	"dups":       "duplicate vectors and zero vectors",
	"twovec":     "a second vector column",
	"halfvec":    "the second vector column halfvec sometimes",
	"halfexpr":   "(col::halfvec(n)) expression indexes on vector columns, queried on that expression",
	"bits":       "a bit(n) column with bit_hamming_ops (sometimes bit_jaccard_ops) indexes, queried with <~> and <%>",
	"sparse":     "a sparsevec(n) column with sparsevec_*_ops indexes",
	"ivfflat":    "ivfflat indexes (otherwise hnsw only)",
	"ops":        "inner product, cosine and L1 (otherwise L2 only)",
	"partitions": "a partitioned table",
	"rls":        "row-level security policies (FORCE ROW LEVEL SECURITY, owner sessions)",
	"roles":      "sessions as other roles, SET ROLE, roles without SELECT",
	"colgrants":  "a role with column-level SELECT only",
	"otherdb":    "a second database with a table of the same name",
	"schemas":    "a second schema with a same-named table, search_path changes",
	"encoding":   "SET client_encoding",
	"floats":     "SET extra_float_digits",
	"knobs":      "vecgate.* and ivfflat.probes settings, SET LOCAL",
	"blocks":     "transaction blocks (READ COMMITTED, REPEATABLE READ, with and without writes)",
	"writes":     "the session's own committed writes before its query (read-your-writes)",
	"writers":    "concurrent writers between query phases",
	"extended":   "extended protocol (pgx exec, cache-statement) with text and binary parameters",
	"pipelines":  "several queries in one pipeline (pgx batch)",
	"desc":       "ORDER BY … DESC",
	"secondkey":  "a second ORDER BY key",
	"offset":     "OFFSET",
	"where":      "WHERE filters",
	"volatile":   "volatile functions (nextval) in the select list",
	"errors":     "statements that fail (wrong dimensions, missing privileges)",
	"projection": "projections other than key and distance",
	"wrappers":   "the query inside a CTE, a FROM subquery or LATERAL",
}

// ParseSkip parses a comma-separated feature list ("encoding,rls").
func ParseSkip(s string) (map[string]bool, error) {
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if _, ok := Features[f]; !ok {
			return nil, fmt.Errorf("difftest: unknown feature %q (known: %s)", f, strings.Join(FeatureNames(), ", "))
		}
		m[f] = true
	}
	return m, nil
}

// FeatureNames lists Features' names in order.
func FeatureNames() []string {
	n := make([]string, 0, len(Features))
	for k := range Features {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (c *Config) on(feature string) bool {
	if _, ok := Features[feature]; !ok {
		panic("difftest: unknown feature " + feature)
	}
	return !c.Skip[feature]
}

func skipList(m map[string]bool) string {
	var s []string
	for k, v := range m {
		if v {
			s = append(s, k)
		}
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}
