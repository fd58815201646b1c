package federation

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/vault"
)

// keyPeer serves a.example's key document and counts fetches.
type keyPeer struct {
	mu      sync.Mutex
	keys    *vault.SigningKeys
	signer  *vault.SigningKey // nil: the active key signs
	valid   time.Duration
	fetches atomic.Int32
	now     time.Time
	f       *KeyFetcher
}

func newKeyPeer(t *testing.T) *keyPeer {
	t.Helper()
	p := &keyPeer{keys: vault.NewSigningKeys(newKey(t, "k1")), valid: 24 * time.Hour, now: time.UnixMilli(1_800_000_000_000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		defer p.mu.Unlock()
		doc, err := BuildServerKeys("a.example", p.keys, p.now, p.valid)
		if err != nil {
			t.Error(err)
		}
		if p.signer != nil {
			doc, _ = SignJSON([]byte(`{"server_name":"a.example","valid_until_ts":1,"verify_keys":{"`+p.keys.Active().ID()+
				`":{"key":"`+p.keys.Active().PublicBase64()+`"}}}`), "a.example", p.signer)
		}
		_, _ = w.Write(doc)
	}))
	t.Cleanup(srv.Close)
	c := NewClient("b.example", vault.NewSigningKeys(newKey(t, "b")), &Resolver{Static: map[string]string{"a.example": srv.URL}})
	p.f = &KeyFetcher{Client: c, Now: func() time.Time { p.mu.Lock(); defer p.mu.Unlock(); return p.now }}
	return p
}

func (p *keyPeer) advance(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = p.now.Add(d)
}

func TestKeyFetcherCachesAndRefetches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newKeyPeer(t)
	k1 := p.keys.Active()
	got, err := p.f.VerifyKey(ctx, "a.example", k1.ID())
	if err != nil || !got.Key.Equal(k1.Public()) || got.ValidUntilTS != p.now.Add(24*time.Hour).UnixMilli() {
		t.Fatalf("key %+v %v", got, err)
	}
	if _, err := p.f.VerifyKey(ctx, "a.example", k1.ID()); err != nil || p.fetches.Load() != 1 {
		t.Fatalf("not cached: %d fetches", p.fetches.Load())
	}
	// An unknown key id refetches at once, but only the first lookup of
	// it in a window; a few new ids each may, then none until the window
	// ends.
	for range 3 {
		if _, err := p.f.VerifyKey(ctx, "a.example", "ed25519:nope"); !errors.Is(err, ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	if n := p.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches after 3 lookups of one unknown key, want 2", n)
	}
	for i := range 2 * maxNewKeyFetches {
		_, _ = p.f.VerifyKey(ctx, "a.example", fmt.Sprintf("ed25519:random%d", i))
	}
	if n := p.fetches.Load(); n != maxNewKeyFetches { // the window's key ids: k1, nope and the first random ones
		t.Fatalf("%d fetches after many random key ids, want %d", n, maxNewKeyFetches)
	}
	p.advance(MinKeyRefetch)
	for range 5 {
		if _, err := p.f.VerifyKey(ctx, "a.example", "ed25519:nope"); !errors.Is(err, ErrUnknownKey) {
			t.Fatal(err)
		}
	}
	if n := p.fetches.Load(); n != 1+maxNewKeyFetches {
		t.Fatalf("%d fetches after the window, want %d", n, 1+maxNewKeyFetches)
	}

	// Rotation: the new key is found by refetch at once (the document was
	// fetched moments ago); the old one stays, for events stamped before
	// its expired_ts.
	k2 := newKey(t, "k2")
	p.mu.Lock()
	rotatedAt := p.now
	p.keys, _ = p.keys.Rotate(k2, rotatedAt)
	p.mu.Unlock()
	if got, err := p.f.VerifyKey(ctx, "a.example", k2.ID()); err != nil || !got.Key.Equal(k2.Public()) {
		t.Fatalf("rotated key: %v", err)
	}
	old, err := p.f.VerifyKey(ctx, "a.example", k1.ID())
	if err != nil || old.ExpiredTS != rotatedAt.UnixMilli() || !old.validAt(rotatedAt.UnixMilli()-1) || old.validAt(rotatedAt.UnixMilli()) {
		t.Fatalf("old key %+v %v", old, err)
	}

	// valid_until_ts over 7 days is capped; past the bound, a refetch.
	p.mu.Lock()
	p.valid = 30 * 24 * time.Hour
	p.mu.Unlock()
	p.advance(25 * time.Hour)
	before := p.fetches.Load()
	got, err = p.f.VerifyKey(ctx, "a.example", k2.ID())
	if err != nil || p.fetches.Load() != before+1 {
		t.Fatalf("stale document not refetched: %v", err)
	}
	if want := p.f.now().Add(MaxKeyCache).UnixMilli(); got.ValidUntilTS != want {
		t.Fatalf("ValidUntilTS %d, want the 7-day cap %d", got.ValidUntilTS, want)
	}
}

func TestKeyFetcherRefusesBadDocuments(t *testing.T) {
	t.Parallel()
	p := newKeyPeer(t)
	p.signer = newKey(t, "k1") // same id, another key: the self-signature fails
	if _, err := p.f.VerifyKey(context.Background(), "a.example", p.keys.Active().ID()); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("forged key document accepted: %v", err)
	}
	// A server that cannot be reached has no keys.
	if _, err := p.f.VerifyKey(context.Background(), "127.0.0.1:1", "ed25519:x"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unreachable server: %v", err)
	}
}

func TestKeyFetcherConcurrentShareOneFetch(t *testing.T) {
	t.Parallel()
	p := newKeyPeer(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.f.VerifyKey(context.Background(), "a.example", p.keys.Active().ID()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 20 concurrent lookups", n)
	}
}
