package pgout_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/vecgate/vecgate/internal/pgout"
	"github.com/vecgate/vecgate/internal/pgtest"
)

// TestAgainstPostgres prints values of every supported type from their binary and text forms in
// both result formats and compares each with what Postgres itself sends for the same value.
func TestAgainstPostgres(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.DSN(t))
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 11))
	cases := map[string][]string{
		"smallint":          {"0", "-32768", "32767", "5"},
		"integer":           {"0", "-2147483648", "2147483647", "42"},
		"bigint":            {"0", "-9223372036854775808", "9223372036854775807"},
		"boolean":           {"true", "false"},
		"text":              {"", "hello", "naïve ☃ 日本", "a\nb\\c'd", " padded "},
		"character varying": {"x", "éé"},
		"character(5)":      {"ab", "abcde", "é"},
		"uuid":              {"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00000000-0000-0000-0000-000000000000"},
		"json":              {`{"b": 1,  "a": [1, 2]}`, `"x"`, `null`, `[ ]`},
		"jsonb":             {`{"b": 1,  "a": [1, 2.50]}`, `"é"`, `null`, `{"source": "doc-1.md", "page": 3}`},
		"real":              {"0", "-0", "1e6", "123456", "1234567", "1e-5", "0.0001", "3.4e38", "1e-45", "NaN", "Infinity", "-Infinity", "0.1", "1.17549435e-38"},
		"double precision":  {"0", "-0", "1e15", "0.1", "1e-5", "123456789012345", "NaN", "-Infinity", "5e-324", "2.2250738585072014e-308"},
		"numeric":           {"0", "0.000", "-1.5", "12345678901234567890.123456789", "0.0001", "1e-20", "100", "10000", "-0.00012", "NaN", "Infinity", "-Infinity", "99999999", "1.10"},
		"numeric(10,2)":     {"3.14159", "-0.5", "12345678"},
		// Under DateStyle ISO, TimeZone UTC, bytea_output hex (set below; pgout.SettingsFor).
		"date": {"2026-12-07", "0044-03-15 BC", "4713-01-01 BC", "5874897-12-31", "infinity", "-infinity",
			"1999-12-31", "2000-01-01", "0001-01-01", "0001-12-31 BC", "0999-05-06", "10000-01-01"},
		"timestamp without time zone": {"2026-12-07 20:59:12.123456", "2000-01-01 00:00:00", "1999-12-31 23:59:59.999999",
			"0044-03-15 12:00:00.5 BC", "294276-12-31 23:59:59.999999", "4713-01-01 00:00:00 BC", "infinity", "-infinity",
			"1970-01-01 00:00:00.01", "0001-01-01 00:00:00", "0001-12-31 23:59:59 BC"},
		"timestamp with time zone": {"2026-12-07 20:59:12.123456+00", "2026-06-01 12:00:00+05:30", "1900-01-01 00:00:00-08",
			"0044-03-15 12:00:00 BC", "infinity", "-infinity", "294276-12-31 23:59:59.999999+00", "1999-12-31 23:59:59.100+00"},
		"timestamp(3) with time zone": {"2026-12-07 20:59:12.123456+00"},
		"bytea":                       {`\x`, `\xdeadBEEF00`, "abc", "naïve"},
		// Arrays: NULLs, several dimensions, lower bounds other than 1, elements that need quotes.
		"integer[]":                     {"{}", "{1,2,3}", "{1,NULL,3}", "{{1,2},{3,4}}", "[0:1]={5,6}", "[2:3][-1:0]={{1,2},{3,4}}", "{{{1}},{{2}}}", "{NULL}"},
		"bigint[]":                      {"{9223372036854775807,-1}"},
		"smallint[]":                    {"{1}"},
		"text[]":                        {`{"a b",NULL,"NULL","null",x,"","{}","a,b","q\"uote","back\\slash","tab\tx","naïve ☃"}`, "{}", `{{a,b},{c,d}}`},
		"character varying[]":           {`{x," y"}`},
		"character(3)[]":                {`{a,bb}`},
		"boolean[]":                     {"{t,f,NULL}"},
		"uuid[]":                        {"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}"},
		"jsonb[]":                       {`{"{\"a\": 1}","[1, 2]",null,"\"s\""}`},
		"json[]":                        {`{"{\"a\":  1}"}`},
		"real[]":                        {"{1.5,-0,NaN,Infinity,0.1,1e-45}"},
		"double precision[]":            {"{0.1,1e300,-2.5e-300}"},
		"numeric[]":                     {"{1.10,-0.5,NaN,100}"},
		"date[]":                        {"{2026-12-07,infinity,0044-03-15 BC}"},
		"timestamp with time zone[]":    {`{"2026-12-07 20:59:12.123456+00",-infinity}`},
		"timestamp without time zone[]": {`{"2026-12-07 20:59:12"}`},
		"bytea[]":                       {`{"\\xdeadbeef",NULL,"\\x"}`},
	}
	for _, q := range []string{"SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, DMY'", "SET bytea_output = 'hex'"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for range 300 {
		// Any microsecond from 4713 BC to 294276 AD.
		const before, end = 211_813_488_000_000_000, 9_223_371_331_200_000_000 // -MIN_TIMESTAMP, END_TIMESTAMP
		us := int64(r.Uint64N(end+before)) - before                            // wraps past MaxInt64 back into range
		cases["timestamp with time zone"] = append(cases["timestamp with time zone"], fmt.Sprintf("epoch %d", us))
		cases["timestamp without time zone"] = append(cases["timestamp without time zone"], fmt.Sprintf("epoch %d", us))
		cases["date"] = append(cases["date"], fmt.Sprintf("epoch %d", us/86_400_000_000))
	}
	for range 300 {
		cases["real"] = append(cases["real"], strconv.FormatFloat(float64(float32(r.NormFloat64()*math.Pow(10, float64(r.IntN(30)-15)))), 'g', -1, 32))
		cases["double precision"] = append(cases["double precision"], strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.IntN(30)-15)), 'g', -1, 64))
		cases["numeric"] = append(cases["numeric"], fmt.Sprintf("%d.%0*d", r.Int64N(1e12)-5e11, r.IntN(12)+1, r.Int64N(1000)))
	}
	inexact, total := 0, 0
	defer func() {
		t.Logf("%d of %d conversions left to Postgres", inexact, total)
		if inexact > total/10 {
			t.Errorf("too many values left to Postgres: %d of %d", inexact, total)
		}
	}()
	for typ, vals := range cases {
		f := pgout.FamilyOf(typ)
		if f == pgout.Unsupported {
			t.Fatalf("%s: unsupported", typ)
		}
		for _, v := range vals {
			sql := fmt.Sprintf("SELECT $1::%s", typ)
			if n, ok := strings.CutPrefix(v, "epoch "); ok { // microseconds (days for dates) from 2000-01-01
				unit := map[string]string{"date": "day"}[typ]
				if unit == "" {
					unit = "microsecond"
				}
				sql = fmt.Sprintf("SELECT ('2000-01-01 00:00:00+00'::timestamptz + ($1::bigint * interval '1 %s'))::%s", unit, typ)
				v = n
			}
			var got [2][]byte
			for format := range int16(2) {
				res := conn.PgConn().ExecParams(ctx, sql, [][]byte{[]byte(v)}, nil, []int16{0}, []int16{format}).Read()
				if res.Err != nil {
					t.Fatalf("%s %q: %v", typ, v, res.Err)
				}
				got[format] = bytes.Clone(res.Rows[0][0])
			}
			text, bin := got[0], got[1]
			for _, from := range []struct {
				v    []byte
				text bool
			}{{bin, false}, {text, true}} {
				for format, want := range [][]byte{text, bin} {
					total++
					out, err := pgout.Encode(f, from.v, from.text, int16(format))
					if err != nil {
						if _, isArray := f.Elem(); errorsIsInexact(err) && from.text && (pgout.SettingsFor(f) != nil || isArray) {
							total-- // by design: their text was printed under the walsender's settings
							continue
						}
						if ef, _ := f.Elem(); errorsIsInexact(err) && (ef == pgout.Float4 || ef == pgout.Float8 || f == pgout.Numeric && from.text) {
							inexact++ // past MaxFloat, on a rounding bound, or a text numeric: left to Postgres
							continue
						}
						t.Errorf("%s %q from text=%v to format %d: %v", typ, v, from.text, format, err)
						continue
					}
					if !bytes.Equal(out, want) {
						t.Errorf("%s %q from text=%v to format %d: got %q, Postgres sends %q", typ, v, from.text, format, out, want)
					}
				}
			}
		}
	}
}

func errorsIsInexact(err error) bool { return errors.Is(err, pgout.ErrInexact) }

func TestFamilyOf(t *testing.T) {
	for typ, want := range map[string]pgout.Family{
		"integer": pgout.Int4, "character varying(20)": pgout.Text, "character(3)": pgout.BPChar, "numeric(10,2)": pgout.Numeric,
		"timestamp with time zone": pgout.TimestampTZ, "timestamp(3) with time zone": pgout.TimestampTZ,
		"timestamp(0) without time zone": pgout.Timestamp, "bytea": pgout.Bytea, "date": pgout.Date,
		"time without time zone": pgout.Unsupported, "interval": pgout.Unsupported, "vector(3)": pgout.Unsupported,
		"integer[]": pgout.ArrayOf(pgout.Int4), "timestamp(3) with time zone[]": pgout.ArrayOf(pgout.TimestampTZ),
		"character varying(20)[]": pgout.ArrayOf(pgout.Text), "interval[]": pgout.Unsupported, "vector(3)[]": pgout.Unsupported,
	} {
		if got := pgout.FamilyOf(typ); got != want {
			t.Errorf("FamilyOf(%q) = %v, want %v", typ, got, want)
		}
	}
}

// TestVectorAgainstPostgres: vectors printed as pgvector's vector_out and vector_send print them.
func TestVectorAgainstPostgres(t *testing.T) {
	conn := pgtest.Connect(t, pgtest.NewDB(t))
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 3))
	for n := range 40 {
		v := make([]float32, 1+n%17)
		for i := range v {
			v[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(16)-8)))
		}
		if n == 0 {
			v = []float32{0, float32(math.Copysign(0, -1)), 1e-45, 123456, 1234567, 0.0001, 1e-5}
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
		}
		lit := "[" + strings.Join(parts, ",") + "]"
		for format := range int16(2) {
			res := conn.PgConn().ExecParams(ctx, "SELECT $1::vector", [][]byte{[]byte(lit)}, nil, []int16{0}, []int16{format}).Read()
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			got, err := pgout.Vector(v, format)
			if errors.Is(err, pgout.ErrInexact) {
				continue
			}
			if err != nil || !bytes.Equal(got, res.Rows[0][0]) {
				t.Errorf("%s format %d: got %q (%v), Postgres sends %q", lit, format, got, err, res.Rows[0][0])
			}
		}
	}
}

// TestFloat8MatchesPostgres prints random doubles of every magnitude both ways: vecgate's
// answers from memory must print a float8 exactly as Postgres does.
func TestFloat8MatchesPostgres(t *testing.T) {
	c := pgtest.Connect(t, pgtest.DSN(t))
	r := rand.New(rand.NewPCG(3, 5))
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-4, 9.999e-5, 1e-5, 123456789012345, 1e15, 1e16,
		99999999999999.9, 0.30000000000000004, 5e-324, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(), 1.5e300, -2.5e-300}
	for range 2000 {
		vals = append(vals, math.Float64frombits(r.Uint64()&^(0x7ff<<52)|uint64(r.IntN(2046)+1)<<52))
		vals = append(vals, float64(r.Float32())*math.Pow(10, float64(r.IntN(40)-20)))
	}
	texts := make([]string, len(vals))
	for i, v := range vals {
		b, _ := pgout.Float(v, 64) // "" where it leaves the value to Postgres: still compared below
		texts[i] = string(b)
	}
	rows, err := c.Query(context.Background(), `SELECT x::text FROM unnest($1::float8[]) WITH ORDINALITY u(x, i) ORDER BY i`, vals)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var pg string
		if err := rows.Scan(&pg); err != nil {
			t.Fatal(err)
		}
		if pg != texts[i] && (math.Abs(vals[i]) < pgout.MaxFloat || math.IsInf(vals[i], 0)) {
			t.Errorf("%v: Postgres prints %q, vecgate %q", vals[i], pg, texts[i])
		}
		i++
	}
	if rows.Err() != nil || i != len(vals) {
		t.Fatalf("%d of %d rows: %v", i, len(vals), rows.Err())
	}
}
