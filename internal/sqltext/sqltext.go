// Package sqltext quotes values for SQL text that vecgate builds itself: string literals and
// identifiers, as Postgres reads them. It is a leaf: it imports only the standard library.
package sqltext

import "strings"

// QuoteLiteral quotes s as an SQL string literal that means s whatever the session's
// standard_conforming_strings: single quotes doubled, and when s has a backslash the E form with
// backslashes doubled too (in a plain literal a backslash is literal only while
// standard_conforming_strings is on, Postgres' default since 9.1).
func QuoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// QuoteIdent quotes s as an SQL identifier, always (so case and keywords are kept): "a""b".
func QuoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
