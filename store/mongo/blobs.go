package mongo

import (
	"context"
	"errors"
	"io"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/gridfs"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// blobStore keeps encrypted blobs in GridFS (bucket "blobs"), the file id
// as GridFS id, so they live beside the records in the same database.
type blobStore struct {
	db *mongo.Database
}

// bucket returns a fresh handle per operation: the driver's Bucket keeps
// unsynchronised state (its first-write index check), so one shared
// handle races under concurrent uploads.
func (b *blobStore) bucket() *gridfs.Bucket {
	bk, err := gridfs.NewBucket(b.db, options.GridFSBucket().SetName("blobs"))
	if err != nil {
		panic(err) // only fails on a nil database, which Open never passes
	}
	return bk
}

// WriteBlob uploads r; a failed upload is deleted so nothing is left.
func (b *blobStore) WriteBlob(ctx context.Context, id string, r io.Reader) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	up, err := b.bucket().OpenUploadStreamWithID(id, id)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := io.Copy(up, store.ContextReader(ctx, r))
	if err != nil {
		_ = up.Abort()
		b.cleanup(id)
		return 0, err
	}
	if err := up.Close(); err != nil {
		b.cleanup(id)
		return 0, mapErr(err)
	}
	return n, nil
}

func (b *blobStore) cleanup(id string) {
	_ = b.bucket().Delete(id)
}

// OpenBlob streams a blob from offset.
func (b *blobStore) OpenBlob(ctx context.Context, id string, offset int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ds, err := b.bucket().OpenDownloadStream(id)
	if err != nil {
		return nil, mapErr(err)
	}
	if offset > 0 {
		if _, err := ds.Skip(offset); err != nil {
			ds.Close()
			return nil, mapErr(err)
		}
	}
	return ds, nil
}

// DeleteBlob removes a blob; a missing one is not an error.
func (b *blobStore) DeleteBlob(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.bucket().Delete(id); err != nil && !errors.Is(err, gridfs.ErrFileNotFound) {
		return mapErr(err)
	}
	return nil
}

var _ store.BlobStore = (*blobStore)(nil)
