package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func b64key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func mustRing(t *testing.T, spec, active string) *Keyring {
	t.Helper()
	k, err := ParseKeyring(spec, active)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// leaks reports whether s shows any 8-character run of secret.
func leaks(s, secret string) bool {
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+8]) {
			return true
		}
	}
	return false
}

func TestParseKeyring(t *testing.T) {
	raw := strings.TrimRight(b64key(2), "=")
	k := mustRing(t, " v1:"+b64key(1)+" ,\tv2:"+raw+"\n", "")
	if k.Active() != "v2" || strings.Join(k.Versions(), ",") != "v1,v2" || !k.Has("v1") || k.Has("v3") {
		t.Fatalf("active %s, versions %v", k.Active(), k.Versions())
	}
	if k := mustRing(t, "v1:"+b64key(1)+",v2:"+b64key(2), "v1"); k.Active() != "v1" {
		t.Fatalf("explicit active ignored: %s", k.Active())
	}
	k.Versions()[0] = "mutated"
	if k.Versions()[0] != "v1" {
		t.Fatal("Versions exposes internal state")
	}
}

func TestParseKeyringErrorsHideKeys(t *testing.T) {
	secret := base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghijklmnopqrstuv"))
	urlSafe := base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))
	bad := map[string][2]string{
		"empty":               {"", ""},
		"blank":               {" \n ", ""},
		"bare key":            {secret, ""},
		"bad version":         {"x1:" + secret, ""},
		"no version":          {":" + secret, ""},
		"bad base64":          {"v1:!" + secret[1:], ""},
		"url-safe base64":     {"v1:" + urlSafe, ""},
		"short key":           {"v1:" + secret[:20], ""},
		"long key":            {"v1:" + secret + secret, ""},
		"empty key":           {"v1:", ""},
		"duplicate version":   {"v1:" + secret + ",v1:" + b64key(1), ""},
		"trailing comma":      {"v1:" + secret + ",", ""},
		"unknown active":      {"v1:" + secret, "v7"},
		"key given as active": {"v1:" + b64key(1), secret},
	}
	for name, c := range bad {
		_, err := ParseKeyring(c[0], c[1])
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if leaks(err.Error(), secret) || leaks(err.Error(), urlSafe) || leaks(err.Error(), b64key(1)) {
			t.Errorf("%s: error shows key material: %v", name, err)
		}
	}
}

func TestKeyringNeverPrintsKeys(t *testing.T) {
	k := mustRing(t, "v1:"+b64key(1)+",v2:"+b64key(2), "")
	if s := k.String(); s != "keyring{v1,v2*}" {
		t.Fatalf("String() = %q", s)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("t", "ring", k)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("t", "ring", k)
	outs := []string{logs.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, k))
	}
	raw1, raw2 := string(bytes.Repeat([]byte{1}, 8)), string(bytes.Repeat([]byte{2}, 8))
	for _, out := range outs {
		if leaks(out, b64key(1)) || leaks(out, b64key(2)) || strings.Contains(out, raw1) ||
			strings.Contains(out, raw2) || strings.Contains(out, "0101010101") || strings.Contains(out, "[1 1 1") {
			t.Errorf("printed form shows key material: %q", out)
		}
	}
	var nilRing *Keyring
	if s := fmt.Sprint(nilRing); s != "keyring(nil)" {
		t.Errorf("nil keyring prints %q", s)
	}
}

func TestWrapUnwrap(t *testing.T) {
	k := mustRing(t, "v1:"+b64key(1), "")
	dek := NewDataKey()
	v, w, err := k.Wrap(dek, "!conv")
	if err != nil || v != "v1" {
		t.Fatal(v, err)
	}
	if got, err := k.Unwrap(v, w, "!conv"); err != nil || !bytes.Equal(got, dek) {
		t.Fatal("unwrap:", err)
	}
	other := mustRing(t, "v1:"+b64key(9), "")
	bad := map[string]error{
		"wrong owner":      unwrapErr(k, "v1", w, "!other"),
		"owner prefix":     unwrapErr(k, "v1", w, "!con"),
		"other ring":       unwrapErr(other, "v1", w, "!conv"),
		"flipped byte":     unwrapErr(k, "v1", flip(w, len(w)/2), "!conv"),
		"truncated":        unwrapErr(k, "v1", w[:len(w)-1], "!conv"),
		"empty":            unwrapErr(k, "v1", nil, "!conv"),
		"unknown version":  unwrapErr(k, "v2", w, "!conv"),
		"key as a version": unwrapErr(k, b64key(1), w, "!conv"),
	}
	for name, err := range bad {
		want := ErrDecrypt
		if strings.Contains(name, "version") {
			want = ErrUnknownKeyVersion
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		} else if leaks(err.Error(), b64key(1)) {
			t.Errorf("%s: error shows key material: %v", name, err)
		}
	}
	if _, _, err := k.Wrap(dek[:31], "!conv"); err == nil {
		t.Error("short data key wrapped")
	}
	if _, _, err := new(Keyring).Wrap(dek, "!conv"); err == nil {
		t.Error("empty keyring wrapped a key")
	}
}

func unwrapErr(k *Keyring, version string, wrapped []byte, owner string) error {
	_, err := k.Unwrap(version, wrapped, owner)
	return err
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 1
	return b
}

func TestRotation(t *testing.T) {
	k1 := mustRing(t, "v1:"+b64key(1), "")
	dek := NewDataKey()
	_, w1, _ := k1.Wrap(dek, "!c")
	newKey := NewDataKey()
	k2, err := k1.WithKey("v2", newKey)
	if err != nil || k2.Active() != "v2" || strings.Join(k2.Versions(), ",") != "v1,v2" {
		t.Fatalf("WithKey: %v %v", k2, err)
	}
	newKey[0] ^= 0xff // the ring must hold its own copy
	if k1.Active() != "v1" || k1.Has("v2") {
		t.Fatal("WithKey changed the original ring")
	}
	v, w2, _ := k2.Wrap(dek, "!c")
	if v != "v2" {
		t.Fatalf("new active not used: %s", v)
	}
	if got, err := k2.Unwrap("v1", w1, "!c"); err != nil || !bytes.Equal(got, dek) {
		t.Fatal("old version no longer unwraps:", err)
	}
	if _, err := k2.Without("v2"); err == nil {
		t.Fatal("dropped the active key")
	}
	if _, err := k2.Without("v9"); err == nil {
		t.Fatal("dropped a missing key")
	}
	k3, err := k2.Without("v1")
	if err != nil || strings.Join(k3.Versions(), ",") != "v2" || k3.Active() != "v2" {
		t.Fatalf("Without: %v %v", k3, err)
	}
	if !k2.Has("v1") {
		t.Fatal("Without changed the original ring")
	}
	if _, err := k3.Unwrap("v1", w1, "!c"); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("retired version still unwraps: %v", err)
	}
	if got, err := k3.Unwrap("v2", w2, "!c"); err != nil || !bytes.Equal(got, dek) {
		t.Fatal("rewrapped key lost:", err)
	}
	for name, err := range map[string]error{
		"duplicate version": withKeyErr(k2, "v1", NewDataKey()),
		"bad version":       withKeyErr(k2, "three", NewDataKey()),
		"key as version":    withKeyErr(k2, b64key(3), NewDataKey()),
		"short key":         withKeyErr(k2, "v3", dek[:5]),
		"no key":            withKeyErr(k2, "v3", nil),
	} {
		if err == nil {
			t.Errorf("WithKey %s: accepted", name)
		} else if leaks(err.Error(), b64key(3)) {
			t.Errorf("WithKey %s: error shows key material: %v", name, err)
		}
	}
}

func withKeyErr(k *Keyring, version string, key []byte) error {
	_, err := k.WithKey(version, key)
	return err
}

func TestLoadOrCreateKeyring(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k, created, err := LoadOrCreateKeyring(dir)
	if err != nil || !created || k.Active() != "v1" {
		t.Fatal(k, created, err)
	}
	path := filepath.Join(dir, keyFileName)
	assertMode(t, path, 0o600)
	assertMode(t, dir, 0o700)
	k2, created, err := LoadOrCreateKeyring(dir)
	if err != nil || created || k2.Spec() != k.Spec() || k2.Active() != k.Active() {
		t.Fatal("reload differs:", err, created)
	}
	// Rotation written back is read back, including a non-last active.
	k3, _ := k.WithKey("v2", NewDataKey())
	k3 = mustRing(t, k3.Spec(), "v1")
	if err := k3.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o600)
	k4, _, err := LoadOrCreateKeyring(dir)
	if err != nil || k4.Spec() != k3.Spec() || k4.Active() != "v1" {
		t.Fatal("rewritten keyring differs:", err, k4)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateKeyring(dir); err == nil {
			t.Errorf("key file with mode %04o accepted", mode)
		}
	}
}

func TestLoadOrCreateKeyringHandWritten(t *testing.T) {
	spec := "v1:" + b64key(1) + ",v2:" + b64key(2)
	files := map[string]string{
		"plain spec":            spec,
		"comments and blanks":   "# master keys\n\n" + spec + "\n\n# end\n",
		"active line, CRLF":     spec + "\r\nactive=v1\r\n",
		"active line before it": "active=v1\n" + spec,
	}
	for name, body := range files {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, keyFileName), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		k, created, err := LoadOrCreateKeyring(dir)
		if err != nil || created || k.Spec() != spec {
			t.Errorf("%s: %v %v %v", name, k, created, err)
		}
	}
	bad := map[string]string{
		"empty":         "",
		"comment only":  "# nothing\n",
		"two key lines": "v1:" + b64key(1) + "\nv2:" + b64key(2) + "\n",
		"two actives":   spec + "\nactive=v1\nactive=v2\n",
		"bad key":       "v1:" + b64key(1)[:30] + "\n",
		"unknown activ": spec + "\nactive=v9\n",
	}
	for name, body := range bad {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, keyFileName), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, created, err := LoadOrCreateKeyring(dir)
		switch {
		case err == nil || created:
			t.Errorf("%s: accepted (created=%v)", name, created)
		case leaks(err.Error(), b64key(1)) || leaks(err.Error(), b64key(2)):
			t.Errorf("%s: error shows key material: %v", name, err)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, keyFileName), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeyring(dir); err == nil {
		t.Error("a directory as key file accepted")
	}
}

// TestLoadOrCreateKeyringConcurrent checks that processes starting at once
// on an empty data dir end up with one key, not one each.
func TestLoadOrCreateKeyringConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	specs, createdN := make([]string, n), make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, created, err := LoadOrCreateKeyring(dir)
			if err != nil {
				t.Error(err)
				return
			}
			specs[i], createdN[i] = k.Spec(), created
		})
	}
	wg.Wait()
	count := 0
	for i := range n {
		if specs[i] != specs[0] {
			t.Fatalf("callers got different keys")
		}
		if createdN[i] {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d callers report creating the key file, want 1", count)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left %d files in the dir, want only %s", len(entries), keyFileName)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != want {
		t.Fatalf("%s has mode %04o, want %04o", path, st.Mode().Perm(), want)
	}
}
