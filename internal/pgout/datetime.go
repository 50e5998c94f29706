package pgout

import (
	"math"
	"strconv"
	"time"
)

// Dates, timestamps and bytea in their binary send forms: a date is int32 days from
// 2000-01-01, a timestamp int64 microseconds from 2000-01-01 00:00:00 (UTC for timestamptz),
// the extremes of each meaning -infinity and infinity; bytea its bytes. Their text here is what
// Postgres prints under DateStyle ISO (any field order: it orders only input), TimeZone UTC (or
// another name for the zero offset) and bytea_output hex.

// pgEpoch is 2000-01-01 00:00:00 UTC in Unix seconds.
const pgEpoch = 946684800

func (f Family) settingDependent() bool {
	return f == Date || f == Timestamp || f == TimestampTZ || f == Bytea
}

// Setting is a session setting a family's output needs, and the values that print as here.
type Setting struct {
	Name   string
	Prefix string   // the value must start with it (DateStyle "ISO," whatever the order)
	Values []string // or be one of these
}

// zeroOffsetZones are TimeZone values at offset zero all year, which timestamptz prints as
// "+00" in DateStyle ISO.
var zeroOffsetZones = []string{"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
	"GMT", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "Etc/GMT0", "GMT0", "GMT+0", "GMT-0", "Etc/Greenwich", "Greenwich"}

// SettingsFor returns the settings family f's text output needs (nil for none beyond the fast
// path's own).
func SettingsFor(f Family) []Setting {
	f, _ = f.Elem() // an array prints its elements so
	switch f {
	case Date, Timestamp:
		return []Setting{{Name: "DateStyle", Prefix: "ISO,"}}
	case TimestampTZ:
		return []Setting{{Name: "DateStyle", Prefix: "ISO,"}, {Name: "TimeZone", Values: zeroOffsetZones}}
	case Bytea:
		return []Setting{{Name: "bytea_output", Values: []string{"hex"}}}
	}
	return nil
}

// appendDate appends year-month-day as ISO prints it, and whether the year is BC (year 0 and
// before: 1 BC is year 0).
func appendDate(b []byte, t time.Time) ([]byte, bool) {
	y, m, d := t.Date()
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	if y < 1000 {
		b = append(b, "000"[:4-digits(y)]...)
	}
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-', byte('0'+int(m)/10), byte('0'+int(m)%10), '-', byte('0'+d/10), byte('0'+d%10))
	return b, bc
}

func digits(y int) int {
	switch {
	case y >= 100:
		return 3
	case y >= 10:
		return 2
	}
	return 1
}

func dateText(days int32) []byte {
	switch days {
	case math.MinInt32:
		return []byte("-infinity")
	case math.MaxInt32:
		return []byte("infinity")
	}
	b, bc := appendDate(nil, time.Unix(pgEpoch+int64(days)*86400, 0).UTC())
	if bc {
		b = append(b, " BC"...)
	}
	return b
}

func timestampText(us int64, tz bool) []byte {
	switch us {
	case math.MinInt64:
		return []byte("-infinity")
	case math.MaxInt64:
		return []byte("infinity")
	}
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	t := time.Unix(pgEpoch+sec, 0).UTC()
	b, bc := appendDate(nil, t)
	h, mi, s := t.Clock()
	b = append(b, ' ', byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
	if frac != 0 {
		f := []byte(strconv.FormatInt(frac+1e6, 10))[1:] // six digits
		for f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		b = append(append(b, '.'), f...)
	}
	if tz {
		b = append(b, "+00"...)
	}
	if bc {
		b = append(b, " BC"...)
	}
	return b
}
