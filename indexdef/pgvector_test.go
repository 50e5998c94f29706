package indexdef_test

import (
	"testing"

	"github.com/vecgate/vecgate/indexdef"
)

// TestSetPgvectorOption: values as Postgres' parse_int reads them (strtod, then rounded half to
// even); anything else leaves the fields alone.
func TestSetPgvectorOption(t *testing.T) {
	cases := []struct {
		name, value  string
		m, ef, lists int
	}{
		{"m", "8", 8, -1, -1},
		{"m", "0x10", 16, -1, -1},
		{"ef_construction", " 40.5 ", -1, 40, -1},
		{"ef_construction", "41.5", -1, 42, -1},
		{"lists", "1e2", -1, -1, 100},
		{"lists", "+7", -1, -1, 7},
		{"lists", "1_000", -1, -1, -1},
		{"lists", "--7", -1, -1, -1},
		{"lists", "NaN", -1, -1, -1},
		{"lists", "3000000000", -1, -1, -1},
		{"M", "8", -1, -1, -1},
		{"probes", "8", -1, -1, -1},
	}
	for _, c := range cases {
		m, ef, lists := -1, -1, -1
		indexdef.SetPgvectorOption(c.name, c.value, &m, &ef, &lists)
		if m != c.m || ef != c.ef || lists != c.lists {
			t.Errorf("%s=%q: got m %d ef_construction %d lists %d, want %d %d %d", c.name, c.value, m, ef, lists, c.m, c.ef, c.lists)
		}
	}
}
