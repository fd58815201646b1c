// Package jsonx decodes untrusted JSON with the limits of the contract:
// a maximum nesting depth, and clear errors instead of library messages.
package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return describe(err)
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
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
