package planner

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jsonb containment (`@>`) and key existence (`?`), evaluated as Postgres evaluates them over
// jsonb values: objects hold unique keys (the last of duplicates wins), a scalar at the top is
// a one-element "raw scalar" array, numbers compare as numerics (1.0 = 1), strings bytewise.
// Inputs that Postgres might read otherwise than this parser are refused (the statement then
// takes the rewrite, where Postgres reads them): anything but strict JSON, invalid UTF-8, \u0000
// and broken surrogate pairs, numbers with more than 100 digits or an exponent past ±100, nesting
// deeper than 64.

// jsonKind is a JSON value's kind.
type jsonKind byte

const (
	jsonObject jsonKind = iota + 1
	jsonArray
	jsonString
	jsonNumber
	jsonTrue
	jsonFalse
	jsonNull
)

// jsonValue is a parsed JSON value: str holds a string unescaped or a number in canonical form
// (numericKey); keys and vals an object's members, elems an array's elements.
type jsonValue struct {
	kind  jsonKind
	str   string
	keys  []string
	vals  []*jsonValue
	elems []*jsonValue
}

var jsonWords = map[jsonKind]string{jsonTrue: "true", jsonFalse: "false", jsonNull: "null"}

func (v *jsonValue) container() bool { return v.kind == jsonObject || v.kind == jsonArray }

// member returns the object member named k, or nil.
func (v *jsonValue) member(k string) *jsonValue {
	for i, key := range v.keys {
		if key == k {
			return v.vals[i]
		}
	}
	return nil
}

// parseJSONB parses doc as jsonb input, or reports false. limits bounds numbers as the package
// comment says (for values vecgate reads from a statement; stored values come from Postgres'
// own output and need none).
func parseJSONB(doc []byte, limits bool) (*jsonValue, bool) {
	if !utf8.Valid(doc) {
		return nil, false
	}
	p := jsonParser{b: doc}
	v, ok := p.value(0, limits)
	p.space()
	return v, ok && p.i == len(p.b)
}

func (p *jsonParser) value(depth int, limits bool) (*jsonValue, bool) {
	if depth > 64 {
		return nil, false
	}
	p.space()
	switch c := p.peek(); {
	case c == '{':
		p.i++
		v := &jsonValue{kind: jsonObject}
		p.space()
		if p.eat('}') {
			return v, true
		}
		for {
			p.space()
			k, ok := p.str()
			if !ok {
				return nil, false
			}
			p.space()
			if !p.eat(':') {
				return nil, false
			}
			m, ok := p.value(depth+1, limits)
			if !ok {
				return nil, false
			}
			if old := v.member(k); old != nil {
				*old = *m // jsonb keeps the last value of a duplicated key
			} else {
				v.keys, v.vals = append(v.keys, k), append(v.vals, m)
			}
			p.space()
			if p.eat('}') {
				return v, true
			}
			if !p.eat(',') {
				return nil, false
			}
		}
	case c == '[':
		p.i++
		v := &jsonValue{kind: jsonArray}
		p.space()
		if p.eat(']') {
			return v, true
		}
		for {
			e, ok := p.value(depth+1, limits)
			if !ok {
				return nil, false
			}
			v.elems = append(v.elems, e)
			p.space()
			if p.eat(']') {
				return v, true
			}
			if !p.eat(',') {
				return nil, false
			}
		}
	case c == '"':
		s, ok := p.str()
		return &jsonValue{kind: jsonString, str: s}, ok
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		for p.i < len(p.b) && strings.IndexByte("+-.eE0123456789", p.b[p.i]) >= 0 {
			p.i++
		}
		n, ok := numericKey(string(p.b[start:p.i]), limits)
		return &jsonValue{kind: jsonNumber, str: n}, ok
	}
	for kind, word := range jsonWords {
		if bytes.HasPrefix(p.b[p.i:], []byte(word)) {
			p.i += len(word)
			return &jsonValue{kind: kind}, true
		}
	}
	return nil, false
}

// numericKey reads a JSON number (strictly: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?) and returns a
// form equal for equal numerics: digits without leading or trailing zeros and a power of ten.
func numericKey(s string, limits bool) (string, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp, hasExp := strings.Cut(s, "e")
	if !hasExp {
		mant, exp, hasExp = strings.Cut(s, "E")
	}
	whole, frac, hasFrac := strings.Cut(mant, ".")
	if whole == "" || whole[0] == '0' && len(whole) > 1 || hasFrac && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return "", false
	}
	e := 0
	if hasExp {
		digits := strings.TrimLeft(exp, "+-")
		if digits == "" || len(exp)-len(digits) > 1 || !allDigits(digits) || len(digits) > 6 {
			return "", false
		}
		e, _ = strconv.Atoi(exp)
	}
	if limits && (len(whole)+len(frac) > 100 || e > 100 || e < -100) {
		return "", false
	}
	d := strings.TrimLeft(whole+frac, "0")
	e -= len(frac)
	for strings.HasSuffix(d, "0") {
		d, e = d[:len(d)-1], e+1
	}
	if d == "" {
		return "0", true
	}
	sign := ""
	if neg {
		sign = "-"
	}
	return sign + d + "e" + strconv.Itoa(e), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// jsonbContains is `l @> r` over two top-level values.
func jsonbContains(l, r *jsonValue) bool {
	if (l.kind == jsonObject) != (r.kind == jsonObject) {
		return false
	}
	return deepContains(asArray(l), asArray(r))
}

// asArray gives a top-level scalar as the one-element array jsonb stores it as (raw).
func asArray(v *jsonValue) rawOr {
	if v.container() {
		return rawOr{v: v}
	}
	return rawOr{v: &jsonValue{kind: jsonArray, elems: []*jsonValue{v}}, raw: true}
}

type rawOr struct {
	v   *jsonValue
	raw bool
}

// deepContains is Postgres' containment of r in l, both containers: the same kind; every member
// of r present in l with a scalar equal or a container contained; every element of r equal to
// (scalar) or contained in (container) some element of l. A raw scalar contains no real array.
func deepContains(l, r rawOr) bool {
	if l.v.kind != r.v.kind {
		return false
	}
	if l.v.kind == jsonObject {
		if len(r.v.keys) > len(l.v.keys) {
			return false
		}
		for i, k := range r.v.keys {
			lv, rv := l.v.member(k), r.v.vals[i]
			switch {
			case lv == nil || lv.container() != rv.container():
				return false
			case !rv.container() && !scalarEqual(lv, rv):
				return false
			case rv.container() && !deepContains(rawOr{v: lv}, rawOr{v: rv}):
				return false
			}
		}
		return true
	}
	if l.raw && !r.raw {
		return false
	}
	for _, re := range r.v.elems {
		found := false
		for _, le := range l.v.elems {
			if re.container() && le.container() && deepContains(rawOr{v: le}, rawOr{v: re}) ||
				!re.container() && scalarEqual(le, re) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func scalarEqual(a, b *jsonValue) bool {
	return a.kind == b.kind && !a.container() && a.str == b.str
}

// jsonbHasKey is `v ? key`: a top-level member named key, or a top-level string element (a
// scalar string included) equal to it.
func jsonbHasKey(v *jsonValue, key string) bool {
	if v.kind == jsonObject {
		return v.member(key) != nil
	}
	for _, e := range asArray(v).v.elems {
		if e.kind == jsonString && e.str == key {
			return true
		}
	}
	return false
}
