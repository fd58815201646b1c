package chat_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

// newAccounts is a service with the given options and limiter (nil: none)
// and one user, alice, whose password is "alice's password".
func newAccounts(t *testing.T, opts chat.Options, lim pubsub.Limiter) *chat.Service {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := vault.ParseKeyring("v1:"+b64key(1), "")
	if err != nil {
		t.Fatal(err)
	}
	opts.ServerName = "x"
	svc, err := chat.New(context.Background(), opts, chat.Deps{Store: st, Bus: local.New(), Keyring: ring, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Register(context.Background(), chat.Credentials{Username: "alice", Email: "alice@x.org", Password: "alice's password"}); err != nil {
		t.Fatal(err)
	}
	return svc
}

func wantCode(t *testing.T, err error, status int) {
	t.Helper()
	var e *chat.Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("got %v, want a %d", err, status)
	}
}

// TestLoginTimingHidesUnknownUsers: a login for a name nobody has costs as
// much as a wrong password for a real account. The dummy hash used to have
// bcrypt's minimum cost (4) against the configured one, 8 times cheaper at
// cost 7 (kept low so the test stays fast under -race). Medians of
// interleaved samples keep a busy machine from deciding; the bound is a
// factor of 2 either way, far from 8.
func TestLoginTimingHidesUnknownUsers(t *testing.T) {
	t.Parallel()
	svc := newAccounts(t, chat.Options{BcryptCost: 7}, nil)
	ctx := context.Background()
	login := func(name string) time.Duration {
		start := time.Now()
		_, _, err := svc.Login(ctx, chat.Credentials{Username: name, Password: "wrong password", ClientIP: "192.0.2.1"})
		d := time.Since(start)
		wantCode(t, err, 401)
		return d
	}
	login("nobody") // the first unknown name computes the dummy hash
	const samples = 5
	var known, unknown []time.Duration
	for range samples {
		known = append(known, login("alice"))
		unknown = append(unknown, login("nobody"))
	}
	median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
	k, u := median(known), median(unknown)
	ratio := float64(u) / float64(k)
	t.Logf("median login: known user %s, unknown user %s (ratio %.2f)", k, u, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown user %s vs known user %s: ratio %.2f, want within 0.5..2", u, k, ratio)
	}
}

// TestLoginStrangerCannotLockOwnerOut: failures count per (account, IP),
// so ten wrong passwords from one address block that address for that
// account only.
func TestLoginStrangerCannotLockOwnerOut(t *testing.T) {
	t.Parallel()
	svc := newAccounts(t, chat.Options{BcryptCost: 4, LoginPerIP: 30, LoginPerUser: 10, LoginWindow: 15 * time.Minute}, local.NewLimiter(nil))
	ctx := context.Background()
	try := func(ip, password string) error {
		_, _, err := svc.Login(ctx, chat.Credentials{Username: "alice", Password: password, ClientIP: ip})
		return err
	}
	for range 10 {
		wantCode(t, try("198.51.100.66", "guess"), 401)
	}
	wantCode(t, try("198.51.100.66", "guess"), 429)
	wantCode(t, try("198.51.100.66", "alice's password"), 429) // the stranger's address stays blocked
	if err := try("192.0.2.10", "alice's password"); err != nil {
		t.Fatalf("owner from her own address after a stranger's guesses: %v", err)
	}
	// Successes cost nothing against the failure budget.
	for range 12 {
		if err := try("192.0.2.10", "alice's password"); err != nil {
			t.Fatalf("owner's repeated logins: %v", err)
		}
	}
	wantCode(t, try("192.0.2.10", "typo"), 401)
	if err := try("192.0.2.10", "alice's password"); err != nil {
		t.Fatalf("owner after one typo: %v", err)
	}
}

// failingLimiter is a limiter whose backend is down for good.
type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	return false, 0, errors.New("backend down")
}

func (failingLimiter) Check(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	return false, 0, errors.New("backend down")
}

// TestLimiterErrorRefuses: a limiter that reports an error refuses the
// request (503) instead of letting it through unlimited.
func TestLimiterErrorRefuses(t *testing.T) {
	t.Parallel()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, _ := vault.ParseKeyring("v1:"+b64key(1), "")
	down, err := chat.New(context.Background(), chat.Options{ServerName: "x", BcryptCost: 4, LoginPerIP: 30, LoginWindow: time.Minute}, chat.Deps{Store: st, Bus: local.New(), Keyring: ring, Limiter: failingLimiter{}})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = down.Login(context.Background(), chat.Credentials{Username: "alice", Password: "whatever", ClientIP: "192.0.2.1"})
	wantCode(t, err, 503)
}

// TestUsernameOneRule: names that registration refuses reach no account
// through login or a user id, even where Unicode case folding would map
// them onto an ASCII name (U+0130 'İ' -> 'i', U+212A KELVIN SIGN -> 'k').
func TestUsernameOneRule(t *testing.T) {
	t.Parallel()
	svc := newAccounts(t, chat.Options{BcryptCost: 4}, nil)
	ctx := context.Background()
	_, tok, err := svc.Register(ctx, chat.Credentials{Username: "kate", Email: "kate@x.org", Password: "kate's password"})
	if err != nil {
		t.Fatal(err)
	}
	kate, err := svc.Authenticate(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ALİCE", "alİce", "\u212Aate", "\u212AATE"} {
		_, _, err := svc.Register(ctx, chat.Credentials{Username: name, Email: "other@x.org", Password: "long enough"})
		wantCode(t, err, 400)
		_, _, err = svc.Login(ctx, chat.Credentials{Username: name, Password: "alice's password"})
		wantCode(t, err, 401)
		_, _, err = svc.Login(ctx, chat.Credentials{Username: name, Password: "kate's password"})
		wantCode(t, err, 401)
		_, err = svc.ResolveUser(ctx, "@"+name+":x")
		wantCode(t, err, 404)
		_, err = svc.Send(ctx, kate, chat.SendRequest{To: "@" + name + ":x", Text: "hi"})
		wantCode(t, err, 404)
		_, err = svc.ResolveAnyUser(ctx, name)
		wantCode(t, err, 404)
	}
	// ASCII case still folds, everywhere alike.
	if _, _, err := svc.Login(ctx, chat.Credentials{Username: "ALICE", Password: "alice's password"}); err != nil {
		t.Fatalf("login ALICE: %v", err)
	}
	if _, err := svc.Send(ctx, kate, chat.SendRequest{To: "@ALICE:x", Text: "hi"}); err != nil {
		t.Fatalf("send to @ALICE:x: %v", err)
	}
}
