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

// TestCompositeKeyJSON pins how a composite key's candidates are rendered (keysJSON): each
// key's columns decoded from replication's bytes into their text forms, as JSON strings that
// jsonb_to_recordset reads back (quotes, backslashes and control characters escaped); a key
// whose bytes do not match the columns is left out.
func TestCompositeKeyJSON(t *testing.T) {
	tg := Target{KeyColumns: []string{"a", "b", "c"}, KeyTypes: []string{"integer", "text", "uuid"}}
	u := [16]byte{0: 0x12, 15: 0xff}
	good := compositeKey([]byte{0xff, 0xff, 0xff, 0xfe}, []byte("it's \"a\\b\"\n"), u[:])
	bad := compositeKey([]byte{1, 2, 3}, []byte("x"), u[:])
	got := tg.keysJSON([]ann.Result{{Key: good}, {Key: bad}, {Key: tg.placeholderKey(3)}})
	want := `[{"c1":"-2","c2":"it's \"a\\b\"\u000a","c3":"` + ann.UUIDKey(u).String() + `"},` +
		`{"c1":"3","c2":"3","c3":"00000000-0000-0000-0000-000000000003"}]`
	if got != want {
		t.Errorf("keysJSON:\n got %s\nwant %s", got, want)
	}
	if got := tg.keysLiteral(nil); got != `'[]'::pg_catalog.jsonb` {
		t.Errorf("keysLiteral(nil) = %s", got)
	}
}
