package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/crypttalk/crypttalk/store"
)

// fileDoc is a File with its purge times in milliseconds, the form the
// purge query and its indexes use (as msgDoc does for messages).
type fileDoc struct {
	store.File `bson:",inline"`
	ExpiresMS  int64 `bson:"expires_ms"`
	PendingMS  int64 `bson:"pending_ms"`
}

func toFileDoc(f *store.File) *fileDoc {
	return &fileDoc{File: *f, ExpiresMS: ms(f.ExpiresAt), PendingMS: ms(f.PendingUntil)}
}

// PutFile stores a file's metadata.
func (s *Store) PutFile(ctx context.Context, f *store.File) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	_, err := s.files.InsertOne(ctx, toFileDoc(f))
	return mapErr(err)
}

// GetFile loads a file's metadata.
func (s *Store) GetFile(ctx context.Context, id string) (*store.File, error) {
	var f store.File
	if err := s.findOne(ctx, s.files, bson.M{"_id": id}, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// UpdateFile replaces a file's metadata.
func (s *Store) UpdateFile(ctx context.Context, f *store.File) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	res, err := s.files.ReplaceOne(ctx, bson.M{"_id": f.ID}, toFileDoc(f))
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AddPlay counts one play atomically. The play's time is set after the
// count: should that write fail, a later Range request counts as a play
// of its own, which errs on the side of the limit.
func (s *Store) AddPlay(ctx context.Context, id string, at time.Time) (int64, error) {
	n, err := s.counter(ctx, s.files, id, "plays")
	if err != nil {
		return 0, err
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	_, err = s.files.UpdateOne(octx, bson.M{"_id": id}, bson.M{"$max": bson.M{"last_play_at": at}})
	if err != nil {
		return 0, mapErr(err)
	}
	return n, nil
}

// DeleteFile removes a file's metadata, its own keys and its blob.
func (s *Store) DeleteFile(ctx context.Context, id string) error {
	octx, cancel := s.op(ctx)
	res, err := s.files.DeleteOne(octx, bson.M{"_id": id})
	cancel()
	if err != nil {
		return mapErr(err)
	}
	if err := s.blobs.DeleteBlob(ctx, id); err != nil {
		return err
	}
	if err := s.dropClaims(ctx, s.files.Name(), id); err != nil {
		return err
	}
	if res.DeletedCount == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ListConversationFiles lists a conversation's file ids.
func (s *Store) ListConversationFiles(ctx context.Context, conv string) ([]string, error) {
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := s.findAll(ctx, s.files, bson.M{"conversation_id": conv}, &docs); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out, nil
}

// DeleteConversation removes a conversation with its messages, keys and
// files. Without transactions the order matters: keys first (the data is
// unreadable from then on), the conversation record last, so a crash
// leaves a conversation the next call finishes deleting.
func (s *Store) DeleteConversation(ctx context.Context, id string) error {
	files, err := s.ListConversationFiles(ctx, id)
	if err != nil {
		return err
	}
	if err := s.DeleteDataKeys(ctx, id); err != nil {
		return err
	}
	for _, f := range files {
		if err := s.DeleteDataKeys(ctx, f); err != nil {
			return err
		}
		if err := s.DeleteFile(ctx, f); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	var docs []msgDoc
	if err := s.findAll(ctx, s.msgs, bson.M{"conversation_id": id}, &docs); err != nil {
		return err
	}
	if len(docs) > 0 {
		if err := s.deleteMsgDocs(ctx, docs); err != nil {
			return err
		}
	}
	if err := s.dropClaims(ctx, s.convs.Name(), id); err != nil {
		return err
	}
	pctx, pcancel := s.op(ctx)
	_, err = s.positions.DeleteMany(pctx, bson.M{"conv": id})
	pcancel()
	if err != nil {
		return mapErr(err)
	}
	octx, cancel := s.op(ctx)
	defer cancel()
	_, err = s.convs.DeleteOne(octx, bson.M{"_id": id})
	return mapErr(err)
}

// ListDueFiles lists files whose expiry or pending deadline has passed.
func (s *Store) ListDueFiles(ctx context.Context, now time.Time, limit int) ([]*store.File, error) {
	if limit <= 0 {
		limit = 100
	}
	due := bson.M{"$gt": 0, "$lte": ms(now)}
	var docs []fileDoc
	filter := bson.M{"$or": bson.A{bson.M{"expires_ms": due}, bson.M{"pending_ms": due}}}
	if err := s.findAll(ctx, s.files, filter, &docs, options.Find().SetLimit(int64(limit))); err != nil {
		return nil, err
	}
	out := make([]*store.File, len(docs))
	for i := range docs {
		out[i] = &docs[i].File
	}
	return out, nil
}

// ExpireFile lowers a file's ExpiresAt to at. Only the last counted play
// calls it, once per file, so the filtered update needs no CAS loop.
func (s *Store) ExpireFile(ctx context.Context, id string, at time.Time) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	later := bson.A{
		bson.M{"expires_ms": bson.M{"$gt": ms(at)}},
		bson.M{"expires_ms": 0},
		bson.M{"expires_ms": bson.M{"$exists": false}},
	}
	res, err := s.files.UpdateOne(ctx, bson.M{"_id": id, "$or": later},
		bson.M{"$set": bson.M{"expires_at": at, "expires_ms": ms(at)}})
	if err != nil {
		return mapErr(err)
	}
	if res.MatchedCount == 0 {
		n, err := s.files.CountDocuments(ctx, bson.M{"_id": id})
		if err != nil {
			return mapErr(err)
		}
		if n == 0 {
			return store.ErrNotFound
		}
	}
	return nil
}

// FileUsage sums the sizes of owner's files.
func (s *Store) FileUsage(ctx context.Context, owner string) (int64, error) {
	var docs []struct {
		Size int64 `bson:"size"`
	}
	opts := options.Find().SetProjection(bson.M{"size": 1})
	if err := s.findAll(ctx, s.files, bson.M{"owner": owner}, &docs, opts); err != nil {
		return 0, err
	}
	var total int64
	for _, d := range docs {
		total += d.Size
	}
	return total, nil
}
