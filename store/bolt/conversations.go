package bolt

import (
	"context"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// EnsureConversation creates c unless it exists and returns the stored one.
func (s *Store) EnsureConversation(ctx context.Context, c *store.Conversation) (*store.Conversation, error) {
	if got, err := s.GetConversation(ctx, c.ID); err == nil {
		return got, nil
	}
	var out store.Conversation
	err := s.update(ctx, func(tx *bolt.Tx) error {
		convs := tx.Bucket(bConvs)
		if err := getJSON(convs, []byte(c.ID), &out); err == nil {
			return nil
		}
		out = *c
		for _, m := range c.Members {
			if err := tx.Bucket(bConvByMember).Put(join(m, c.ID), nil); err != nil {
				return err
			}
		}
		return putJSON(convs, []byte(c.ID), &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetConversation loads a conversation.
func (s *Store) GetConversation(ctx context.Context, id string) (*store.Conversation, error) {
	var c store.Conversation
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bConvs), []byte(id), &c) }); err != nil {
		return nil, err
	}
	return &c, nil
}

// ListConversations returns userID's conversations, newest activity first.
func (s *Store) ListConversations(ctx context.Context, userID string) ([]*store.Conversation, error) {
	var out []*store.Conversation
	err := s.view(ctx, func(tx *bolt.Tx) error {
		convs := tx.Bucket(bConvs)
		p := prefix(userID)
		c := tx.Bucket(bConvByMember).Cursor()
		for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
			var conv store.Conversation
			if err := getJSON(convs, k[len(p):], &conv); err != nil {
				return err
			}
			out = append(out, &conv)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].LastMessageAt.After(out[j].LastMessageAt) })
	return out, err
}

// modifyConv applies fn to a stored conversation inside a group commit and
// keeps the idle-timer index in step.
func (s *Store) modifyConv(ctx context.Context, id string, fn func(c *store.Conversation)) (*store.Conversation, error) {
	var out store.Conversation
	err := s.update(ctx, func(tx *bolt.Tx) error {
		convs, idle := tx.Bucket(bConvs), tx.Bucket(bIdle)
		if err := getJSON(convs, []byte(id), &out); err != nil {
			return err
		}
		if !out.IdleExpiresAt.IsZero() {
			if err := idle.Delete(timeKey(out.IdleExpiresAt, id)); err != nil {
				return err
			}
		}
		fn(&out)
		if !out.IdleExpiresAt.IsZero() {
			if err := idle.Put(timeKey(out.IdleExpiresAt, id), nil); err != nil {
				return err
			}
		}
		return putJSON(convs, []byte(id), &out)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// NextSeq hands out the next seq durably.
func (s *Store) NextSeq(ctx context.Context, id string, now time.Time) (int64, error) {
	c, err := s.modifyConv(ctx, id, func(c *store.Conversation) {
		c.LastSeq++
		c.LastMessageAt = now
		if c.TimerMode == store.TimerIdle && c.TimerSeconds > 0 {
			c.IdleExpiresAt = now.Add(time.Duration(c.TimerSeconds) * time.Second)
		}
	})
	if err != nil {
		return 0, err
	}
	return c.LastSeq, nil
}

// SetTimer changes the conversation's timer.
func (s *Store) SetTimer(ctx context.Context, id string, seconds int64, mode string, now time.Time) error {
	_, err := s.modifyConv(ctx, id, func(c *store.Conversation) {
		c.TimerSeconds, c.TimerMode = seconds, mode
		c.IdleExpiresAt = time.Time{}
		if mode == store.TimerIdle && seconds > 0 {
			c.IdleExpiresAt = now.Add(time.Duration(seconds) * time.Second)
		}
	})
	return err
}

// ListIdleExpired lists conversations whose idle timer ran out.
func (s *Store) ListIdleExpired(ctx context.Context, now time.Time, limit int) ([]*store.Conversation, error) {
	var out []*store.Conversation
	end := timeKey(now, "\xff")
	err := s.view(ctx, func(tx *bolt.Tx) error {
		convs := tx.Bucket(bConvs)
		c := tx.Bucket(bIdle).Cursor()
		for k, _ := c.First(); k != nil && string(k) <= string(end) && len(out) < limit; k, _ = c.Next() {
			var conv store.Conversation
			if err := getJSON(convs, k[8:], &conv); err != nil {
				return err
			}
			out = append(out, &conv)
		}
		return nil
	})
	return out, err
}

// MarkRead raises userID's read position.
func (s *Store) MarkRead(ctx context.Context, id, userID string, seq int64) (int64, error) {
	c, err := s.modifyConv(ctx, id, func(c *store.Conversation) {
		if c.ReadSeq == nil {
			c.ReadSeq = map[string]int64{}
		}
		c.ReadSeq[userID] = max(c.ReadSeq[userID], seq)
	})
	if err != nil {
		return 0, err
	}
	return c.ReadSeq[userID], nil
}

// MarkDelivered raises userID's delivered position.
func (s *Store) MarkDelivered(ctx context.Context, id, userID string, seq int64) (int64, error) {
	c, err := s.modifyConv(ctx, id, func(c *store.Conversation) {
		if c.DeliveredSeq == nil {
			c.DeliveredSeq = map[string]int64{}
		}
		c.DeliveredSeq[userID] = max(c.DeliveredSeq[userID], seq)
	})
	if err != nil {
		return 0, err
	}
	return c.DeliveredSeq[userID], nil
}

// DeleteConversation removes a conversation with its messages, data keys
// and files.
func (s *Store) DeleteConversation(ctx context.Context, id string) error {
	var files []string
	err := s.update(ctx, func(tx *bolt.Tx) error {
		files = files[:0]
		var c store.Conversation
		if err := getJSON(tx.Bucket(bConvs), []byte(id), &c); err != nil {
			if err == store.ErrNotFound {
				return nil
			}
			return err
		}
		if err := deleteConvMessages(tx, id); err != nil {
			return err
		}
		if err := deleteOwnerKeys(tx, id); err != nil {
			return err
		}
		var err error
		if files, err = deleteConvFiles(tx, id); err != nil {
			return err
		}
		for _, m := range c.Members {
			if err := tx.Bucket(bConvByMember).Delete(join(m, id)); err != nil {
				return err
			}
		}
		if !c.IdleExpiresAt.IsZero() {
			if err := tx.Bucket(bIdle).Delete(timeKey(c.IdleExpiresAt, id)); err != nil {
				return err
			}
		}
		return tx.Bucket(bConvs).Delete([]byte(id))
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := s.blobs.DeleteBlob(ctx, f); err != nil {
			return err
		}
	}
	return nil
}
