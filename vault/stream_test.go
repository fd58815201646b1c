package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func sealAll(t testing.TB, dek []byte, id string, plain []byte) []byte {
	var out bytes.Buffer
	w := NewSealWriter(&out, dek, id)
	// Odd write sizes cross chunk boundaries.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7919)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func openAll(dek []byte, id string, sealed []byte, first int64) ([]byte, error) {
	return io.ReadAll(NewOpenReader(bytes.NewReader(sealed), dek, id, first))
}

func TestStreamRoundTrip(t *testing.T) {
	dek := NewDataKey()
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 5, 10 << 20} {
		plain := make([]byte, n)
		_, _ = rand.Read(plain)
		sealed := sealAll(t, dek, "f1", plain)
		if int64(len(sealed)) != SealedSize(int64(n)) {
			t.Fatalf("n=%d: sealed %d bytes, SealedSize says %d", n, len(sealed), SealedSize(int64(n)))
		}
		got, err := openAll(dek, "f1", sealed, 0)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("n=%d: round trip failed: %v", n, err)
		}
		if n > 2*ChunkSize {
			got, err := openAll(dek, "f1", sealed[2*SealedChunkSize:], 2)
			if err != nil || !bytes.Equal(got, plain[2*ChunkSize:]) {
				t.Fatalf("n=%d: reading from chunk 2 failed: %v", n, err)
			}
		}
	}
}

func TestStreamTamper(t *testing.T) {
	dek := NewDataKey()
	plain := make([]byte, 3*ChunkSize+100)
	sealed := sealAll(t, dek, "f1", plain)
	exactly := sealAll(t, dek, "f1", make([]byte, 2*ChunkSize))
	other := sealAll(t, dek, "f2", plain)
	swap := bytes.Clone(sealed)
	copy(swap[:SealedChunkSize], sealed[SealedChunkSize:2*SealedChunkSize])
	copy(swap[SealedChunkSize:2*SealedChunkSize], sealed[:SealedChunkSize])
	flipped := bytes.Clone(sealed)
	flipped[SealedChunkSize+100] ^= 0x80
	splice := bytes.Clone(sealed)
	copy(splice[SealedChunkSize:2*SealedChunkSize], other[SealedChunkSize:2*SealedChunkSize])
	cases := map[string]struct {
		data  []byte
		first int64
		id    string
	}{
		"flipped byte":           {flipped, 0, "f1"},
		"truncated at boundary":  {sealed[:2*SealedChunkSize], 0, "f1"},
		"exact chunks truncated": {exactly[:SealedChunkSize], 0, "f1"},
		"truncated mid chunk":    {sealed[:len(sealed)-3], 0, "f1"},
		"chunks swapped":         {swap, 0, "f1"},
		"spliced from other":     {splice, 0, "f1"},
		"appended garbage":       {append(bytes.Clone(sealed), 1, 2, 3), 0, "f1"},
		"appended chunk":         {append(bytes.Clone(sealed), sealed[:SealedChunkSize]...), 0, "f1"},
		"wrong file id":          {sealed, 0, "f2"},
		"wrong start index":      {sealed[SealedChunkSize:], 2, "f1"},
		"empty stream":           {nil, 0, "f1"},
	}
	for name, c := range cases {
		if _, err := openAll(dek, c.id, c.data, c.first); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: got %v, want ErrDecrypt", name, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	dek := NewDataKey()
	f.Add(sealAll(f, dek, "f", []byte("hello")))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{1}, 100))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := openAll(dek, "f", data, 0)
		if err == nil && string(got) != "hello" {
			t.Fatalf("forged stream opened: %q", got)
		}
		if _, err := Open(dek, data, nil); err == nil {
			t.Fatal("forged message opened")
		}
	})
}

// BenchmarkStream10MiB seals and opens 10 MiB; allocations stay constant
// (two chunk buffers), whatever the size.
func BenchmarkStream10MiB(b *testing.B) {
	dek := NewDataKey()
	src := make([]byte, 10<<20)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		pr, pw := io.Pipe()
		go func() {
			w := NewSealWriter(pw, dek, "bench")
			_, _ = io.Copy(w, bytes.NewReader(src))
			_ = w.Close()
			_ = pw.Close()
		}()
		if _, err := io.Copy(io.Discard, NewOpenReader(pr, dek, "bench", 0)); err != nil {
			b.Fatal(err)
		}
	}
}
