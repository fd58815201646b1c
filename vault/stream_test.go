package vault

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// sealAll seals plain with writes of an odd size, so writes straddle
// chunk boundaries.
func sealAll(t testing.TB, dek []byte, id string, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewSealWriter(&out, dek, id)
	for p := plain; len(p) > 0; {
		n := min(len(p), 7919)
		if k, err := w.Write(p[:n]); err != nil || k != n {
			t.Fatalf("write: %d, %v", k, err)
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

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

func TestSealedSize(t *testing.T) {
	cases := map[int64]int64{
		0:             overhead,
		1:             1 + overhead,
		ChunkSize:     SealedChunkSize,
		ChunkSize + 1: SealedChunkSize + 1 + overhead,
		3 * ChunkSize: 3 * SealedChunkSize,
	}
	for plain, want := range cases {
		if got := SealedSize(plain); got != want {
			t.Errorf("SealedSize(%d) = %d, want %d", plain, got, want)
		}
	}
}

func TestStreamRoundTrip(t *testing.T) {
	dek := NewDataKey()
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 5, 10 << 20} {
		plain := randomBytes(n)
		sealed := sealAll(t, dek, "f1", plain)
		if int64(len(sealed)) != SealedSize(int64(n)) {
			t.Fatalf("n=%d: sealed %d bytes, SealedSize says %d", n, len(sealed), SealedSize(int64(n)))
		}
		got, err := openAll(dek, "f1", sealed, 0)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("n=%d: round trip failed: %v", n, err)
		}
		chunks := int64(len(sealed)+SealedChunkSize-1) / SealedChunkSize
		for _, first := range []int64{1, chunks / 2, chunks - 1} {
			if first < 1 || first >= chunks {
				continue
			}
			got, err := openAll(dek, "f1", sealed[first*SealedChunkSize:], first)
			if err != nil || !bytes.Equal(got, plain[first*ChunkSize:]) {
				t.Fatalf("n=%d: reading from chunk %d failed: %v", n, first, err)
			}
		}
	}
}

func TestStreamWriteShapes(t *testing.T) {
	dek := NewDataKey()
	plain := randomBytes(2*ChunkSize + 17)
	var one bytes.Buffer // a single Write of everything
	w := NewSealWriter(&one, dek, "f")
	if n, err := w.Write(plain); err != nil || n != len(plain) {
		t.Fatalf("write: %d %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var tiny bytes.Buffer // byte by byte, with empty writes mixed in
	w = NewSealWriter(&tiny, dek, "f")
	for i := range plain {
		_, _ = w.Write(nil)
		if _, err := w.Write(plain[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for name, sealed := range map[string][]byte{"one write": one.Bytes(), "byte writes": tiny.Bytes()} {
		if got, err := openAll(dek, "f", sealed, 0); err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: round trip failed: %v", name, err)
		}
	}
}

func TestOpenReaderShapes(t *testing.T) {
	dek := NewDataKey()
	plain := randomBytes(2*ChunkSize + 300)
	sealed := sealAll(t, dek, "f", plain)
	// iotest.TestReader reads with many buffer sizes and checks the
	// io.Reader contract, including zero-length reads.
	if err := iotest.TestReader(NewOpenReader(bytes.NewReader(sealed), dek, "f", 0), plain); err != nil {
		t.Fatal(err)
	}
	// A source returning one byte, or half, per call must not matter.
	for name, src := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(bytes.NewReader(sealed)),
		"half":     iotest.HalfReader(bytes.NewReader(sealed)),
		"data+EOF": iotest.DataErrReader(bytes.NewReader(sealed)),
	} {
		got, err := io.ReadAll(NewOpenReader(src, dek, "f", 0))
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// tamperCases builds every damaged stream the reader must reject.
func tamperCases(t *testing.T, dek []byte) map[string]struct {
	data  []byte
	first int64
	id    string
} {
	plain := randomBytes(3*ChunkSize + 100)
	sealed := sealAll(t, dek, "f1", plain)
	exact := sealAll(t, dek, "f1", plain[:2*ChunkSize])
	other := sealAll(t, dek, "f2", plain)
	chunk := func(s []byte, i int) []byte { return s[i*SealedChunkSize : min(len(s), (i+1)*SealedChunkSize)] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	return map[string]struct {
		data  []byte
		first int64
		id    string
	}{
		"truncated at boundary":      {sealed[:2*SealedChunkSize], 0, "f1"},
		"last full chunk dropped":    {exact[:SealedChunkSize], 0, "f1"},
		"truncated mid chunk":        {sealed[:len(sealed)-3], 0, "f1"},
		"truncated in header":        {sealed[:SealedChunkSize+10], 0, "f1"},
		"chunks swapped":             {join(chunk(sealed, 1), chunk(sealed, 0), sealed[2*SealedChunkSize:]), 0, "f1"},
		"middle chunk dropped":       {join(chunk(sealed, 0), sealed[2*SealedChunkSize:]), 0, "f1"},
		"chunk repeated":             {join(chunk(sealed, 0), sealed), 0, "f1"},
		"spliced from other file":    {join(chunk(sealed, 0), chunk(other, 1), sealed[2*SealedChunkSize:]), 0, "f1"},
		"last chunk from other file": {join(sealed[:3*SealedChunkSize], chunk(other, 3)), 0, "f1"},
		"appended garbage":           {join(sealed, []byte{1, 2, 3}), 0, "f1"},
		"appended one byte to full":  {join(exact, []byte{0}), 0, "f1"},
		"appended chunk":             {join(sealed, chunk(sealed, 0)), 0, "f1"},
		"two files joined":           {join(exact, exact), 0, "f1"},
		"wrong file id":              {sealed, 0, "f2"},
		"wrong start index":          {sealed[SealedChunkSize:], 2, "f1"},
		"start past the end":         {nil, 4, "f1"},
		"empty stream":               {nil, 0, "f1"},
		"format byte only":           {[]byte{formatV1}, 0, "f1"},
		"unknown format":             {join([]byte{0x02}, sealed[1:]), 0, "f1"},
	}
}

func TestStreamTamper(t *testing.T) {
	dek := NewDataKey()
	for name, c := range tamperCases(t, dek) {
		if _, err := openAll(dek, c.id, c.data, c.first); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: got %v, want ErrDecrypt", name, err)
		}
	}
	sealed := sealAll(t, dek, "f1", []byte("x"))
	if _, err := openAll(NewDataKey(), "f1", sealed, 0); !errors.Is(err, ErrDecrypt) {
		t.Errorf("other key: got %v, want ErrDecrypt", err)
	}
	if _, err := openAll(dek[:16], "f1", sealed, 0); !errors.Is(err, ErrDecrypt) {
		t.Errorf("short key: got %v, want ErrDecrypt", err)
	}
}

func TestStreamFlippedBytes(t *testing.T) {
	dek := NewDataKey()
	small := sealAll(t, dek, "f", []byte("a short file"))
	for i := range small {
		bad := bytes.Clone(small)
		bad[i] ^= 0x01
		if _, err := openAll(dek, "f", bad, 0); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("small file, byte %d flipped: %v", i, err)
		}
	}
	// Every header and tag byte of a two-chunk file, and a sample of the
	// ciphertext bytes (all of them would be slow for no new insight).
	big := sealAll(t, dek, "f", randomBytes(ChunkSize+10))
	for i := range big {
		inChunk := i % SealedChunkSize
		edge := inChunk < headerSize || inChunk >= SealedChunkSize-tagSize || i >= len(big)-tagSize
		if !edge && i%997 != 0 {
			continue
		}
		bad := bytes.Clone(big)
		bad[i] ^= 0x80
		if _, err := openAll(dek, "f", bad, 0); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("two-chunk file, byte %d flipped: %v", i, err)
		}
	}
}

func TestStreamReturnsOnlyAuthenticPrefix(t *testing.T) {
	dek := NewDataKey()
	plain := randomBytes(3*ChunkSize + 1)
	sealed := sealAll(t, dek, "f", plain)
	sealed[2*SealedChunkSize+headerSize] ^= 1 // damage chunk 2
	got, err := openAll(dek, "f", sealed, 0)
	if !errors.Is(err, ErrDecrypt) {
		t.Fatalf("got %v, want ErrDecrypt", err)
	}
	if !bytes.Equal(got, plain[:2*ChunkSize]) {
		t.Fatalf("got %d bytes before the error, want the %d of the authentic chunks", len(got), 2*ChunkSize)
	}
}

func TestOpenReaderSourceError(t *testing.T) {
	dek := NewDataKey()
	sealed := sealAll(t, dek, "f", randomBytes(2*ChunkSize))
	boom := errors.New("disk on fire")
	src := io.MultiReader(bytes.NewReader(sealed[:SealedChunkSize+5]), iotest.ErrReader(boom))
	r := NewOpenReader(src, dek, "f", 0)
	if _, err := io.ReadAll(r); !errors.Is(err, boom) || errors.Is(err, ErrDecrypt) {
		t.Fatalf("got %v, want the source error", err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Fatalf("error not sticky: %v", err)
	}
	if _, err := io.ReadAll(NewOpenReader(bytes.NewReader(sealed), dek, "f", -1)); err == nil {
		t.Fatal("negative first chunk accepted")
	}
}

// failWriter accepts limit bytes, then fails.
type failWriter struct{ limit int }

var errFull = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n := f.limit
		f.limit = 0
		return n, errFull
	}
	f.limit -= len(p)
	return len(p), nil
}

func TestSealWriterErrors(t *testing.T) {
	w := NewSealWriter(&failWriter{limit: SealedChunkSize + 10}, NewDataKey(), "f")
	_, err := w.Write(make([]byte, 3*ChunkSize))
	if !errors.Is(err, errFull) {
		t.Fatalf("write: got %v, want the sink's error", err)
	}
	if _, err := w.Write([]byte("more")); !errors.Is(err, errFull) {
		t.Fatalf("error not sticky: %v", err)
	}
	if err := w.Close(); !errors.Is(err, errFull) {
		t.Fatalf("close: got %v, want the sink's error", err)
	}

	bad := NewSealWriter(io.Discard, make([]byte, 16), "f")
	if _, err := bad.Write([]byte("x")); err == nil {
		t.Fatal("short key accepted by Write")
	}
	if err := bad.Close(); err == nil {
		t.Fatal("short key accepted by Close")
	}

	var out bytes.Buffer
	ok := NewSealWriter(&out, NewDataKey(), "f")
	if err := ok.Close(); err != nil || out.Len() != int(SealedSize(0)) {
		t.Fatalf("empty file: %v, %d bytes", err, out.Len())
	}
	if err := ok.Close(); err != nil || out.Len() != int(SealedSize(0)) {
		t.Fatalf("second Close: %v, %d bytes", err, out.Len())
	}
	if _, err := ok.Write([]byte("late")); err == nil {
		t.Fatal("write after Close accepted")
	}
}

// discard counts bytes without allocating, unlike io.Discard's pooled
// ReadFrom, whose pool the race detector empties at random.
type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// TestStreamMemoryConstant checks that sealing and opening allocate the
// same whatever the file size: a regression that buffered the whole file,
// or allocated per chunk, would fail.
func TestStreamMemoryConstant(t *testing.T) {
	dek := NewDataKey()
	src := randomBytes(ChunkSize + 7)
	sealedSmall := sealAll(t, dek, "f", src[:100])
	sealedBig := sealAll(t, dek, "f", bytes.Repeat(src, 16))
	buf := make([]byte, 8192)
	allocs := func(sealed []byte, plainRepeats int) float64 {
		return testing.AllocsPerRun(3, func() {
			w := NewSealWriter(&discard{}, dek, "f")
			for range plainRepeats {
				_, _ = w.Write(src)
			}
			_ = w.Close()
			r := NewOpenReader(bytes.NewReader(sealed), dek, "f", 0)
			for {
				if _, err := r.Read(buf); err != nil {
					break
				}
			}
		})
	}
	small, big := allocs(sealedSmall, 1), allocs(sealedBig, 16)
	if big != small {
		t.Fatalf("allocations grow with size: %v for ~64 KiB, %v for ~1 MiB", small, big)
	}
}

// BenchmarkStream10MiB seals and opens 10 MiB through a pipe, as an
// upload and a download do. B/op stays near two sealed chunks, whatever
// the file size: memory is constant.
func BenchmarkStream10MiB(b *testing.B) {
	dek := NewDataKey()
	src := make([]byte, 10<<20)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		pr, pw := io.Pipe()
		go func() {
			w := NewSealWriter(pw, dek, "bench")
			_, err := io.Copy(w, bytes.NewReader(src))
			if err == nil {
				err = w.Close()
			}
			pw.CloseWithError(err)
		}()
		n, err := io.Copy(&discard{}, NewOpenReader(pr, dek, "bench", 0))
		if err != nil || n != int64(len(src)) {
			b.Fatalf("opened %d bytes: %v", n, err)
		}
	}
}
