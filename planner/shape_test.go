package planner_test

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/planner"
)

var update = flag.Bool("update", false, "rewrite testdata/shapes.txt with the current decisions")

// describe renders the planner's decision for one statement.
func describe(sql string) string {
	sh, err := planner.Classify(sql)
	if err != nil {
		if !errors.Is(err, planner.ErrNotShape) {
			return "error: " + err.Error()
		}
		return "forward: " + strings.TrimPrefix(err.Error(), planner.ErrNotShape.Error()+": ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "intercept: table=%s column=%s", qual(sh.Schema, sh.Table), sh.Column)
	if sh.Expr.Kind != "" {
		fmt.Fprintf(&b, " expr=%s(%d)", sh.Expr.Kind, sh.Expr.Dims)
	}
	fmt.Fprintf(&b, " metric=%s vector=%s", sh.Metric, sh.Vector)
	if sh.VectorType != "" {
		fmt.Fprintf(&b, "::%s", sh.VectorType)
	}
	fmt.Fprintf(&b, " k=%s", sh.Limit)
	if sh.Offset != nil {
		fmt.Fprintf(&b, " offset=%s", sh.Offset)
	}
	if sh.Farthest {
		b.WriteString(" farthest")
	}
	if sh.Join {
		b.WriteString(" join")
	}
	fmt.Fprintf(&b, "\ncolumns: %s star=%v plain=%v distance_outputs=%v params=%d", strings.Join(sh.Columns, ","), sh.Star, sh.Plain, sh.DistanceOutputs, sh.Params)
	if sh.HasWhere {
		var fs []string
		for _, f := range sh.Filters {
			var vs []string
			for _, v := range f.Values {
				vs = append(vs, v.String())
			}
			fs = append(fs, f.Column+" in ("+strings.Join(vs, ",")+")")
		}
		fmt.Fprintf(&b, "\nfilters: %s exact=%v%s", strings.Join(fs, " and "), sh.FiltersExact, planner.DescribeConds(sh))
	}
	rw, err := sh.Rewrite(planner.Target{Schema: cmp.Or(sh.Schema, "public"), Table: sh.Table, RelOID: 16384, Key: "id", KeyType: "bigint"})
	if err != nil {
		fmt.Fprintf(&b, "\nrewrite error: %v", err)
	} else {
		fmt.Fprintf(&b, "\nrewrite: %s", rw)
	}
	return b.String()
}

func qual(schema, table string) string {
	if schema == "" {
		return table
	}
	return schema + "." + table
}

func TestGolden(t *testing.T) { golden(t, "testdata/shapes.txt", describe) }

// TestGoldenNested: statements with a top-k node inside (planner/nested.go).
func TestGoldenNested(t *testing.T) { golden(t, "testdata/nested.txt", planner.DescribeNested) }

// golden checks each case of the file at path (`sql: <statement>`, `----`, the expected text
// until a blank line) against describe, or rewrites the file with -update.
func golden(t *testing.T, path string, describe func(string) string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cases := 0
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if !strings.HasPrefix(line, "sql: ") {
			out.WriteString(line)
			if i < len(lines)-1 {
				out.WriteString("\n")
			}
			continue
		}
		sql := strings.TrimPrefix(line, "sql: ")
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("line %d: sql without ----", i+1)
		}
		j := i + 2
		var want []string
		for ; j < len(lines) && lines[j] != ""; j++ {
			want = append(want, lines[j])
		}
		got := describe(sql)
		cases++
		if !*update && got != strings.Join(want, "\n") {
			t.Errorf("line %d: %s\n got:\n%s\nwant:\n%s", i+1, sql, got, strings.Join(want, "\n"))
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n", line, got)
		i = j - 1
	}
	if cases < 10 {
		t.Fatalf("only %d cases", cases)
	}
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
