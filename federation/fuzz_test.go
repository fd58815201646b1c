package federation

import (
	"context"
	"errors"
	"testing"
)

// FuzzParseAuth: any header either parses, and then its String form
// parses to the same values, or is refused with ErrBadAuthHeader.
func FuzzParseAuth(f *testing.F) {
	for _, s := range []string{
		`X-CryptTalk origin="a.example",destination="b.example",key="ed25519:k",sig="abc"`,
		`x-crypttalk sig=s , KEY="ed25519:k",	destination=b ,origin="a\"b"`,
		`X-CryptTalk origin=a,,destination=b,key="ed25519:k",sig=s,`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuth(h)
		if err != nil {
			if !errors.Is(err, ErrBadAuthHeader) {
				t.Fatalf("%q: unexpected error %v", h, err)
			}
			return
		}
		b, err := ParseAuth(a.String())
		if err != nil || b != a {
			t.Fatalf("%q parsed to %+v, whose String %q parsed to %+v, %v", h, a, a.String(), b, err)
		}
	})
}

// FuzzVerifyEvent: arbitrary bytes never panic the receiver and are
// refused with an *Error (nothing else), unless they are a valid event.
func FuzzVerifyEvent(f *testing.F) {
	fx := newFixture(f)
	good := forge(f, baseFields(fx.now), fx.cur, "a.example")
	f.Add(good)
	f.Add([]byte(`{"type":"m.text","content":{},"hashes":{"sha256":""},"signatures":{"a.example":{"ed25519:cur":""}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := fx.v.VerifyEvent(context.Background(), raw)
		var fe *Error
		if err != nil && (!errors.As(err, &fe) || fe.Status < 400 || fe.Status > 499) {
			t.Fatalf("%q: %v", raw, err)
		}
	})
}
