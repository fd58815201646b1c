package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheckDepth(t *testing.T) {
	deep := strings.Repeat("[", 33) + strings.Repeat("]", 33)
	if err := CheckDepth([]byte(deep), 32); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("33 levels: got %v", err)
	}
	ok := strings.Repeat("[", 32) + strings.Repeat("]", 32)
	if err := CheckDepth([]byte(ok), 32); err != nil {
		t.Fatalf("32 levels: %v", err)
	}
	// Brackets inside strings do not count, escaped quotes do not end them.
	s := `{"a":"[[[[[[\"[[[[[["}`
	if err := CheckDepth([]byte(s), 1); err != nil {
		t.Fatalf("brackets in string counted: %v", err)
	}
}

func TestDecode(t *testing.T) {
	type body struct {
		To  string `json:"to"`
		Seq int64  `json:"seq"`
	}
	cases := map[string]string{
		"empty":      "",
		"array":      `[1,2]`,
		"malformed":  `{"to":`,
		"wrong type": `{"seq":"x"}`,
		"trailing":   `{"to":"a"} {"to":"b"}`,
		"deep":       `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	}
	for name, in := range cases {
		var b body
		if err := Decode([]byte(in), &b, 32); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
	var b body
	if err := Decode([]byte(` {"to":"@a:x","seq":3,"extra":{"k":1}} `), &b, 32); err != nil || b.To != "@a:x" || b.Seq != 3 {
		t.Fatalf("valid body: %+v %v", b, err)
	}
}

// TestDecodeRefusesAmbiguousText: keys that encoding/json would merge, and
// bytes it would replace with U+FFFD, are refused instead of resolved.
func TestDecodeRefusesAmbiguousText(t *testing.T) {
	type body struct {
		To   string `json:"to"`
		Text string `json:"message"`
		Data struct {
			Kind string `json:"kind"`
		} `json:"data"`
	}
	bad := map[string]string{
		"case duplicate":         `{"to":"@a:x","TO":"@b:x"}`,
		"exact duplicate":        `{"to":"@a:x","to":"@b:x"}`,
		"escaped duplicate":      `{"to":"@a:x","\u0054o":"@b:x"}`,
		"kelvin duplicate":       `{"data":{"kind":"a","\u212Aind":"b"}}`,
		"nested duplicate":       `{"data":{"kind":"a","Kind":"b"}}`,
		"duplicate in array":     `{"to":"@a:x","list":[{"x":1,"X":2}]}`,
		"invalid UTF-8":          "{\"message\":\"caf\xe9\"}",
		"invalid UTF-8 in a key": "{\"m\xffessage\":\"x\"}",
		"truncated sequence":     "{\"message\":\"\xe2\x82\"}",
		"lone high surrogate":    `{"message":"\ud800"}`,
		"lone low surrogate":     `{"message":"x\udc00y"}`,
		"high then non-low":      `{"message":"\ud800\u0041"}`,
	}
	for name, in := range bad {
		var b body
		if err := Decode([]byte(in), &b, 32); err == nil {
			t.Errorf("%s: accepted %q as %+v", name, in, b)
		}
	}
	good := map[string]string{
		"same key in sibling objects": `{"data":{"kind":"a"},"x":{"kind":"b"},"to":"@a:x"}`,
		"surrogate pair":              `{"message":"\ud83d\ude00"}`,
		"raw UTF-8":                   `{"message":"café ☕ 😀"}`,
		"escaped quote and backslash": `{"message":"a\"b\\","to":"c"}`,
		"keys in arrays of objects":   `{"list":[{"k":1},{"k":2}]}`,
	}
	var many strings.Builder
	many.WriteString(`{"to":"@a:x"`)
	for i := range 40 {
		fmt.Fprintf(&many, `,"k%d":%d`, i, i)
	}
	good["many keys"] = many.String() + "}"
	bad["a duplicate among many keys"] = many.String() + `,"K7":1}`
	for name, in := range bad {
		var b body
		if err := Decode([]byte(in), &b, 32); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
	for name, in := range good {
		var b body
		if err := Decode([]byte(in), &b, 32); err != nil {
			t.Errorf("%s: refused %q: %v", name, in, err)
		}
	}
}

// BenchmarkDecode measures a send-msg body through every check, against
// encoding/json alone (the cost of refusing ambiguous JSON).
func BenchmarkDecode(b *testing.B) {
	body := []byte(`{"to":"@bob:chat.example.org","message":"` + strings.Repeat("hello there, ", 20) + `","txn_id":"m-1234567890"}`)
	type msg struct {
		To, Message, TxnID string
	}
	b.Run("jsonx", func(b *testing.B) {
		for b.Loop() {
			var m msg
			if err := Decode(body, &m, 32); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			var m msg
			if err := json.Unmarshal(body, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
