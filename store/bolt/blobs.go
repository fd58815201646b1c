package bolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/crypttalk/crypttalk/store"
)

// blobStore keeps each blob in its own file. A blob is written to a temp
// file, fsynced and renamed, so a reader never sees half a blob and a
// failed write leaves nothing.
type blobStore struct {
	dir string
}

var blobIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

func newBlobStore(dir string) (*blobStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// Leftovers of writes cut by a crash.
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	return &blobStore{dir: dir}, nil
}

func (b *blobStore) path(id string) (string, error) {
	if !blobIDRE.MatchString(id) {
		return "", fmt.Errorf("%w: bad blob id", store.ErrNotFound)
	}
	return filepath.Join(b.dir, id), nil
}

// WriteBlob stores r under id.
func (b *blobStore) WriteBlob(ctx context.Context, id string, r io.Reader) (int64, error) {
	p, err := b.path(id)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(b.dir, id+"-*.tmp")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return 0, err
	}
	return n, nil
}

// OpenBlob opens a blob at offset.
func (b *blobStore) OpenBlob(_ context.Context, id string, offset int64) (io.ReadCloser, error) {
	p, err := b.path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// DeleteBlob removes a blob.
func (b *blobStore) DeleteBlob(_ context.Context, id string) error {
	p, err := b.path(id)
	if err != nil {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ctxReader stops a copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
