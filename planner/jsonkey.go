package planner

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonMember finds the top-level member key of a JSON object in Postgres' jsonb text output
// (valid JSON, unique keys) and returns it as `->>` does: a string unescaped, a number, true or
// false as written. present is false when the text is not an object or has no such member, or
// the member is null (`->>` is NULL then); complex is set for an object or array member, which
// callers do not compare (its text is not read here).
func jsonMember(doc []byte, key string) (val string, present, complex, ok bool) {
	p := jsonParser{b: doc}
	p.space()
	if !p.eat('{') {
		return "", false, false, p.err == nil
	}
	p.space()
	if p.eat('}') {
		return "", false, false, true
	}
	for p.err == nil {
		p.space()
		k, ok := p.str()
		if !ok {
			return "", false, false, false
		}
		p.space()
		if !p.eat(':') {
			return "", false, false, false
		}
		p.space()
		match := k == key
		switch c := p.peek(); {
		case c == '"':
			s, ok := p.str()
			if !ok {
				return "", false, false, false
			}
			if match {
				return s, true, false, true
			}
		case c == '{' || c == '[':
			if !p.skipComplex() {
				return "", false, false, false
			}
			if match {
				return "", true, true, true
			}
		default:
			start := p.i
			for p.i < len(p.b) && p.b[p.i] != ',' && p.b[p.i] != '}' && p.b[p.i] != ' ' {
				p.i++
			}
			tok := string(p.b[start:p.i])
			if match {
				if tok == "null" {
					return "", false, false, true
				}
				return tok, true, false, tok != ""
			}
		}
		p.space()
		if p.eat('}') {
			return "", false, false, true
		}
		if !p.eat(',') {
			return "", false, false, false
		}
	}
	return "", false, false, false
}

type jsonParser struct {
	b   []byte
	i   int
	err error
}

func (p *jsonParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *jsonParser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// str reads a JSON string and returns it unescaped.
func (p *jsonParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	var out []byte
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c < 0x20:
			return "", false // JSON escapes control characters; Postgres refuses them raw
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", false
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					return "", false
				}
			}
			if r == 0 || r == utf8.RuneError {
				return "", false // \u0000 and broken pairs: not compared
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	p.i += 4
	return rune(n), err == nil
}

// skipComplex skips an object or array, strings within included.
func (p *jsonParser) skipComplex() bool {
	depth := 0
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		case '"':
			if _, ok := p.str(); !ok {
				return false
			}
			continue
		}
		p.i++
	}
	return false
}
