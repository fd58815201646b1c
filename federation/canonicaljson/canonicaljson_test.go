package canonicaljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestMatrixVectors: the examples of the Matrix specification, appendices,
// "Canonical JSON" (matrix-org/matrix-spec content/appendices.md).
func TestMatrixVectors(t *testing.T) {
	t.Parallel()
	vectors := []struct{ in, want string }{
		{`{}`, `{}`},
		{"{\n    \"one\": 1,\n    \"two\": \"Two\"\n}", `{"one":1,"two":"Two"}`},
		{"{\n    \"b\": \"2\",\n    \"a\": \"1\"\n}", `{"a":"1","b":"2"}`},
		{`{"b":"2","a":"1"}`, `{"a":"1","b":"2"}`},
		{`{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`, `{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}`},
		{`{"a": "日本語"}`, `{"a":"日本語"}`},
		{`{"本": 2, "日": 1}`, `{"日":1,"本":2}`},
		{`{"a": "\u65E5"}`, `{"a":"日"}`},
		{`{"a": null}`, `{"a":null}`},
	}
	for _, v := range vectors {
		got, err := Canonical([]byte(v.in))
		if err != nil || string(got) != v.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", v.in, got, err, v.want)
		}
	}
	// The spec's last example, {"a": -0, "b": 1e10} -> {"a":0,"b":10000000000},
	// is refused on purpose: SPEC.md refuses every exponent. Its -0 half holds.
	if _, err := Canonical([]byte(`{"a": -0, "b": 1e10}`)); err == nil {
		t.Error("1e10 accepted")
	}
	if got, err := Canonical([]byte(`{"a": -0}`)); err != nil || string(got) != `{"a":0}` {
		t.Errorf("-0: %q %v", got, err)
	}
}

func TestEscapes(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		// Only the grammar's escapes; \u00xx lower-case for other controls.
		{`"\u0000\u001F\u0008\u000c\n\r\t"`, `"\u0000\u001f\b\f\n\r\t"`},
		{`"\"\\\/"`, `"\"\\/"`},
		// Literal, not escaped: DEL, U+2028, and non-ASCII; <>& stay too.
		{"\"\x7f\u2028é<>&\"", "\"\x7f\u2028é<>&\""},
		{`"\u2028\u00e9\u003c"`, "\"\u2028é<\""},
		// A surrogate pair escape is one code point, written as UTF-8.
		{`"\ud83d\ude00"`, `"😀"`},
		{`"\uD83D\uDE00"`, `"😀"`},
		// Sorting is by code point: "Z" < "a" < "é" < "日" < "😀".
		{`{"😀":1,"日":2,"é":3,"a":4,"Z":5}`, `{"Z":5,"a":4,"é":3,"日":2,"😀":1}`},
		{` [ 1 , -2 , true , false , null , [ ] , { } ] `, `[1,-2,true,false,null,[],{}]`},
		{`9007199254740991`, `9007199254740991`},
		{`-9007199254740991`, `-9007199254740991`},
	}
	for _, c := range cases {
		got, err := Canonical([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"float":             `{"a":1.0}`,
		"fraction":          `{"a":1.5}`,
		"exponent":          `{"a":1e3}`,
		"capital exponent":  `{"a":1E3}`,
		"2^53":              `{"a":9007199254740992}`,
		"-2^53":             `{"a":-9007199254740992}`,
		"huge":              `{"a":123456789012345678901234567890}`,
		"leading zero":      `{"a":01}`,
		"bare minus":        `{"a":-}`,
		"duplicate key":     `{"a":1,"a":2}`,
		"escaped duplicate": `{"a":1,"\u0061":2}`,
		"nested duplicate":  `{"x":{"k":1,"k":1}}`,
		"invalid utf8":      "{\"a\":\"\xff\"}",
		"invalid utf8 key":  "{\"\xc3\":1}",
		"overlong utf8":     "\"\xc0\xaf\"",
		"utf8 surrogate":    "\"\xed\xa0\x80\"",
		"lone high":         `"\ud800"`,
		"lone low":          `"\udc00"`,
		"high then text":    `"\ud800x"`,
		"high then high":    `"\ud800\ud800"`,
		"raw control":       "\"a\nb\"",
		"unknown escape":    `"\x41"`,
		"short escape":      `"\u12"`,
		"trailing":          `{} {}`,
		"trailing comma":    `[1,]`,
		"object comma":      `{"a":1,}`,
		"unterminated":      `{"a":"b`,
		"empty":             ``,
		"single quotes":     `{'a':1}`,
		"NaN":               `NaN`,
		"Infinity":          `-Infinity`,
		"bare word":         `nul`,
		"non-string key":    `{1:2}`,
		"too deep":          strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
	}
	for name, in := range bad {
		_, err := Canonical([]byte(in))
		var e *Error
		if !errors.As(err, &e) || e.Code() != "CT_BAD_JSON" {
			t.Errorf("%s: %q gave %v, want a CT_BAD_JSON *Error", name, in, err)
		}
	}
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Canonical([]byte(ok)); err != nil {
		t.Errorf("%d levels refused: %v", MaxDepth, err)
	}
}

func TestMarshal(t *testing.T) {
	t.Parallel()
	got, err := Marshal(map[string]any{"z": []int{3, 1}, "a": "<&>", "m": map[string]int{"y": 1, "b": 2}})
	if err != nil || string(got) != `{"a":"<&>","m":{"b":2,"y":1},"z":[3,1]}` {
		t.Fatalf("Marshal = %q, %v", got, err)
	}
	if _, err := Marshal(map[string]float64{"f": 0.5}); err == nil {
		t.Fatal("a float with a fraction was accepted")
	}
	if _, err := Marshal(map[string]int64{"n": 1 << 53}); err == nil {
		t.Fatal("2^53 was accepted")
	}
	if !IsCanonical([]byte(`{"a":1}`)) || IsCanonical([]byte(`{"a": 1}`)) || IsCanonical([]byte(`{"b":1,"a":2}`)) {
		t.Fatal("IsCanonical is wrong")
	}
}

// FuzzCanonical: whatever the input, an accepted document canonicalises
// to a fixed point that encoding/json reads as the same value; a refused
// one is refused with *Error, never a panic.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{}`, `{"b":"2","a":"1"}`, `[1,-0,true,null]`, `"\ud83d\ude00\u0007"`,
		`{"a":{"b":[{"c":"日"}]}}`, `{"a":1.0}`, `{"a":1,"a":2}`, "\"\xff\"", `9007199254740991`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonical(in)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		again, err := Canonical(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %q -> %q (%v)", out, again, err)
		}
		var a, b any
		if err := json.Unmarshal(in, &a); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %q: %v", in, err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("output is not JSON: %q: %v", out, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("value changed: %q -> %q", in, out)
		}
	})
}
