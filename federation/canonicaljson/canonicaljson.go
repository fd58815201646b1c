// Package canonicaljson is Matrix's canonical JSON, strict: the one byte
// form that federation hashes and signs.
//
// The rules (Matrix specification, appendices, "Canonical JSON"):
//
//   - object keys sorted by Unicode code point (for valid UTF-8 that is the
//     order of the bytes, so a plain string comparison);
//   - no insignificant whitespace; UTF-8 output;
//   - strings escape only '"', '\\', and the control characters below
//     U+0020 (\b \f \n \r \t by name, others as \u00xx in lower-case hex);
//     everything else, U+007F and U+2028 included, is written literally;
//   - numbers are integers in [-(2^53-1), 2^53-1] without fraction or
//     exponent; -0 is written 0.
//
// Stricter than the Matrix text, as SPEC.md asks ("anything else is
// refused"): a number with a fraction or an exponent (1.0, 1e3, even the
// Matrix example 1e10) is refused rather than converted, as are a key given
// twice in one object (compared after unescaping, so "a" and "\u0061"
// clash), invalid UTF-8, an escaped lone surrogate, text after the value,
// and nesting deeper than MaxDepth. No well-kept Go library meets exactly
// these rules without a large dependency tree (gomatrixserverlib's
// CanonicalJSON accepts and rewrites floats), hence this small package.
//
// Every error is an *Error, which the federation layer answers with
// errcode CT_BAD_JSON (ErrCode) and HTTP 400.
package canonicaljson

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/crypttalk/crypttalk/internal/jsonx"
)

// ErrCode is the errcode of the contract for JSON this package refuses.
const ErrCode = "CT_BAD_JSON"

// MaxDepth bounds nesting of arrays and objects, so a hostile document
// cannot make the parser recurse without limit.
const MaxDepth = 64

// MaxSafeInt is 2^53-1, the largest integer every JSON library (IEEE
// doubles included) represents exactly.
const MaxSafeInt = 1<<53 - 1

// Error is JSON that is not acceptable: malformed, or outside the
// canonical rules. Msg is safe to show to the peer.
type Error struct {
	Offset int    // byte offset in the input where the problem was seen
	Msg    string // client-safe sentence
}

func (e *Error) Error() string {
	return fmt.Sprintf("canonical JSON: %s (at byte %d)", e.Msg, e.Offset)
}

// Code is the errcode this error maps to.
func (e *Error) Code() string { return ErrCode }

// Canonical checks that b is one JSON value within the rules and returns
// its canonical form. Whitespace around and inside b is allowed (it is
// insignificant); the output has none.
func Canonical(b []byte) ([]byte, error) {
	p := parser{in: b}
	p.ws()
	out := make([]byte, 0, len(b))
	out, err := p.value(out, 0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(b) {
		return nil, p.fail("text after the JSON value")
	}
	return out, nil
}

// IsCanonical reports whether b is already exactly in canonical form.
func IsCanonical(b []byte) bool {
	c, err := Canonical(b)
	return err == nil && string(c) == string(b)
}

// Marshal encodes v with encoding/json, then canonicalises the result. A
// float field with a fraction, or an integer beyond 2^53-1, is an error.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Msg: "cannot encode value: " + err.Error()}
	}
	return Canonical(b)
}

type parser struct {
	in  []byte
	pos int
}

func (p *parser) fail(msg string) error { return &Error{Offset: p.pos, Msg: msg} }

func (p *parser) ws() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(out []byte, depth int) ([]byte, error) {
	if p.pos >= len(p.in) {
		return nil, p.fail("unexpected end of JSON")
	}
	switch c := p.in[p.pos]; {
	case c == '{':
		return p.object(out, depth+1)
	case c == '[':
		return p.array(out, depth+1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendString(out, s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(out)
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.in[p.pos:min(len(p.in), p.pos+5)]), lit) {
				p.pos += len(lit)
				return append(out, lit...), nil
			}
		}
		return nil, p.fail("invalid character at the start of a value")
	}
}

// member is one key and where its canonical value sits in the object's
// scratch buffer (one buffer per object rather than one per value).
type member struct {
	key        string
	start, end int
}

func (p *parser) object(out []byte, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, p.fail(fmt.Sprintf("nested deeper than %d levels", MaxDepth))
	}
	start := p.pos
	p.pos++ // {
	var members []member
	var vals []byte
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		return append(out, "{}"...), nil
	}
	for {
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return nil, p.fail("expected a string key")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return nil, p.fail("expected ':' after a key")
		}
		p.pos++
		p.ws()
		at := len(vals)
		if vals, err = p.value(vals, depth); err != nil {
			return nil, err
		}
		members = append(members, member{key, at, len(vals)})
		p.ws()
		if p.pos >= len(p.in) {
			return nil, p.fail("unexpected end of JSON in an object")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != '}' {
			return nil, p.fail("expected ',' or '}' in an object")
		}
		p.pos++
		break
	}
	// Valid UTF-8 compares by code point when compared byte by byte.
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			if m.key == members[i-1].key { // sorted: a key given twice is now adjacent
				return nil, &Error{Offset: start, Msg: "a key is given twice in one object"}
			}
			out = append(out, ',')
		}
		out = appendString(out, m.key)
		out = append(out, ':')
		out = append(out, vals[m.start:m.end]...)
	}
	return append(out, '}'), nil
}

func (p *parser) array(out []byte, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, p.fail(fmt.Sprintf("nested deeper than %d levels", MaxDepth))
	}
	p.pos++ // [
	out = append(out, '[')
	p.ws()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			out = append(out, ',')
		}
		p.ws()
		var err error
		if out, err = p.value(out, depth); err != nil {
			return nil, err
		}
		p.ws()
		if p.pos >= len(p.in) {
			return nil, p.fail("unexpected end of JSON in an array")
		}
		if p.in[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.in[p.pos] != ']' {
			return nil, p.fail("expected ',' or ']' in an array")
		}
		p.pos++
		return append(out, ']'), nil
	}
}

// number accepts JSON's integer grammar only and the safe range only.
func (p *parser) number(out []byte) ([]byte, error) {
	start := p.pos
	neg := p.in[p.pos] == '-'
	if neg {
		p.pos++
	}
	digits := p.pos
	for p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
		p.pos++
	}
	d := p.in[digits:p.pos]
	switch {
	case len(d) == 0:
		return nil, p.fail("a '-' without digits")
	case len(d) > 1 && d[0] == '0':
		return nil, &Error{Offset: start, Msg: "a number with a leading zero"}
	}
	if p.pos < len(p.in) {
		if c := p.in[p.pos]; c == '.' || c == 'e' || c == 'E' {
			return nil, &Error{Offset: start, Msg: "a number with a fraction or exponent (only integers are allowed)"}
		}
	}
	if len(d) > 16 {
		return nil, &Error{Offset: start, Msg: "an integer outside ±(2^53-1)"}
	}
	var n int64
	for _, c := range d {
		n = n*10 + int64(c-'0')
	}
	if n > MaxSafeInt {
		return nil, &Error{Offset: start, Msg: "an integer outside ±(2^53-1)"}
	}
	if neg && n != 0 {
		out = append(out, '-')
	}
	return append(out, d...), nil
}

// str reads a string token and returns its value, refusing raw control
// characters, invalid UTF-8, unknown escapes and lone surrogates.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	// Fast path: a string without escapes is its own bytes, once checked.
	for i := p.pos; i < len(p.in); i++ {
		c := p.in[i]
		if c == '"' {
			if raw := p.in[p.pos:i]; utf8.Valid(raw) {
				p.pos = i + 1
				return string(raw), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
	}
	var sb strings.Builder
	for {
		if p.pos >= len(p.in) {
			return "", p.fail("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			return sb.String(), nil
		case c < 0x20:
			return "", p.fail("a raw control character in a string")
		case c == '\\':
			if err := p.escape(&sb); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			sb.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.fail("invalid UTF-8")
			}
			sb.Write(p.in[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

func (p *parser) escape(sb *strings.Builder) error {
	if p.pos+1 >= len(p.in) {
		return p.fail("unterminated escape")
	}
	e := p.in[p.pos+1]
	if r, ok := simpleEscapes[e]; ok {
		sb.WriteByte(r)
		p.pos += 2
		return nil
	}
	if e != 'u' {
		return p.fail("an unknown escape")
	}
	r, ok := p.hex4(p.pos + 2)
	if !ok {
		return p.fail("a bad \\u escape")
	}
	p.pos += 6
	if utf16.IsSurrogate(r) {
		// Only a high surrogate followed by an escaped low one is a pair.
		var r2 rune
		if r < 0xdc00 && p.pos+1 < len(p.in) && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
			r2, ok = p.hex4(p.pos + 2)
		}
		pair := utf16.DecodeRune(r, r2)
		if !ok || pair == utf8.RuneError {
			return p.fail("a lone surrogate in a \\u escape")
		}
		p.pos += 6
		r = pair
	}
	sb.WriteRune(r)
	return nil
}

// simpleEscapes are JSON's two-character escapes and what they stand for.
var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func (p *parser) hex4(at int) (rune, bool) { return jsonx.Hex4(p.in, at) }

// appendString writes s with only the escapes the Matrix grammar allows.
func appendString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			out = append(out, '\\', '"')
		case '\\':
			out = append(out, '\\', '\\')
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		default:
			if c < 0x20 {
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				out = append(out, c)
			}
		}
	}
	return append(out, '"')
}
