package canon

import (
	"encoding/binary"
	"testing"
)

// TestSpellingsAgree: every spelling of a value that Postgres reads as the same value — text as a
// client writes it, text as Postgres prints it, binary — has one canonical form; what canon does
// not read exactly is refused, never read as something else.
func TestSpellingsAgree(t *testing.T) {
	b4 := binary.BigEndian.AppendUint32(nil, uint32(0xFFFFFFFB)) // int4 -5
	b8 := binary.BigEndian.AppendUint64(nil, 5)
	u := []byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}
	for _, c := range []struct {
		name string
		got  func() (string, bool)
		want string // "" means refused
	}{
		{"int text", func() (string, bool) { return IntText(" -05 ") }, "-5"},
		{"int4 binary", func() (string, bool) { return IntBinary(b4) }, "-5"},
		{"int8 binary", func() (string, bool) { return IntBinary(b8) }, "5"},
		{"int +5", func() (string, bool) { return IntText("+5") }, "5"},
		{"int hex", func() (string, bool) { return IntText("0x5") }, ""},
		{"int underscore", func() (string, bool) { return IntText("1_000") }, ""},
		{"int two signs", func() (string, bool) { return IntText("--5") }, ""},
		{"int 3 bytes", func() (string, bool) { return IntBinary([]byte{1, 2, 3}) }, ""},
		{"uuid printed", func() (string, bool) { return UUIDText("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11") }, string(u)},
		{"uuid braces upper", func() (string, bool) { return UUIDText("{A0EEBC999C0B4EF8BB6D6BB9BD380A11}") }, string(u)},
		{"uuid binary", func() (string, bool) { return UUIDBinary(u) }, string(u)},
		{"uuid trailing hyphen", func() (string, bool) { return UUIDText("a0eebc999c0b4ef8bb6d6bb9bd380a11-") }, ""},
		{"bool printed", func() (string, bool) { return BoolText("t") }, "t"},
		{"bool yes", func() (string, bool) { return BoolText(" YES ") }, "t"},
		{"bool binary", func() (string, bool) { return BoolBinary([]byte{1}) }, "t"},
		{"bool of", func() (string, bool) { return BoolText("of") }, "f"},
		{"bool o", func() (string, bool) { return BoolText("o") }, ""},
		{"bool binary 2", func() (string, bool) { return BoolBinary([]byte{2}) }, ""},
	} {
		got, ok := c.got()
		if c.want == "" && ok || c.want != "" && (!ok || got != c.want) {
			t.Errorf("%s: %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
}
