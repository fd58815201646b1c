package chat_test

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

func wantStatus(t *testing.T, err error, status int, what string) {
	t.Helper()
	if err == nil || chat.AsError(err).Status != status {
		t.Fatalf("%s: got %v, want status %d", what, err, status)
	}
}

func login(t *testing.T, e *env, name string, c chat.Credentials) *chat.LoginResult {
	t.Helper()
	c.Username, c.Password = name, "long enough"
	r, err := e.svc.LoginDevice(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func authed(t *testing.T, e *env, tok string) *chat.Principal {
	t.Helper()
	p, err := e.svc.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// revokedTokens records the token hashes this node is told to revoke.
func revokedTokens(e *env) func() []string {
	var mu sync.Mutex
	var got []string
	e.svc.OnControl(func(c chat.Control) {
		if c.Kind == chat.ControlRevokeToken {
			mu.Lock()
			got = append(got, c.TokenHash)
			mu.Unlock()
		}
	})
	// A node applies its own control event at once and again when the bus
	// brings it back: count each token once.
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := append([]string(nil), got...)
		slices.Sort(out)
		return slices.Compact(out)
	}
}

func TestDevicesLoginOpensADevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := login(t, e, "alice", chat.Credentials{ClientIP: "192.0.2.1", UserAgent: "curl/8"})
	if !regexp.MustCompile(`^[A-Z]{10}$`).MatchString(r.DeviceID) {
		t.Fatalf("generated device id %q, want ten upper-case letters", r.DeviceID)
	}
	p := authed(t, e, r.Token)
	if p.DeviceID != r.DeviceID {
		t.Fatalf("Principal.DeviceID = %q, want %q", p.DeviceID, r.DeviceID)
	}
	ds, err := e.svc.ListDevices(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// The registration opened the first device.
	if len(ds) != 2 {
		t.Fatalf("devices = %+v, want the registration's and this login's", ds)
	}
	if ds[1].DeviceID != r.DeviceID {
		ds[0], ds[1] = ds[1], ds[0]
	}
	d := ds[1]
	if d.DeviceID != r.DeviceID || !d.Current || ds[0].Current || d.LastIP != "192.0.2.1" || d.UserAgent != "curl/8" || !d.LastSeenAt.Equal(e.clk.Now()) {
		t.Fatalf("device = %+v", d)
	}
	again := login(t, e, "alice", chat.Credentials{})
	if again.DeviceID == r.DeviceID {
		t.Fatal("two logins without a device id share one device")
	}
}

func TestDevicesReloginReplacesTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	revoked := revokedTokens(e)
	first := login(t, e, "alice", chat.Credentials{DeviceID: "PHONE", DisplayName: "Alice's phone"})
	if first.DeviceID != "PHONE" {
		t.Fatalf("device id %q, want the one asked for", first.DeviceID)
	}
	second := login(t, e, "alice", chat.Credentials{DeviceID: "PHONE"})
	if _, err := e.svc.Authenticate(ctx, first.Token); err == nil {
		t.Fatal("the replaced token still works")
	}
	if got := revoked(); len(got) != 1 || got[0] != chat.HashToken(first.Token) {
		t.Fatalf("revoked %v, want the first token's hash (its sockets close)", got)
	}
	p := authed(t, e, second.Token)
	d, err := e.svc.GetDevice(ctx, p, "PHONE")
	if err != nil || d.DisplayName != "Alice's phone" {
		t.Fatalf("device after re-login = %+v, %v (the name stays)", d, err)
	}
	ds, _ := e.svc.ListDevices(ctx, p)
	n := 0
	for _, x := range ds {
		if x.DeviceID == "PHONE" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("PHONE listed %d times: %+v", n, ds)
	}
	// Bob may use the same id: devices are per user.
	bob := login(t, e, "bob", chat.Credentials{DeviceID: "PHONE"})
	if _, err := e.svc.Authenticate(ctx, second.Token); err != nil {
		t.Fatal("bob's login of a device named like alice's ended alice's:", err)
	}
	authed(t, e, bob.Token)
}

func TestDevicesBadLoginInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range []chat.Credentials{
		{DeviceID: "has space"},
		{DeviceID: strings.Repeat("A", 65)},
		{DeviceID: "tab\there"},
		{DeviceID: "ünï"},
		{DisplayName: strings.Repeat("x", 101)},
		{DisplayName: "bad \xff utf-8"},
		{DisplayName: "line\nbreak"},
	} {
		c.Username, c.Password = "alice", "long enough"
		_, err := e.svc.LoginDevice(context.Background(), c)
		wantStatus(t, err, 400, "login with "+c.DeviceID+c.DisplayName)
	}
	login(t, e, "alice", chat.Credentials{DeviceID: strings.Repeat("A", 64), DisplayName: strings.Repeat("é", 100)})
}

func TestDevicesRenameAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var hooked []chat.DeletedDevices
	var mu sync.Mutex
	e.svc.OnDeviceDeleted(func(_ context.Context, d chat.DeletedDevices) error {
		mu.Lock()
		hooked = append(hooked, d)
		mu.Unlock()
		return errors.New("a failing hook does not undo the deletion")
	})
	revoked := revokedTokens(e)
	laptop := login(t, e, "alice", chat.Credentials{DeviceID: "LAPTOP"})
	phone := login(t, e, "alice", chat.Credentials{DeviceID: "PHONE"})
	bob := login(t, e, "bob", chat.Credentials{DeviceID: "BOBDEV"})
	p := authed(t, e, laptop.Token)

	d, err := e.svc.RenameDevice(ctx, p, "PHONE", "Pixel — 8 📱")
	if err != nil || d.DisplayName != "Pixel — 8 📱" || d.Current {
		t.Fatalf("rename = %+v, %v", d, err)
	}
	for name, c := range map[string]struct {
		id, name string
		status   int
	}{
		"another user's device": {"BOBDEV", "x", 404},
		"unknown device":        {"NOPE", "x", 404},
		"empty device id":       {"", "x", 404},
		"101 characters":        {"PHONE", strings.Repeat("a", 101), 400},
		"invalid UTF-8":         {"PHONE", "\xc3\x28", 400},
		"a control character":   {"PHONE", "a\x00b", 400},
	} {
		_, err := e.svc.RenameDevice(ctx, p, c.id, c.name)
		wantStatus(t, err, c.status, name)
	}
	if d, _ := e.svc.GetDevice(ctx, p, "PHONE"); d.DisplayName != "Pixel — 8 📱" {
		t.Fatalf("a refused rename changed the name to %q", d.DisplayName)
	}

	wantStatus(t, e.svc.DeleteDevice(ctx, p, "BOBDEV"), 404, "deleting another user's device")
	authed(t, e, bob.Token)
	wantStatus(t, e.svc.DeleteDevice(ctx, p, ""), 404, "deleting an empty device id")
	if err := e.svc.DeleteDevice(ctx, p, "PHONE"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, phone.Token); err == nil {
		t.Fatal("the deleted device's token still works")
	}
	if got := revoked(); len(got) != 1 || got[0] != chat.HashToken(phone.Token) {
		t.Fatalf("revoked %v, want the phone's token (its sockets close on every node)", got)
	}
	mu.Lock()
	if len(hooked) != 1 || hooked[0].UserID != "@alice:x" || hooked[0].AccountID != p.User.ID || len(hooked[0].DeviceIDs) != 1 || hooked[0].DeviceIDs[0] != "PHONE" {
		t.Fatalf("hook calls = %+v", hooked)
	}
	mu.Unlock()
	wantStatus(t, e.svc.DeleteDevice(ctx, p, "PHONE"), 404, "deleting a deleted device")
	_, err = e.svc.GetDevice(ctx, p, "PHONE")
	wantStatus(t, err, 404, "getting a deleted device")

	// Logout deletes the caller's device and runs the hook too.
	if err := e.svc.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(hooked) != 2 || hooked[1].DeviceIDs[0] != "LAPTOP" {
		t.Fatalf("after logout, hook calls = %+v", hooked)
	}
	mu.Unlock()
	bp := authed(t, e, bob.Token)
	if ds, _ := e.svc.ListDevices(ctx, bp); len(ds) != 2 {
		t.Fatalf("bob's devices = %+v", ds)
	}
	// Revoking a user deletes every device of theirs.
	if _, err := e.svc.RevokeUser(ctx, bp.User.ID); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked) != 3 || hooked[2].UserID != "@bob:x" || len(hooked[2].DeviceIDs) != 2 {
		t.Fatalf("after RevokeUser, hook calls = %+v", hooked)
	}
}

// A token issued before devices existed keeps the device id Matrix showed.
func TestDevicesLegacySession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	alice := e.users["alice"]
	tok := "an-old-token-from-before-devices"
	h := chat.HashToken(tok)
	now := e.clk.Now()
	if err := e.st.PutSession(ctx, &store.Session{TokenHash: h, UserID: alice.User.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	p := authed(t, e, tok)
	want := "CT" + strings.ToUpper(h[:10])
	if p.DeviceID != want {
		t.Fatalf("legacy device id %q, want %q", p.DeviceID, want)
	}
	if err := e.svc.DeleteDevice(ctx, alice, want); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, tok); err == nil {
		t.Fatal("the legacy device's token survived its deletion")
	}
}

// countingStore counts activity writes and can make them fail.
type countingStore struct {
	store.Store
	touches atomic.Int64
	fail    atomic.Bool
}

func (c *countingStore) TouchSession(ctx context.Context, h string, at time.Time, ip, ua string) error {
	c.touches.Add(1)
	if c.fail.Load() {
		return store.ErrUnavailable
	}
	return c.Store.TouchSession(ctx, h, at, ip, ua)
}

func TestDevicesLastSeenIsWrittenRarely(t *testing.T) {
	t.Parallel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := &countingStore{Store: st}
	ring, err := vault.ParseKeyring("v1:"+b64key(1), "")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	svc, err := chat.New(context.Background(), chat.Options{ServerName: "x", BcryptCost: 4}, chat.Deps{Store: cs, Bus: local.New(), Keyring: ring, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, tok, err := svc.Register(ctx, chat.Credentials{Username: "alice", Email: "a@x.org", Password: "long enough", ClientIP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	from := chat.Client{IP: "198.51.100.9", UserAgent: "Element"}
	for range 50 {
		if _, err := svc.AuthenticateFrom(ctx, tok, from); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.touches.Load(); n != 0 {
		t.Fatalf("%d activity writes right after login, want 0 (login recorded it)", n)
	}
	clk.Advance(4 * time.Minute)
	p, _ := svc.AuthenticateFrom(ctx, tok, from)
	if cs.touches.Load() != 0 {
		t.Fatal("activity written before five minutes passed")
	}
	clk.Advance(time.Minute)
	for range 20 {
		p, err = svc.AuthenticateFrom(ctx, tok, from)
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.touches.Load(); n != 1 {
		t.Fatalf("%d activity writes after five minutes, want 1", n)
	}
	ds, err := svc.ListDevices(ctx, p)
	if err != nil || len(ds) != 1 || ds[0].LastIP != "198.51.100.9" || ds[0].UserAgent != "Element" || !ds[0].LastSeenAt.Equal(clk.Now()) {
		t.Fatalf("devices = %+v, %v", ds, err)
	}
	// A failing write costs the request nothing, and is not retried on
	// every request either.
	cs.fail.Store(true)
	clk.Advance(6 * time.Minute)
	for range 5 {
		if _, err := svc.AuthenticateFrom(ctx, tok, from); err != nil {
			t.Fatal("a failed activity write failed the request:", err)
		}
	}
	if n := cs.touches.Load(); n != 2 {
		t.Fatalf("%d activity writes, want 2", n)
	}
}
