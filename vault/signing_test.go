package vault

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// matrixSeed is the seed of the Matrix specification's cryptographic test
// vectors (appendices, "Signing Key").
const matrixSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

func TestSigningKeyFromSeed(t *testing.T) {
	t.Parallel()
	seed, _ := base64.RawStdEncoding.DecodeString(matrixSeed)
	k, err := SigningKeyFromSeed("ed25519:1", seed)
	if err != nil {
		t.Fatal(err)
	}
	// The Matrix vector: signing {} as "domain" with ed25519:1.
	sig := base64.RawStdEncoding.EncodeToString(k.Sign([]byte("{}")))
	if want := "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"; sig != want {
		t.Fatalf("signature of {} = %s, want the spec's %s", sig, want)
	}
	if !ed25519.Verify(k.Public(), []byte("{}"), k.Sign([]byte("{}"))) {
		t.Fatal("does not verify")
	}
	for _, bad := range []string{"1", "rsa:1", "ed25519:", "ed25519:a b", "ed25519:" + strings.Repeat("a", 65)} {
		if _, err := SigningKeyFromSeed(bad, seed); err == nil {
			t.Errorf("key id %q accepted", bad)
		}
	}
	if _, err := SigningKeyFromSeed("ed25519:1", seed[:31]); err == nil {
		t.Error("short seed accepted")
	}
}

func TestSigningKeyRedacted(t *testing.T) {
	t.Parallel()
	k, err := GenerateSigningKey("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.ID(), "ed25519:ct") {
		t.Fatalf("generated id %q", k.ID())
	}
	seed := base64.RawStdEncoding.EncodeToString(k.priv.Seed())
	set := NewSigningKeys(k)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%#v %+v %x", k, k, k), fmt.Sprintf("%#v %v", set, set)} {
		if strings.Contains(s, seed) || strings.Contains(s, fmt.Sprintf("%x", []byte(k.priv))) || !strings.Contains(s, k.ID()) {
			t.Fatalf("printed form leaks or hides the id: %s", s)
		}
	}
}

func TestSigningKeysTextRoundTrip(t *testing.T) {
	t.Parallel()
	a, _ := GenerateSigningKey("a1")
	b, _ := GenerateSigningKey("b2")
	set, err := NewSigningKeys(a).Rotate(b, time.UnixMilli(1_700_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := set.Rotate(a, time.Now()); err == nil {
		t.Fatal("re-used key name accepted on rotate")
	}
	got, err := ParseSigningKeys(set.Text())
	if err != nil {
		t.Fatal(err)
	}
	if got.Active().ID() != "ed25519:b2" || string(got.Active().Public()) != string(b.Public()) {
		t.Fatalf("active = %v", got.Active())
	}
	old := got.Old()
	if len(old) != 1 || old[0].ID != "ed25519:a1" || string(old[0].Public) != string(a.Public()) || old[0].ExpiredTS != 1_700_000_000_000 {
		t.Fatalf("old = %+v", old)
	}
	// The active line alone is Synapse's signing.key format.
	seed := base64.RawStdEncoding.EncodeToString(a.priv.Seed())
	if s, err := ParseSigningKeys("ed25519 a1 " + seed + "\n"); err != nil || s.Active().ID() != "ed25519:a1" {
		t.Fatalf("synapse format: %v %v", s, err)
	}
}

func TestParseSigningKeysRefuses(t *testing.T) {
	t.Parallel()
	a, _ := GenerateSigningKey("a1")
	seed := base64.RawStdEncoding.EncodeToString(a.priv.Seed())
	pub := a.PublicBase64()
	bad := map[string]string{
		"empty":           "",
		"comment only":    "# nothing\n",
		"two active":      "ed25519 a1 " + seed + "\ned25519 a2 " + seed,
		"short seed":      "ed25519 a1 " + seed[:20],
		"not base64":      "ed25519 a1 !!!!" + seed[4:],
		"bad name":        "ed25519 a.1 " + seed,
		"old bad ts":      "ed25519 a1 " + seed + "\nold ed25519:z " + pub + " yesterday",
		"old no prefix":   "ed25519 a1 " + seed + "\nold z " + pub + " 5",
		"old repeated":    "ed25519 a1 " + seed + "\nold ed25519:z " + pub + " 5\nold ed25519:z " + pub + " 6",
		"active also old": "ed25519 a1 " + seed + "\nold ed25519:a1 " + pub + " 5",
		"garbage":         "hello",
	}
	for name, text := range bad {
		_, err := ParseSigningKeys(text)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), seed[:16]) {
			t.Errorf("%s: error shows the seed: %v", name, err)
		}
	}
}

func TestLoadOrCreateSigningKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	first, created, err := LoadOrCreateSigningKeys(dir)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	path := filepath.Join(dir, "signing.key")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	again, created, err := LoadOrCreateSigningKeys(dir)
	if err != nil || created || again.Active().ID() != first.Active().ID() || string(again.Active().Public()) != string(first.Active().Public()) {
		t.Fatalf("second start: %v created=%v err=%v", again, created, err)
	}
	// Rotation persists the old key for old_verify_keys.
	next, _ := GenerateSigningKey("")
	rotated, err := again.Rotate(next, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := rotated.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadSigningKeysFile(path)
	if err != nil || loaded.Active().ID() != next.ID() || len(loaded.Old()) != 1 || loaded.Old()[0].ID != first.Active().ID() {
		t.Fatalf("after rotate: %v %v", loaded, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSigningKeys(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
	if err := os.Chmod(path, 0o460); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSigningKeys(dir); err == nil {
		t.Fatal("a key file its group may write was accepted")
	}
	// A Kubernetes Secret volume for a non-root pod: root:fsGroup 0440.
	if err := os.Chmod(path, 0o440); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigningKeysFile(path); err != nil {
		t.Fatalf("group-readable key file (a Secret volume) refused: %v", err)
	}
}

// TestLoadOrCreateSigningKeysRace: nodes starting at once on one data dir
// end with one key, not one each.
func TestLoadOrCreateSigningKeysRace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, _, err := LoadOrCreateSigningKeys(dir)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.Active().ID()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("different keys: %v", ids)
		}
	}
}
