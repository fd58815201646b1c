package bolt

import (
	"context"
	"fmt"
	"os"

	"github.com/crypttalk/crypttalk/store"
)

var _ store.BlobLister = (*blobStore)(nil)

// ListBlobs implements store.BlobLister from the blob directory (sorted
// by name, which is the id). Each page reads the directory again: it is
// an operator's command, not a hot path.
func (b *blobStore) ListBlobs(ctx context.Context, after string, limit int) ([]store.BlobInfo, error) {
	if err := ctxErr(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1000
	}
	entries, err := os.ReadDir(b.dir)
	if err != nil {
		return nil, fmt.Errorf("bolt: list blobs: %w", err)
	}
	out := []store.BlobInfo{}
	for _, e := range entries {
		name := e.Name()
		if name <= after || !e.Type().IsRegular() || !blobIDRE.MatchString(name) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since the directory was read
		}
		out = append(out, store.BlobInfo{ID: name, Size: info.Size(), WrittenAt: info.ModTime().UTC()})
		if len(out) == limit {
			break
		}
	}
	return out, nil
}
