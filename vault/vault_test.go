package vault

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func mustSeal(t testing.TB, dek, plain, ad []byte) []byte {
	t.Helper()
	sealed, err := Seal(dek, plain, ad)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func TestSealOpenRoundTrip(t *testing.T) {
	dek := NewDataKey()
	for _, size := range []int{0, 1, 200, 16 << 10, 1 << 20} {
		plain := bytes.Repeat([]byte{'p'}, size)
		ad := MessageAD("!c:x", int64(size), "@a:x")
		sealed := mustSeal(t, dek, plain, ad)
		if len(sealed) != size+overhead || sealed[0] != formatV1 {
			t.Fatalf("size %d: sealed to %d bytes starting %#x", size, len(sealed), sealed[0])
		}
		got, err := Open(dek, sealed, ad)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip failed: %v", size, err)
		}
	}
	if got, err := Open(dek, mustSeal(t, dek, []byte("x"), nil), nil); err != nil || string(got) != "x" {
		t.Fatalf("nil ad: %q %v", got, err)
	}
}

func TestSealRandomNonce(t *testing.T) {
	dek, ad := NewDataKey(), MessageAD("!c", 1, "@a")
	a, b := mustSeal(t, dek, []byte("same"), ad), mustSeal(t, dek, []byte("same"), ad)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same message are equal: nonce reused")
	}
	if bytes.Contains(a, []byte("same")) {
		t.Fatal("plaintext visible in sealed form")
	}
}

func TestOpenRejectsEveryFlippedByte(t *testing.T) {
	dek, ad := NewDataKey(), MessageAD("!c", 7, "@a:x")
	sealed := mustSeal(t, dek, []byte("attack at dawn"), ad)
	for i := range sealed {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= mask
			if got, err := Open(dek, bad, ad); !errors.Is(err, ErrDecrypt) || got != nil {
				t.Fatalf("byte %d ^ %#x: got %q, %v; want ErrDecrypt", i, mask, got, err)
			}
		}
	}
}

func TestOpenRejects(t *testing.T) {
	dek := NewDataKey()
	ad := MessageAD("!c", 7, "@a:x")
	sealed := mustSeal(t, dek, []byte("hello"), ad)
	cases := map[string]struct{ key, sealed, ad []byte }{
		"moved to other seq":    {dek, sealed, MessageAD("!c", 8, "@a:x")},
		"moved to other conv":   {dek, sealed, MessageAD("!d", 7, "@a:x")},
		"other sender":          {dek, sealed, MessageAD("!c", 7, "@b:x")},
		"no ad":                 {dek, sealed, nil},
		"other key":             {NewDataKey(), sealed, ad},
		"short key":             {dek[:16], sealed, ad},
		"nil key":               {nil, sealed, ad},
		"truncated by one":      {dek, sealed[:len(sealed)-1], ad},
		"header only":           {dek, sealed[:headerSize], ad},
		"shorter than overhead": {dek, sealed[:overhead-1], ad},
		"empty":                 {dek, nil, ad},
		"extended":              {dek, append(bytes.Clone(sealed), 0), ad},
		"unknown format":        {dek, append([]byte{0x02}, sealed[1:]...), ad},
	}
	for name, c := range cases {
		if got, err := Open(c.key, c.sealed, c.ad); !errors.Is(err, ErrDecrypt) || got != nil {
			t.Errorf("%s: got %q, %v; want ErrDecrypt", name, got, err)
		}
	}
}

func TestSealRejectsBadKey(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := Seal(make([]byte, n), []byte("x"), nil); err == nil {
			t.Errorf("%d-byte key accepted", n)
		}
	}
}

func TestNewDataKey(t *testing.T) {
	a, b := NewDataKey(), NewDataKey()
	if len(a) != 32 || bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 32)) {
		t.Fatalf("data keys not 32 fresh random bytes: %x %x", a, b)
	}
}

func TestMessageADUnambiguous(t *testing.T) {
	type tuple struct {
		conv   string
		seq    int64
		sender string
	}
	tuples := []tuple{
		{"a", 1, "b"}, {"ab", 1, ""}, {"", 1, "ab"}, {"a", 1, "b\x00"},
		{"a\x00\x00\x00\x01b", 1, ""}, {"a", 2, "b"}, {"a", -1, "b"}, {"b", 1, "a"},
		{"", 0, ""}, {"", 1, ""},
	}
	seen := map[string]tuple{}
	for _, tu := range tuples {
		key := string(MessageAD(tu.conv, tu.seq, tu.sender))
		if prev, dup := seen[key]; dup {
			t.Fatalf("%+v and %+v encode the same", prev, tu)
		}
		seen[key] = tu
	}
	if !bytes.Equal(MessageAD("c", 3, "s"), MessageAD("c", 3, "s")) {
		t.Fatal("MessageAD is not deterministic")
	}
}

// FuzzOpen feeds arbitrary bytes to Open and to the stream reader. Neither
// may panic, and nothing but the exact sealed seeds may open: forging is
// what the fuzzer would have to find.
func FuzzOpen(f *testing.F) {
	dek := bytes.Repeat([]byte{7}, 32)
	ad := MessageAD("!c", 1, "@a")
	msg := mustSeal(f, dek, []byte("message"), ad)
	stream := sealAll(f, dek, "f", []byte("file body"))
	big := sealAll(f, dek, "f", make([]byte, ChunkSize+3))
	for _, seed := range [][]byte{msg, stream, big, msg[:len(msg)-1], stream[:overhead], {}, {formatV1}, bytes.Repeat([]byte{1}, 100)} {
		f.Add(seed, uint8(0))
	}
	f.Add(big[SealedChunkSize:], uint8(1))
	opens := map[int64][]string{ // what each start chunk may legitimately yield
		0: {"file body", string(make([]byte, ChunkSize+3))},
		1: {string(make([]byte, 3))},
	}
	f.Fuzz(func(t *testing.T, data []byte, first uint8) {
		got, err := Open(dek, data, ad)
		switch {
		case err == nil && string(got) != "message":
			t.Fatalf("forged message opened: %q", got)
		case err != nil && !errors.Is(err, ErrDecrypt):
			t.Fatalf("Open error %v is not ErrDecrypt", err)
		}
		start := int64(first % 3)
		got, err = openAll(dek, "f", data, start)
		switch {
		case err == nil && !slices.Contains(opens[start], string(got)):
			t.Fatalf("forged stream opened: %q", got)
		case err != nil && !errors.Is(err, ErrDecrypt):
			t.Fatalf("stream error %v is not ErrDecrypt", err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{200, 16 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
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
		b.Run(sizeName(size), func(b *testing.B) {
			dek, ad := NewDataKey(), MessageAD("!c", 1, "@a:x")
			sealed := mustSeal(b, dek, make([]byte, size), ad)
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

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}
