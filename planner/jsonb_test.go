package planner

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestJSONBAsPostgres compares `@>` and `?` as vecgate evaluates them with Postgres' own answer
// for the same values; a value vecgate refuses to read must be one it leaves to Postgres, never
// one it reads otherwise.
func TestJSONBAsPostgres(t *testing.T) {
	c := pgtest.Connect(t, pgtest.DSN(t))
	ctx := context.Background()
	docs := []string{
		`{"a": 1, "b": "x", "c": null, "d": [1, 2, {"e": 3}], "f": {"g": [true, false]}}`,
		`{"a": 1.0, "b": "x\"y", "n": -0, "big": 12345678901234567890.5000}`,
		`[1, "a", [2, 3], {"k": "v"}, null]`,
		`"a"`, `1`, `null`, `true`, `[]`, `{}`, `[["a"]]`, `{"a": {"b": {"c": [1, [2]]}}}`,
		`{"é": "☃", "a": "\u00e9"}`,
	}
	probes := []string{
		`{}`, `[]`, `{"a": 1}`, `{"a": 1.00}`, `{"a": 10e-1}`, `{"a": "1"}`, `{"b": "x"}`, `{"c": null}`,
		`{"d": [2]}`, `{"d": [{"e": 3}]}`, `{"d": [{}]}`, `{"d": {"e": 3}}`, `{"d": 1}`, `{"f": {"g": [false]}}`,
		`{"f": {}}`, `{"a": 1, "a": 2}`, `{"a": 2, "a": 1}`, `{"n": 0}`, `{"big": 12345678901234567890.5}`,
		`[1]`, `["a"]`, `"a"`, `1`, `[[2]]`, `[[3, 2]]`, `[{"k": "v"}]`, `[{}]`, `[null]`, `null`, `[1, 1, "a"]`,
		`["a", 1]`, `[[]]`, `[["a"]]`, `{"a": {"b": {}}}`, `{"a": {"b": {"c": [[2]]}}}`, `{"a": {"b": {"c": [2]}}}`,
		`{"é": "☃"}`, `{"a": "é"}`, `true`, `[true]`, `{"b": "x\"y"}`, `  {"a" :1 }  `,
		// Not read by vecgate (left to Postgres): malformed, escapes Postgres refuses, huge numbers.
		`{"a": 01}`, `{"a": .5}`, `{"a": 1.}`, `{"a": "\u0000"}`, `{"a": 1e400}`, `{"a" 1}`, `[1,]`, `{"a": NaN}`,
		`tru`, `{"a": "x` + "\t" + `"}`, `{"a": 1} x`,
	}
	for _, doc := range docs {
		l, ok := parseJSONB([]byte(doc), false)
		if !ok {
			t.Fatalf("%s: not read", doc)
		}
		for _, probe := range probes {
			r, ok := parseJSONB([]byte(probe), true)
			var want bool
			err := c.QueryRow(ctx, "SELECT $1::jsonb @> $2::jsonb", doc, probe).Scan(&want)
			switch {
			case err != nil && ok:
				t.Errorf("%s @> %s: read by vecgate, refused by Postgres (%v)", doc, probe, err)
			case err == nil && ok && jsonbContains(l, r) != want:
				t.Errorf("%s @> %s: vecgate %v, Postgres %v", doc, probe, !want, want)
			}
		}
		for _, key := range []string{"a", "b", "c", "k", "é", "1", "", "zz"} {
			var want bool
			if err := c.QueryRow(ctx, "SELECT $1::jsonb ? $2", doc, key).Scan(&want); err != nil {
				t.Fatal(err)
			}
			if got := jsonbHasKey(l, key); got != want {
				t.Errorf("%s ? %q: vecgate %v, Postgres %v", doc, key, got, want)
			}
		}
	}
	// Values Postgres prints are read back the same: numbers in every form it outputs.
	var printed string
	if err := c.QueryRow(ctx, `SELECT '{"a": 1e2, "b": -0.000, "c": 1.10E-3, "d": 123456789012345678901234567890}'::jsonb::text`).Scan(&printed); err != nil {
		t.Fatal(err)
	}
	l, ok := parseJSONB([]byte(printed), false)
	r, _ := parseJSONB([]byte(`{"a": 100, "b": 0, "c": 0.0011, "d": 1.23456789012345678901234567890e29}`), true)
	if !ok || !jsonbContains(l, r) {
		t.Errorf("%s does not contain the same numbers written otherwise", printed)
	}
}
