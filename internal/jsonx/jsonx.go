// Package jsonx decodes untrusted JSON with the limits of the contract:
// a maximum nesting depth, UTF-8 only, no key twice in one object (not even
// in another case), and clear errors instead of library messages.
package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrTooDeep reports JSON nested deeper than allowed.
var ErrTooDeep = errors.New("JSON is nested too deeply")

// CheckDepth scans b and fails if arrays/objects nest deeper than max. It
// does not validate the JSON otherwise; it runs before the decoder so a
// hostile document cannot make the decoder recurse.
func CheckDepth(b []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return ErrTooDeep
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// Decode checks depth and unmarshals b into v, which must be a pointer to
// a struct or map. Errors are client-safe sentences.
func Decode(b []byte, v any, maxDepth int) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("a JSON body is required")
	}
	if err := CheckDepth(b, maxDepth); err != nil {
		return err
	}
	if b[0] != '{' {
		return errors.New("the body must be a JSON object")
	}
	if err := CheckText(b); err != nil {
		return err
	}
	if err := CheckKeys(b); err != nil {
		return err
	}
	// Unmarshal, not a Decoder: the body is in memory already, and
	// Unmarshal refuses anything after the object by itself.
	if err := json.Unmarshal(b, v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) && strings.Contains(syn.Error(), "after top-level value") {
			return errors.New("unexpected data after the JSON object")
		}
		return describe(err)
	}
	return nil
}

// ErrNotUTF8 reports bytes that are not UTF-8, or an escaped lone
// surrogate (\ud800): encoding/json would silently turn either into
// U+FFFD, so what is stored would not be what was sent.
var ErrNotUTF8 = errors.New("JSON text must be valid UTF-8")

// CheckText refuses invalid UTF-8 and lone surrogate escapes.
func CheckText(b []byte) error {
	if !utf8.Valid(b) {
		return ErrNotUTF8
	}
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			inString = c == '"'
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 < len(b) && b[i+1] == 'u' {
				r, ok := Hex4(b, i+2)
				switch {
				case ok && r >= 0xD800 && r < 0xDC00: // high: a low one must follow
					lo, ok2 := rune(0), false
					if i+7 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
						lo, ok2 = Hex4(b, i+8)
					}
					if !ok2 || lo < 0xDC00 || lo > 0xDFFF {
						return ErrNotUTF8
					}
					i += 11
					continue
				case ok && r >= 0xDC00 && r <= 0xDFFF:
					return ErrNotUTF8
				}
			}
			i++ // the escaped byte
		}
	}
	return nil
}

// Hex4 reads the four hex digits of a \uXXXX escape at b[at:].
func Hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// CheckKeys refuses an object that names one key twice, also when the two
// differ only in case: encoding/json matches field names without regard to
// case (Unicode folding: "TO", "To" and "to" all fill To) and the last one
// wins, so {"to":A,"TO":B} would be read as B by us and as A by anything
// in front of us that reads JSON case-sensitively. It is a byte scanner,
// not a tokenizer (every REST body and WebSocket frame goes through it); it
// does not validate the syntax, which the decoder does afterwards.
func CheckKeys(b []byte) error {
	type frame struct {
		object, wantKey bool
		keys            []string
		set             map[string]struct{} // once keys grows past smallObject
	}
	const smallObject = 16
	var stack []frame
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, frame{object: true, wantKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 && stack[n-1].object {
				stack[n-1].wantKey = true
			}
		case '"':
			end := stringEnd(b, i+1)
			if end < 0 {
				return nil // unterminated: the decoder reports it
			}
			if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].wantKey {
				f := &stack[n-1]
				f.wantKey = false
				k, raw := foldKey(b[i : end+1])
				dup := false
				if f.set != nil {
					_, dup = f.set[k]
				} else {
					for _, o := range f.keys {
						if o == k {
							dup = true
							break
						}
					}
				}
				if dup {
					return fmt.Errorf("key %s appears twice in one object (keys are matched without regard to case)", raw)
				}
				if f.set == nil && len(f.keys) < smallObject {
					f.keys = append(f.keys, k)
				} else {
					if f.set == nil {
						f.set = make(map[string]struct{}, 2*smallObject)
						for _, o := range f.keys {
							f.set[o] = struct{}{}
						}
					}
					f.set[k] = struct{}{}
				}
			}
			i = end
		}
	}
	return nil
}

// stringEnd is the index of the quote that closes the string starting at
// from, or -1.
func stringEnd(b []byte, from int) int {
	for j := from; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// foldKey maps keys that encoding/json would treat as one to one string:
// ASCII lower-casing for plain keys, and for escaped or non-ASCII ones the
// decoded key upper- then lower-cased, which also joins the Kelvin sign
// with k and the long s with s. raw is the quoted key, for the message.
func foldKey(quoted []byte) (folded, raw string) {
	raw = string(quoted)
	plain := true
	for _, c := range quoted[1 : len(quoted)-1] {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return asciiLower(raw[1 : len(raw)-1]), raw
	}
	var k string
	if json.Unmarshal(quoted, &k) != nil {
		k = raw
	}
	return strings.ToLower(strings.ToUpper(k)), raw
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func describe(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Errorf("field %q must be of type %s", typ.Field, typ.Type)
		}
		return fmt.Errorf("wrong JSON type: expected %s", typ.Type)
	default:
		return errors.New("malformed JSON")
	}
}
