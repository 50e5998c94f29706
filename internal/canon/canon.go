// Package canon is the canonical form of the values in-index filters compare: live keeps the
// replicated values of INCLUDE columns in it and the planner puts a statement's values in it, so
// the two must agree byte for byte — a value that differs by spelling alone ("05" and "5") would
// silently drop a matching row. Each reader reports false for input it cannot read exactly as
// Postgres would; callers then leave the value out of the filter.
package canon

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// Type families: the column types compared alike.
const (
	Int  = "int"  // smallint, integer, bigint: decimal text
	Text = "text" // text, varchar: the bytes
	UUID = "uuid" // the 16 bytes
	Bool = "bool" // "t" or "f"
)

// IntBinary reads an int2, int4 or int8 in binary (big-endian) form.
func IntBinary(b []byte) (string, bool) {
	switch len(b) {
	case 2:
		return strconv.FormatInt(int64(int16(binary.BigEndian.Uint16(b))), 10), true
	case 4:
		return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(b))), 10), true
	case 8:
		return strconv.FormatInt(int64(binary.BigEndian.Uint64(b)), 10), true
	}
	return "", false
}

// IntText reads an integer as Postgres' int2/4/8 input does for plain decimal text (surrounding
// spaces, an optional sign, digits: "05" is 5); other spellings Postgres accepts (0x1F, 1_000)
// are not read.
func IntText(s string) (string, bool) {
	s = strings.Trim(s, " \t\n\r\v\f")
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return "", false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return "", false
	}
	return strconv.FormatInt(n, 10), true
}

// UUIDBinary reads a uuid in binary form.
func UUIDBinary(b []byte) (string, bool) {
	if len(b) != 16 {
		return "", false
	}
	return string(b), true
}

// UUIDText reads the spellings uuid_in accepts: hex digits in any case, optional braces, hyphens
// between groups.
func UUIDText(s string) (string, bool) {
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		s = s[1 : len(s)-1]
	}
	if strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") || strings.Contains(s, "--") {
		return "", false
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return "", false
	}
	return string(b), true
}

// BoolBinary reads a boolean in binary form (one byte, 0 or 1).
func BoolBinary(b []byte) (string, bool) {
	if len(b) != 1 || b[0] > 1 {
		return "", false
	}
	if b[0] == 1 {
		return "t", true
	}
	return "f", true
}

// BoolText reads what boolin accepts: t/true/y/yes/on/1 and f/false/n/no/off/0, any case, unique
// prefixes, surrounding spaces.
func BoolText(s string) (string, bool) {
	s = strings.ToLower(strings.Trim(s, " \t\n\r\v\f"))
	switch {
	case s == "":
		return "", false
	case strings.HasPrefix("true", s), strings.HasPrefix("yes", s), s == "on", s == "1":
		return "t", true
	case strings.HasPrefix("false", s), strings.HasPrefix("no", s), s == "of" || s == "off", s == "0":
		return "f", true
	}
	return "", false
}

// Value reads a replicated value of a family — its binary send form, or its text output when
// text is set (pgoutput sends text for some types) — in canonical form; false for a family it
// does not know or a value it cannot read.
func Value(family string, v []byte, text bool) (string, bool) {
	switch {
	case family == Text:
		return string(v), true
	case family == Int && text:
		return IntText(string(v))
	case family == Int:
		return IntBinary(v)
	case family == UUID && text:
		return UUIDText(string(v))
	case family == UUID:
		return UUIDBinary(v)
	case family == Bool && text:
		return BoolText(string(v))
	case family == Bool:
		return BoolBinary(v)
	}
	return "", false
}
