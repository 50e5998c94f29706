package catalog

import (
	"reflect"
	"testing"
)

func TestReadBound(t *testing.T) {
	str := func(s string) *string { return &s }
	for _, c := range []struct {
		in   string
		want Bound
		ok   bool
	}{
		{"DEFAULT", Bound{Default: true}, true},
		{"FOR VALUES IN (1, '-2', NULL)", Bound{List: []string{"1", "-2"}}, true},
		{"FOR VALUES IN ('a''b', 'x, y', 'é')", Bound{List: []string{"a'b", "x, y", "é"}}, true},
		{"FOR VALUES FROM (MINVALUE) TO ('-5')", Bound{IsRange: true, To: str("-5")}, true},
		{"FOR VALUES FROM ('-5') TO ('10000000000')", Bound{IsRange: true, From: str("-5"), To: str("10000000000")}, true},
		{"FOR VALUES FROM (0) TO (MAXVALUE)", Bound{IsRange: true, From: str("0")}, true},
		{"FOR VALUES FROM (1, 2) TO (3, 4)", Bound{}, false},
		{"FOR VALUES WITH (modulus 2, remainder 0)", Bound{}, false},
		{"FOR VALUES IN (E'a\\\\b')", Bound{}, false},
		{"FOR VALUES IN ('2026-01-01'::date)", Bound{}, false},
		{"FOR VALUES IN ('a', )", Bound{}, false},
		{"FOR VALUES IN ('unterminated)", Bound{}, false},
	} {
		got, ok := ReadBound(c.in)
		if ok != c.ok || ok && !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v %v, want %+v %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
