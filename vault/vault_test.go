package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	dek := NewDataKey()
	ad := MessageAD("!c", 7, "@a:x")
	sealed, err := Seal(dek, []byte("hello"), ad)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(dek, sealed, ad)
	if err != nil || string(got) != "hello" {
		t.Fatalf("open: %q %v", got, err)
	}
	if bytes.Contains(sealed, []byte("hello")) {
		t.Fatal("plaintext visible in sealed form")
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := Open(dek, bad, ad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	cases := map[string]struct {
		key, sealed, ad []byte
	}{
		"other seq":    {dek, sealed, MessageAD("!c", 8, "@a:x")},
		"other conv":   {dek, sealed, MessageAD("!d", 7, "@a:x")},
		"other sender": {dek, sealed, MessageAD("!c", 7, "@b:x")},
		"other key":    {NewDataKey(), sealed, ad},
		"truncated":    {dek, sealed[:len(sealed)-1], ad},
		"empty":        {dek, nil, ad},
		"short key":    {dek[:16], sealed, ad},
	}
	for name, c := range cases {
		if _, err := Open(c.key, c.sealed, c.ad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: got %v, want ErrDecrypt", name, err)
		}
	}
}

func TestMessageADUnambiguous(t *testing.T) {
	if bytes.Equal(MessageAD("a", 1, "b"), MessageAD("ab", 1, "")) {
		t.Fatal("length prefixes missing")
	}
}

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func TestParseKeyring(t *testing.T) {
	k, err := ParseKeyring("v1:"+key(1)+", v2:"+strings.TrimRight(key(2), "="), "")
	if err != nil {
		t.Fatal(err)
	}
	if k.Active() != "v2" || strings.Join(k.Versions(), ",") != "v1,v2" {
		t.Fatalf("active %s versions %v", k.Active(), k.Versions())
	}
	if k2, err := ParseKeyring("v1:"+key(1)+",v2:"+key(2), "v1"); err != nil || k2.Active() != "v1" {
		t.Fatalf("explicit active: %v", err)
	}
	secret := key(9)
	bad := map[string][2]string{
		"empty":          {"", ""},
		"no version":     {secret, ""},
		"bad version":    {"x1:" + secret, ""},
		"bad base64":     {"v1:!!!" + secret, ""},
		"short key":      {"v1:" + base64.StdEncoding.EncodeToString([]byte("short")), ""},
		"duplicate":      {"v1:" + secret + ",v1:" + secret, ""},
		"unknown active": {"v1:" + secret, "v7"},
	}
	for name, c := range bad {
		_, err := ParseKeyring(c[0], c[1])
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:20]) {
			t.Errorf("%s: error leaks key material: %v", name, err)
		}
	}
	if s := k.String(); strings.Contains(s, key(1)[:10]) || s != "keyring{v1,v2*}" {
		t.Fatalf("String() = %q", s)
	}
}

func TestWrapUnwrapRotation(t *testing.T) {
	k, _ := ParseKeyring("v1:"+key(1), "")
	dek := NewDataKey()
	v, w, err := k.Wrap(dek, "!conv")
	if err != nil || v != "v1" {
		t.Fatal(v, err)
	}
	if got, err := k.Unwrap(v, w, "!conv"); err != nil || !bytes.Equal(got, dek) {
		t.Fatal("unwrap", err)
	}
	if _, err := k.Unwrap(v, w, "!other"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other owner: %v", err)
	}
	k2, err := k.WithKey("v2", bytes.Repeat([]byte{2}, 32))
	if err != nil || k2.Active() != "v2" {
		t.Fatal(err)
	}
	v2, w2, _ := k2.Wrap(dek, "!conv")
	if v2 != "v2" {
		t.Fatal("new active not used")
	}
	if _, err := k2.Without("v2"); err == nil {
		t.Fatal("dropped the active key")
	}
	k3, err := k2.Without("v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k3.Unwrap("v1", w, "!conv"); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("old version still opens: %v", err)
	}
	if got, err := k3.Unwrap("v2", w2, "!conv"); err != nil || !bytes.Equal(got, dek) {
		t.Fatal("rewrapped key lost", err)
	}
	if _, err := k.WithKey("v1", dek); err == nil {
		t.Fatal("duplicate version accepted")
	}
	if _, err := k.WithKey("v3", dek[:5]); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestLoadOrCreateKeyring(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k, created, err := LoadOrCreateKeyring(dir)
	if err != nil || !created {
		t.Fatal(err, created)
	}
	st, _ := os.Stat(filepath.Join(dir, keyFile))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %o", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKeyring(dir)
	if err != nil || created || k2.Spec() != k.Spec() || k2.Active() != k.Active() {
		t.Fatal("reload differs", err, created)
	}
	_ = os.Chmod(filepath.Join(dir, keyFile), 0o644)
	if _, _, err := LoadOrCreateKeyring(dir); err == nil {
		t.Fatal("world-readable key file accepted")
	}
}

func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{200, 16 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			dek, msg, ad := NewDataKey(), make([]byte, size), MessageAD("!c", 1, "@a:x")
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Seal(dek, msg, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range []int{200, 16 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			dek, ad := NewDataKey(), MessageAD("!c", 1, "@a:x")
			sealed, _ := Seal(dek, make([]byte, size), ad)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Open(dek, sealed, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string {
	if n == 200 {
		return "200B"
	}
	return "16KiB"
}
