package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/store"
)

var blobCases = []testCase{
	{"WriteOpenAtOffsets", testBlobOffsets},
	{"Empty", testBlobEmpty},
	{"FailingReaderLeavesNothing", testBlobFailingReader},
	{"CancelledWriteLeavesNothing", testBlobCancelledWrite},
	{"Delete", testBlobDelete},
	{"UnknownIDs", testBlobUnknown},
	{"ConcurrentWrites", testBlobConcurrent},
	{"List", testBlobList},
}

// blobData is 1 MB that is not periodic at any chunk size a backend may use.
func blobData() []byte {
	data := make([]byte, 1<<20)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	return data
}

func readBlob(t *testing.T, s store.Store, id string, offset int64) []byte {
	t.Helper()
	rc, err := s.Blobs().OpenBlob(t.Context(), id, offset)
	must(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	must(t, err)
	return got
}

func testBlobOffsets(t *testing.T, s store.Store) {
	data := blobData()
	n, err := s.Blobs().WriteBlob(t.Context(), "b1", bytes.NewReader(data))
	must(t, err)
	if n != int64(len(data)) {
		t.Fatalf("WriteBlob = %d, want %d", n, len(data))
	}
	// Offsets at and around 255 KiB (GridFS's chunk size) and the end.
	for _, off := range []int64{0, 1, 261119, 261120, 261121, 600_000, int64(len(data)) - 1, int64(len(data))} {
		if got := readBlob(t, s, "b1", off); !bytes.Equal(got, data[off:]) {
			t.Fatalf("offset %d: read %d bytes that differ from the %d written", off, len(got), len(data[off:]))
		}
	}
}

func testBlobEmpty(t *testing.T, s store.Store) {
	n, err := s.Blobs().WriteBlob(t.Context(), "empty", strings.NewReader(""))
	must(t, err)
	if n != 0 {
		t.Fatalf("WriteBlob = %d, want 0", n)
	}
	if got := readBlob(t, s, "empty", 0); len(got) != 0 {
		t.Fatalf("empty blob read %d bytes", len(got))
	}
}

var errClientGone = errors.New("client went away")

// failingReader yields n bytes, then fails.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errClientGone
	}
	n := min(len(p), f.n)
	clear(p[:n])
	f.n -= n
	return n, nil
}

func testBlobFailingReader(t *testing.T, s store.Store) {
	for _, size := range []int{0, 1000, 600_000} {
		id := fmt.Sprintf("fail%d", size)
		_, err := s.Blobs().WriteBlob(t.Context(), id, &failingReader{n: size})
		// The reader's own error comes back, so the caller can tell why.
		wantErr(t, err, errClientGone, "WriteBlob of a failing reader")
		_, err = s.Blobs().OpenBlob(t.Context(), id, 0)
		wantErr(t, err, store.ErrNotFound, "blob whose write failed")
	}
}

// cancellingReader yields 4 MB in small reads and cancels its context
// once n of them are out. It does end, so a backend that ignores the
// context fails the test instead of hanging it.
type cancellingReader struct {
	n, left int
	cancel  context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	if c.n <= 0 {
		c.cancel()
	}
	n := min(len(p), 16<<10, c.left)
	clear(p[:n])
	c.n -= n
	c.left -= n
	return n, nil
}

func testBlobCancelledWrite(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := s.Blobs().WriteBlob(ctx, "cut", &cancellingReader{n: 300_000, left: 4 << 20, cancel: cancel})
	if err == nil {
		t.Fatal("a write whose context was cancelled succeeded")
	}
	_, err = s.Blobs().OpenBlob(t.Context(), "cut", 0)
	wantErr(t, err, store.ErrNotFound, "blob whose write was cancelled")
}

func testBlobDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"b1", "b2"} {
		_, err := s.Blobs().WriteBlob(ctx, id, strings.NewReader("sealed "+id))
		must(t, err)
	}
	must(t, s.Blobs().DeleteBlob(ctx, "b1"))
	_, err := s.Blobs().OpenBlob(ctx, "b1", 0)
	wantErr(t, err, store.ErrNotFound, "deleted blob")
	must(t, s.Blobs().DeleteBlob(ctx, "b1")) // a missing blob is not an error
	must(t, s.Blobs().DeleteBlob(ctx, "never-written"))
	if got := readBlob(t, s, "b2", 0); string(got) != "sealed b2" {
		t.Fatalf("another blob changed: %q", got)
	}
}

func testBlobUnknown(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Blobs().WriteBlob(ctx, "b1", strings.NewReader("x"))
	must(t, err)
	for _, id := range []string{"nope", "B1", "b", "../b1", "./b1", "/etc/passwd", "../../etc/passwd", "b1/..", ""} {
		_, err := s.Blobs().OpenBlob(ctx, id, 0)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("OpenBlob(%q)", id))
	}
}

func testBlobConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	errs := parallel(8, func(i int) error {
		_, err := s.Blobs().WriteBlob(ctx, fmt.Sprintf("c%d", i), strings.NewReader(strings.Repeat(fmt.Sprint(i), 50_000)))
		return err
	})
	for i, err := range errs {
		must(t, err)
		if got := readBlob(t, s, fmt.Sprintf("c%d", i), 49_999); string(got) != strings.Repeat(fmt.Sprint(i), 50_000)[49_999:] {
			t.Fatalf("blob c%d mixed up: %q", i, got)
		}
	}
}
