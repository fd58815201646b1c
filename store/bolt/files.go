package bolt

import (
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// PutFile stores a file's metadata; store.ErrConflict if its id exists.
func (s *Store) PutFile(ctx context.Context, f *store.File) error {
	if err := checkIDs(f.ID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bFiles).Get([]byte(f.ID)) != nil {
			return conflict("file", []byte(f.ID))
		}
		return writeFile(tx, f)
	})
}

// writeFile stores f with its index entries: conversation, purge time and
// owner. A file uploaded before its conversation is known has no
// conversation entry until UpdateFile sets one. The caller removes the
// entries of the record it replaces first (unindexFile).
func writeFile(tx *bolt.Tx, f *store.File) error {
	if f.ConversationID != "" {
		if err := tx.Bucket(bFilesByConv).Put(join(f.ConversationID, f.ID), []byte{}); err != nil {
			return err
		}
	}
	if err := indexFile(tx, f); err != nil {
		return err
	}
	return putJSON(tx, bFiles, []byte(f.ID), f)
}

// GetFile loads a file's metadata.
func (s *Store) GetFile(ctx context.Context, id string) (*store.File, error) {
	f := new(store.File)
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bFiles, []byte(id), f) }); err != nil {
		return nil, err
	}
	return f, nil
}

// UpdateFile replaces an existing file's metadata, moving its index
// entries if the conversation, purge time or owner changed.
func (s *Store) UpdateFile(ctx context.Context, f *store.File) error {
	if err := checkIDs(f.ID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		var old store.File
		if err := getJSON(tx, bFiles, []byte(f.ID), &old); err != nil {
			return err
		}
		if err := unindexFile(tx, &old); err != nil {
			return err
		}
		return writeFile(tx, f)
	})
}

// AddPlay counts one play of a file at `at` and returns the new count.
// The read-modify-write runs in one transaction, so no play is lost.
func (s *Store) AddPlay(ctx context.Context, id string, at time.Time) (int64, error) {
	var plays int64
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var f store.File
		if err := getJSON(tx, bFiles, []byte(id), &f); err != nil {
			return err
		}
		f.Plays++
		plays = f.Plays
		if at.After(f.LastPlayAt) {
			f.LastPlayAt = at
		}
		return putJSON(tx, bFiles, []byte(id), &f)
	})
	if err != nil {
		return 0, err
	}
	return plays, nil
}

// DeleteFile removes a file's metadata and its blob; store.ErrNotFound if
// the metadata is unknown (the blob is removed even then).
func (s *Store) DeleteFile(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var f store.File
		if err := getJSON(tx, bFiles, []byte(id), &f); err != nil {
			return err
		}
		if err := unindexFile(tx, &f); err != nil {
			return err
		}
		return tx.Bucket(bFiles).Delete([]byte(id))
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if berr := s.blobs.remove(id); berr != nil {
		return berr
	}
	return err
}

// ListConversationFiles returns the ids of a conversation's files.
func (s *Store) ListConversationFiles(ctx context.Context, conv string) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return scanPrefix(tx, bFilesByConv, prefix(conv), func(id, _ []byte) (bool, error) {
			out = append(out, string(id))
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteConversation removes the conversation with its messages, its data
// keys, its files with their own data keys, and then the files' blobs.
// Records that name the id are removed even when the conversation record
// is gone, so a retry after a failure finishes the job.
func (s *Store) DeleteConversation(ctx context.Context, id string) error {
	var files []string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		files = files[:0] // fn may be replayed
		var c store.Conversation
		switch err := getJSON(tx, bConvs, []byte(id), &c); {
		case err == nil:
			if err := deleteConvRecord(tx, &c); err != nil {
				return err
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if err := deleteConvMessages(tx, id); err != nil {
			return err
		}
		if err := deleteOwnerKeys(tx, id); err != nil {
			return err
		}
		return deletePrefix(tx, bFilesByConv, prefix(id), func(fileID, _ []byte) error {
			files = append(files, string(fileID))
			var f store.File
			switch err := getJSON(tx, bFiles, fileID, &f); {
			case err == nil:
				// The conversation entry goes with deletePrefix; the
				// others must not outlive the record.
				f.ConversationID = ""
				if err := unindexFile(tx, &f); err != nil {
					return err
				}
			case !errors.Is(err, store.ErrNotFound):
				return err
			}
			if err := tx.Bucket(bFiles).Delete(fileID); err != nil {
				return err
			}
			return deleteOwnerKeys(tx, string(fileID))
		})
	})
	if err != nil {
		return err
	}
	// Blobs go after the commit: their keys are gone already, so a blob
	// left behind by a failure here is unreadable ciphertext, not a leak.
	for _, f := range files {
		if err := s.blobs.remove(f); err != nil {
			return err
		}
	}
	return nil
}

// deleteConvRecord removes a conversation record with its index entries.
func deleteConvRecord(tx *bolt.Tx, c *store.Conversation) error {
	for _, m := range c.Members {
		if err := tx.Bucket(bConvByMember).Delete(join(m, c.ID)); err != nil {
			return err
		}
	}
	if err := unindexIdle(tx, c); err != nil {
		return err
	}
	return tx.Bucket(bConvs).Delete([]byte(c.ID))
}
