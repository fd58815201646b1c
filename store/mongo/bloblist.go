package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

var _ store.BlobLister = (*blobStore)(nil)

// ListBlobs implements store.BlobLister from GridFS's files collection
// (blobs.files), whose _id is the blob id.
func (b *blobStore) ListBlobs(ctx context.Context, after string, limit int) ([]store.BlobInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 1000
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).
		SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "length", Value: 1}, {Key: "uploadDate", Value: 1}})
	cur, err := b.db.Collection("blobs.files").Find(ctx, bson.M{"_id": bson.M{"$gt": after}}, opts)
	if err != nil {
		return nil, mapErr(err)
	}
	defer cur.Close(ctx)
	out := []store.BlobInfo{}
	for cur.Next(ctx) {
		var doc struct {
			ID         any       `bson:"_id"`
			Length     int64     `bson:"length"`
			UploadDate time.Time `bson:"uploadDate"`
		}
		if err := cur.Decode(&doc); err != nil {
			return nil, mapErr(err)
		}
		id, ok := doc.ID.(string)
		if !ok {
			continue // not one of ours: every blob id is a string
		}
		out = append(out, store.BlobInfo{ID: id, Size: doc.Length, WrittenAt: doc.UploadDate.UTC()})
	}
	return out, mapErr(cur.Err())
}
