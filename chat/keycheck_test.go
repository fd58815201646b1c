package chat_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

func ringOf(t *testing.T, spec string) *vault.Keyring {
	t.Helper()
	r, err := vault.ParseKeyring(spec, "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func openBolt(t *testing.T) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newService(st store.Store, ring *vault.Keyring) (*chat.Service, error) {
	return chat.New(context.Background(), chat.Options{ServerName: "x", BcryptCost: 4}, chat.Deps{Store: st, Bus: local.New(), Keyring: ring})
}

// sendOne registers two users (named after tag) and sends one message, so
// the store holds a data key wrapped by the active master key.
func sendOne(t *testing.T, svc *chat.Service, tag string) {
	t.Helper()
	ctx := context.Background()
	var ps []*chat.Principal
	for _, n := range []string{"alice" + tag, "bob" + tag} {
		_, tok, err := svc.Register(ctx, chat.Credentials{Username: n, Email: n + "@x.org", Password: "long enough"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := svc.Authenticate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if _, err := svc.Send(ctx, ps[0], chat.SendRequest{To: ps[1].User.UserID, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
}

func wantWrongKey(t *testing.T, err error, version string) {
	t.Helper()
	if !errors.Is(err, chat.ErrWrongMasterKey) || !strings.Contains(err.Error(), "master key "+version+" ") {
		t.Fatalf("got %v, want ErrWrongMasterKey naming %s", err, version)
	}
	for _, b := range []byte{1, 2, 3, 4, 9} {
		if strings.Contains(err.Error(), b64key(b)[:12]) {
			t.Fatal("the error shows key material")
		}
	}
}

// TestMasterKeyCheck: a node whose key under a known version label is not
// the one the store was written with does not start; a version added by
// rotation does, and so does a keyring without a retired version.
func TestMasterKeyCheck(t *testing.T) {
	t.Parallel()
	st := openBolt(t)
	a, b, c, d := "v1:"+b64key(1), "v1:"+b64key(2), "v2:"+b64key(3), "v2:"+b64key(4)
	svc, err := newService(st, ringOf(t, a))
	if err != nil {
		t.Fatal(err)
	}
	sendOne(t, svc, "1")
	if _, err := newService(st, ringOf(t, b)); err == nil {
		t.Fatal("started with another key under v1")
	} else {
		wantWrongKey(t, err, "v1")
	}
	if _, err := newService(st, ringOf(t, a+","+c)); err != nil {
		t.Fatalf("rotation (v2 added): %v", err)
	}
	if _, err := newService(st, ringOf(t, a+","+d)); err == nil {
		t.Fatal("started with another key under v2 after v2 was first used")
	} else {
		wantWrongKey(t, err, "v2")
	}
	if _, err := newService(st, ringOf(t, b+","+c)); err == nil {
		t.Fatal("a right active key hid a wrong old one")
	} else {
		wantWrongKey(t, err, "v1")
	}
	if _, err := newService(st, ringOf(t, c)); err != nil {
		t.Fatalf("v1 retired: %v", err)
	}
}

// noChecks hides the key checks, as a store written before they existed.
type noChecks struct{ store.Store }

func (noChecks) GetKeyCheck(context.Context, string) (*store.KeyCheck, error) {
	return nil, fmt.Errorf("hidden: %w", store.ErrNotFound)
}
func (noChecks) PutKeyCheck(context.Context, *store.KeyCheck) error { return nil }

// TestMasterKeyCheckOlderStore: a store with data keys but no check yet
// (written before checks existed) is checked against its data keys, so a
// wrong key is refused instead of being recorded as the right one.
func TestMasterKeyCheckOlderStore(t *testing.T) {
	t.Parallel()
	st := openBolt(t)
	old := noChecks{st}
	svc, err := newService(old, ringOf(t, "v1:"+b64key(1)))
	if err != nil {
		t.Fatal(err)
	}
	sendOne(t, svc, "1")
	if _, err := st.GetKeyCheck(context.Background(), "v1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("set-up: a check was stored: %v", err)
	}
	_, err = newService(st, ringOf(t, "v1:"+b64key(2)))
	wantWrongKey(t, err, "v1")
	if _, err := st.GetKeyCheck(context.Background(), "v1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the wrong key's check was stored: %v", err)
	}
	if _, err := newService(st, ringOf(t, "v1:"+b64key(1))); err != nil {
		t.Fatalf("the right key: %v", err)
	}
	if _, err := st.GetKeyCheck(context.Background(), "v1"); err != nil {
		t.Fatalf("the right key's check was not stored: %v", err)
	}
}

// TestMasterKeyCheckOnRotationAtRunTime: a version added while running
// gets its check when it first wraps a data key.
func TestMasterKeyCheckOnRotationAtRunTime(t *testing.T) {
	t.Parallel()
	st := openBolt(t)
	ring := ringOf(t, "v1:"+b64key(1))
	svc, err := newService(st, ring)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := ring.WithKey("v2", vault.NewDataKey())
	if err != nil {
		t.Fatal(err)
	}
	svc.SetKeyring(rotated)
	if _, err := st.GetKeyCheck(context.Background(), "v2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("v2 checked before use: %v", err)
	}
	sendOne(t, svc, "2")
	c, err := st.GetKeyCheck(context.Background(), "v2")
	if err != nil {
		t.Fatal(err)
	}
	if err := rotated.OpenCheck("v2", c.Sealed); err != nil {
		t.Fatalf("v2's check does not open with v2: %v", err)
	}
	if _, err := newService(st, ringOf(t, "v1:"+b64key(1)+",v2:"+b64key(7))); err == nil {
		t.Fatal("started with another v2 than the one that wrapped data")
	}
}

// TestRewrapRefusesAContradictedKey: two nodes configured with different
// keys under one new label: the second may not re-wrap everything under
// its key once the first one's check is stored.
func TestRewrapRefusesAContradictedKey(t *testing.T) {
	t.Parallel()
	st := openBolt(t)
	v1 := "v1:" + b64key(1)
	first, err := newService(st, ringOf(t, v1))
	if err != nil {
		t.Fatal(err)
	}
	sendOne(t, first, "1")
	second, err := newService(st, ringOf(t, v1))
	if err != nil {
		t.Fatal(err)
	}
	first.SetKeyring(ringOf(t, v1+",v2:"+b64key(3)))
	if rep, err := first.Rewrap(context.Background()); err != nil || rep.Rewrapped == 0 {
		t.Fatalf("first rewrap: %+v %v", rep, err)
	}
	second.SetKeyring(ringOf(t, v1+",v2:"+b64key(4)))
	rep, err := second.Rewrap(context.Background())
	wantWrongKey(t, err, "v2")
	if rep.Rewrapped != 0 {
		t.Fatalf("re-wrapped %d keys under a contradicted key", rep.Rewrapped)
	}
}
