package sqltext_test

import (
	"context"
	"testing"

	"github.com/vecgate/vecgate/internal/pgtest"
	"github.com/vecgate/vecgate/internal/sqltext"
)

var awkward = []string{"", "plain", "it's", `back\slash`, `\'`, `''\\`, `"quoted"`, "Mixed Case", "select", "ünï", "tab\there", "new\nline"}

// TestQuoteLiteral: Postgres reads every quoted literal back as the string, with
// standard_conforming_strings on and off.
func TestQuoteLiteral(t *testing.T) {
	c := pgtest.Connect(t, pgtest.DSN(t))
	ctx := context.Background()
	for _, scs := range []string{"on", "off"} {
		if _, err := c.Exec(ctx, "SET standard_conforming_strings = "+scs); err != nil {
			t.Fatal(err)
		}
		for _, s := range awkward {
			var got string
			// The server parses the literal under the session's setting.
			rows, err := c.Query(ctx, "SELECT "+sqltext.QuoteLiteral(s)+"::text")
			if err != nil {
				t.Fatalf("scs %s, %q: %v", scs, s, err)
			}
			for rows.Next() {
				if err := rows.Scan(&got); err != nil {
					t.Fatal(err)
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("scs %s, %q: %v", scs, s, err)
			}
			if got != s {
				t.Errorf("scs %s: %s read back as %q, want %q", scs, sqltext.QuoteLiteral(s), got, s)
			}
		}
	}
}

// TestQuoteIdent: Postgres takes every quoted identifier as the name itself.
func TestQuoteIdent(t *testing.T) {
	c := pgtest.Connect(t, pgtest.DSN(t))
	for _, s := range awkward[1:] { // a zero-length identifier is no identifier
		rows, err := c.Query(context.Background(), "SELECT 1 AS "+sqltext.QuoteIdent(s))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		name := rows.FieldDescriptions()[0].Name
		rows.Close()
		if name != s {
			t.Errorf("%s names the column %q, want %q", sqltext.QuoteIdent(s), name, s)
		}
	}
}
