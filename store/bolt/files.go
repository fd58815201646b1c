package bolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// PutFile stores a file's metadata.
func (s *Store) PutFile(ctx context.Context, f *store.File) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bFiles).Get([]byte(f.ID)) != nil {
			return store.ErrConflict
		}
		return putFile(tx, f)
	})
}

func putFile(tx *bolt.Tx, f *store.File) error {
	if f.ConversationID != "" {
		if err := tx.Bucket(bFilesByConv).Put(join(f.ConversationID, f.ID), nil); err != nil {
			return err
		}
	}
	return putJSON(tx.Bucket(bFiles), []byte(f.ID), f)
}

// GetFile loads a file's metadata.
func (s *Store) GetFile(ctx context.Context, id string) (*store.File, error) {
	var f store.File
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bFiles), []byte(id), &f) }); err != nil {
		return nil, err
	}
	return &f, nil
}

// UpdateFile replaces a file's metadata.
func (s *Store) UpdateFile(ctx context.Context, f *store.File) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var old store.File
		if err := getJSON(tx.Bucket(bFiles), []byte(f.ID), &old); err != nil {
			return err
		}
		if old.ConversationID != "" && old.ConversationID != f.ConversationID {
			if err := tx.Bucket(bFilesByConv).Delete(join(old.ConversationID, f.ID)); err != nil {
				return err
			}
		}
		return putFile(tx, f)
	})
}

// AddPlay counts one play.
func (s *Store) AddPlay(ctx context.Context, id string) (int64, error) {
	var n int64
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var f store.File
		if err := getJSON(tx.Bucket(bFiles), []byte(id), &f); err != nil {
			return err
		}
		f.Plays++
		n = f.Plays
		return putJSON(tx.Bucket(bFiles), []byte(id), &f)
	})
	return n, err
}

// DeleteFile removes a file's metadata and blob.
func (s *Store) DeleteFile(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var f store.File
		if err := getJSON(tx.Bucket(bFiles), []byte(id), &f); err != nil {
			return err
		}
		if f.ConversationID != "" {
			if err := tx.Bucket(bFilesByConv).Delete(join(f.ConversationID, id)); err != nil {
				return err
			}
		}
		return tx.Bucket(bFiles).Delete([]byte(id))
	})
	if err != nil {
		return err
	}
	return s.blobs.DeleteBlob(ctx, id)
}

// ListConversationFiles lists a conversation's file ids.
func (s *Store) ListConversationFiles(ctx context.Context, conv string) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		p := prefix(conv)
		c := tx.Bucket(bFilesByConv).Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			out = append(out, string(k[len(p):]))
		}
		return nil
	})
	return out, err
}

func deleteConvFiles(tx *bolt.Tx, conv string) ([]string, error) {
	var ids []string
	p := prefix(conv)
	idx := tx.Bucket(bFilesByConv)
	c := idx.Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Seek(p) {
		id := string(k[len(p):])
		ids = append(ids, id)
		if err := idx.Delete(append([]byte(nil), k...)); err != nil {
			return nil, err
		}
		if err := tx.Bucket(bFiles).Delete([]byte(id)); err != nil {
			return nil, err
		}
		if err := deleteOwnerKeys(tx, id); err != nil {
			return nil, err
		}
	}
	return ids, nil
}
