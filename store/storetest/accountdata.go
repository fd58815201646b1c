package storetest

import (
	"errors"
	"testing"

	"github.com/crypttalk/crypttalk/store"
)

// The account data group joins the suite from here, so the shared group
// table needs no edit; a backend without the optional ability skips it.
func init() {
	groups = append(groups, struct {
		name  string
		cases []testCase
	}{"AccountData", accountDataCases})
}

var accountDataCases = []testCase{
	{"put, get, replace, per user and type", func(t *testing.T, s store.Store) {
		ad, ok := s.(store.AccountData)
		if !ok {
			t.Skip("backend has no account data")
		}
		ctx := t.Context()
		if _, err := ad.GetAccountData(ctx, "@a:x", "m.direct"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing document: %v, want ErrNotFound", err)
		}
		if err := ad.PutAccountData(ctx, "@a:x", "m.direct", []byte(`{"@b:x":["!r:x"]}`)); err != nil {
			t.Fatal(err)
		}
		if err := ad.PutAccountData(ctx, "@a:x", "m.direct", []byte(`{"@c:x":["!s:x"]}`)); err != nil {
			t.Fatal(err)
		}
		if err := ad.PutAccountData(ctx, "@b:x", "m.direct", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		got, err := ad.GetAccountData(ctx, "@a:x", "m.direct")
		if err != nil || string(got) != `{"@c:x":["!s:x"]}` {
			t.Fatalf("after replace: %q, %v", got, err)
		}
		if _, err := ad.GetAccountData(ctx, "@a:x", "m.other"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("other type: %v, want ErrNotFound", err)
		}
		if got, err := ad.GetAccountData(ctx, "@b:x", "m.direct"); err != nil || string(got) != `{}` {
			t.Fatalf("other user: %q, %v", got, err)
		}
	}},
}
