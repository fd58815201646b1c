package jsonx

import (
	"errors"
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
