package bolt

import (
	"context"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// EnsureConversation creates c unless a conversation with c.ID exists, and
// returns the stored one either way.
func (s *Store) EnsureConversation(ctx context.Context, c *store.Conversation) (*store.Conversation, error) {
	if err := checkIDs(append([]string{c.ID}, c.Members...)...); err != nil {
		return nil, err
	}
	// Nearly every call finds the conversation: answer those without
	// joining a commit.
	if got, err := s.GetConversation(ctx, c.ID); err == nil {
		return got, nil
	}
	var out *store.Conversation
	err := s.update(ctx, func(tx *bolt.Tx) error {
		out = new(store.Conversation) // fn may be replayed
		if err := getJSON(tx, bConvs, []byte(c.ID), out); err == nil {
			return nil // created meanwhile by another caller
		}
		*out = *c
		for _, m := range c.Members {
			if err := tx.Bucket(bConvByMember).Put(join(m, c.ID), []byte{}); err != nil {
				return err
			}
		}
		if err := indexIdle(tx, out); err != nil {
			return err
		}
		return putJSON(tx, bConvs, []byte(c.ID), out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetConversation loads a conversation.
func (s *Store) GetConversation(ctx context.Context, id string) (*store.Conversation, error) {
	c := new(store.Conversation)
	if err := s.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bConvs, []byte(id), c) }); err != nil {
		return nil, err
	}
	return c, nil
}

// ListConversations returns userID's conversations, most recent activity
// first (ties by id, so the order is stable).
func (s *Store) ListConversations(ctx context.Context, userID string) ([]*store.Conversation, error) {
	var out []*store.Conversation
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return scanPrefix(tx, bConvByMember, prefix(userID), func(id, _ []byte) (bool, error) {
			c := new(store.Conversation)
			if err := getJSON(tx, bConvs, id, c); err != nil {
				return false, err
			}
			out = append(out, c)
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *store.Conversation) int {
		if c := b.LastMessageAt.Compare(a.LastMessageAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// modifyConv applies fn to a stored conversation inside a group commit,
// keeping the idle-timer index in step, and returns the stored result.
func (s *Store) modifyConv(ctx context.Context, id string, fn func(c *store.Conversation)) (*store.Conversation, error) {
	var out *store.Conversation
	err := s.update(ctx, func(tx *bolt.Tx) error {
		out = new(store.Conversation) // fn may be replayed: start afresh
		if err := getJSON(tx, bConvs, []byte(id), out); err != nil {
			return err
		}
		if err := unindexIdle(tx, out); err != nil {
			return err
		}
		fn(out)
		if err := indexIdle(tx, out); err != nil {
			return err
		}
		return putJSON(tx, bConvs, []byte(id), out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func indexIdle(tx *bolt.Tx, c *store.Conversation) error {
	if c.IdleExpiresAt.IsZero() {
		return nil
	}
	return tx.Bucket(bIdle).Put(timeKey(c.IdleExpiresAt, c.ID), []byte{})
}

func unindexIdle(tx *bolt.Tx, c *store.Conversation) error {
	if c.IdleExpiresAt.IsZero() {
		return nil
	}
	return tx.Bucket(bIdle).Delete(timeKey(c.IdleExpiresAt, c.ID))
}

// idleDeadline is now + seconds under a running idle timer, else zero.
func idleDeadline(c *store.Conversation, now time.Time) time.Time {
	if c.TimerMode != store.TimerIdle || c.TimerSeconds <= 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(c.TimerSeconds) * time.Second)
}

// NextSeq hands out the next seq of a conversation. The counter lives in
// the conversation record, so it is durable and never goes back, and the
// commit is shared with concurrent callers.
func (s *Store) NextSeq(ctx context.Context, id string, now time.Time) (int64, error) {
	c, err := s.modifyConv(ctx, id, func(c *store.Conversation) {
		c.LastSeq++
		c.LastMessageAt = now
		c.IdleExpiresAt = idleDeadline(c, now)
	})
	if err != nil {
		return 0, err
	}
	return c.LastSeq, nil
}

// SetTimer changes the conversation's self-destruct timer.
func (s *Store) SetTimer(ctx context.Context, id string, seconds int64, mode string, now time.Time) error {
	_, err := s.modifyConv(ctx, id, func(c *store.Conversation) {
		c.TimerSeconds, c.TimerMode = seconds, mode
		c.IdleExpiresAt = idleDeadline(c, now)
	})
	return err
}

// ListIdleExpired returns up to limit conversations whose idle deadline is
// at or before now, most overdue first.
func (s *Store) ListIdleExpired(ctx context.Context, now time.Time, limit int) ([]*store.Conversation, error) {
	limit = limitOr(limit, defaultPageLimit)
	var out []*store.Conversation
	err := s.view(ctx, func(tx *bolt.Tx) error {
		return scanDue(tx, bIdle, now, func(id []byte) (bool, error) {
			c := new(store.Conversation)
			if err := getJSON(tx, bConvs, id, c); err != nil {
				return false, err
			}
			out = append(out, c)
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkRead raises userID's read position to seq (never lowers it) and
// returns the position stored.
func (s *Store) MarkRead(ctx context.Context, id, userID string, seq int64) (int64, error) {
	c, err := s.modifyConv(ctx, id, func(c *store.Conversation) { c.ReadSeq = raise(c.ReadSeq, userID, seq) })
	if err != nil {
		return 0, err
	}
	return c.ReadSeq[userID], nil
}

// MarkDelivered raises userID's delivered position to seq (never lowers
// it) and returns the position stored.
func (s *Store) MarkDelivered(ctx context.Context, id, userID string, seq int64) (int64, error) {
	c, err := s.modifyConv(ctx, id, func(c *store.Conversation) { c.DeliveredSeq = raise(c.DeliveredSeq, userID, seq) })
	if err != nil {
		return 0, err
	}
	return c.DeliveredSeq[userID], nil
}

// raise sets pos[user] to seq if that is higher, allocating pos if needed.
func raise(pos map[string]int64, user string, seq int64) map[string]int64 {
	if pos == nil {
		pos = map[string]int64{}
	}
	if seq > pos[user] {
		pos[user] = seq
	}
	return pos
}
