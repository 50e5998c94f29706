package indexdef

import (
	"math"
	"strconv"
	"strings"
)

// SetPgvectorOption reads one of pgvector's index options (m, ef_construction, lists), as
// written in CREATE INDEX … WITH (…) or stored in pg_class.reloptions, into the field it names.
// The value is read as Postgres reads an integer option (ParseInt); a value that is not one, or
// a name that is none of pgvector's, leaves the fields as they are.
func SetPgvectorOption(name, value string, m, efConstruction, lists *int) {
	n, ok := ParseInt(value)
	if !ok {
		return
	}
	switch name {
	case "m":
		*m = n
	case "ef_construction":
		*efConstruction = n
	case "lists":
		*lists = n
	}
}

// ParseInt reads an integer option as Postgres' parse_int does (no units): strtod, so leading
// and trailing white space, a sign, a fraction, an exponent and hexadecimal are accepted, then
// rounded half to even; out of range, NaN and anything else fail.
func ParseInt(s string) (int, bool) {
	const space = " \t\n\v\f\r"
	t := strings.Trim(s, space)
	if t == "" || strings.ContainsRune(t, '_') {
		return 0, false
	}
	body := strings.TrimLeft(t, "+-")
	if len(t)-len(body) > 1 {
		return 0, false
	}
	hex := len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')
	if hex && !strings.ContainsAny(body, "pP") {
		t += "p0" // strtod reads 0x1A; Go wants an exponent
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	mantissa := body
	if !hex {
		if i := strings.IndexAny(body, "eE"); i >= 0 {
			mantissa = body[:i]
		}
	} else if i := strings.IndexAny(body, "pP"); i >= 0 {
		mantissa = body[2:i]
	}
	if f != 0 && math.Abs(f) < 0x1p-1022 || f == 0 && strings.Trim(mantissa, "0.xX") != "" {
		return 0, false // strtod reports underflow as ERANGE
	}
	f = math.RoundToEven(f)
	if f > math.MaxInt32 || f < math.MinInt32 {
		return 0, false
	}
	return int(f), true
}
