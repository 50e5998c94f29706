package planner

import (
	"testing"

	"github.com/vecgate/vecgate/ann"
)

// TestKeyArrays pins how the keys of a round are rendered for Postgres: as an SQL array
// expression in the rewrite (arrayLiteral) and as an array parameter's text (textArray).
func TestKeyArrays(t *testing.T) {
	u := [16]byte{0: 0x12, 15: 0xff}
	res := []ann.Result{{Key: ann.IntKey(-7)}, {Key: ann.UUIDKey(u)}, {Key: ann.TextKey(`it's "a\b"`)}}
	if got, want := arrayLiteral(res, "text"),
		`ARRAY[-7,'`+ann.UUIDKey(u).String()+`',E'it''s "a\\b"']::text[]`; got != want {
		t.Errorf("arrayLiteral:\n got %s\nwant %s", got, want)
	}
	if got, want := arrayLiteral(nil, "bigint"), `'{}'::bigint[]`; got != want {
		t.Errorf("arrayLiteral(nil): got %s, want %s", got, want)
	}
	if got, want := textArray(res), `{-7,`+ann.UUIDKey(u).String()+`,"it's \"a\\b\""}`; got != want {
		t.Errorf("textArray:\n got %s\nwant %s", got, want)
	}
	if got, want := textArray(nil), `{}`; got != want {
		t.Errorf("textArray(nil): got %s, want %s", got, want)
	}
}
