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

// blobStore keeps each blob in its own file under dir. A blob is written to
// a temp file in dir/.tmp (same file system, so the rename is atomic),
// fsynced, renamed into place and the directory fsynced: a reader never
// sees half a blob, a failed write leaves nothing, and a written blob
// survives a crash. Temp files sit apart so clearing leftovers of a crash
// at start-up reads one small directory, not every blob.
type blobStore struct {
	dir, tmp string
}

// blobIDRE keeps ids to plain file names: no separators, no dots (so no
// "..", and no clash with temp files).
var blobIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

func newBlobStore(dir string) (*blobStore, error) {
	tmp := filepath.Join(dir, ".tmp")
	// Leftovers of writes cut short by a crash; the caller holds the
	// database lock, so no other process is writing here.
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("bolt: clear blob temp dir: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create blob dir: %w", err)
	}
	return &blobStore{dir: dir, tmp: tmp}, nil
}

// path maps an id to its file, refusing ids that are not plain names.
func (b *blobStore) path(id string) (string, bool) {
	if !blobIDRE.MatchString(id) {
		return "", false
	}
	return filepath.Join(b.dir, id), true
}

// WriteBlob stores everything r yields under id, replacing a blob of the
// same id atomically. If r fails or ctx ends, nothing is left behind and
// the error (matching r's error) is returned.
func (b *blobStore) WriteBlob(ctx context.Context, id string, r io.Reader) (int64, error) {
	p, ok := b.path(id)
	if !ok {
		return 0, fmt.Errorf("%w: blob %q", errBadID, id)
	}
	if err := ctxErr(ctx); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(b.tmp, id+"-*")
	if err != nil {
		return 0, fmt.Errorf("bolt: blob %s: %w", id, err)
	}
	n, err := b.fill(ctx, f, r, p)
	if err != nil {
		_ = os.Remove(f.Name())
		return 0, fmt.Errorf("bolt: write blob %s: %w", id, err)
	}
	return n, nil
}

// fill copies r into the temp file f, makes it durable and renames it to p.
func (b *blobStore) fill(ctx context.Context, f *os.File, r io.Reader, p string) (int64, error) {
	n, err := io.Copy(f, store.ContextReader(ctx, r))
	if err == nil {
		err = ctxErr(ctx) // ended during the last read
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err == nil {
		err = syncDir(b.dir)
	}
	return n, err
}

// syncDir makes a rename into dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// OpenBlob opens a blob positioned at offset; store.ErrNotFound if it does
// not exist. The caller closes it.
func (b *blobStore) OpenBlob(ctx context.Context, id string, offset int64) (io.ReadCloser, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	p, ok := b.path(id)
	if !ok {
		return nil, fmt.Errorf("bolt: blob %q: %w", id, store.ErrNotFound)
	}
	if offset < 0 {
		return nil, fmt.Errorf("bolt: blob %s: negative offset %d", id, offset)
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("bolt: blob %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open blob %s: %w", id, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("bolt: seek blob %s: %w", id, err)
	}
	return f, nil
}

// DeleteBlob removes a blob; a missing blob is not an error.
func (b *blobStore) DeleteBlob(ctx context.Context, id string) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	return b.remove(id)
}

// remove deletes a blob without looking at a context: callers use it to
// finish a deletion whose records are already committed.
func (b *blobStore) remove(id string) error {
	p, ok := b.path(id)
	if !ok {
		return nil // no blob can have that id
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bolt: delete blob %s: %w", id, err)
	}
	return nil
}
