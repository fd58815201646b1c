package chat

import (
	"context"
	"time"

	"github.com/crypttalk/crypttalk/internal/every"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

const purgeBatch = 500

// PurgeReport counts what one purge pass removed.
type PurgeReport struct {
	Messages      int `json:"messages"`
	Conversations int `json:"conversations"`
}

// PurgeOnce deletes expired messages (with their files and keys) and
// conversations whose idle timer ran out, and tells connected devices.
// It is idempotent: a crash mid-way leaves work the next pass finishes,
// and readers never see expired messages in the meantime because history
// and replay filter by expiry.
func (s *Service) PurgeOnce(ctx context.Context) (PurgeReport, error) {
	var rep PurgeReport
	now := s.now()
	for {
		msgs, err := s.store.ListExpiredMessages(ctx, now, purgeBatch)
		if err != nil {
			return rep, storeError(err)
		}
		if len(msgs) == 0 {
			break
		}
		if err := s.purgeMessages(ctx, msgs); err != nil {
			return rep, err
		}
		rep.Messages += len(msgs)
		if len(msgs) < purgeBatch {
			break
		}
	}
	convs, err := s.store.ListIdleExpired(ctx, now, purgeBatch)
	if err != nil {
		return rep, storeError(err)
	}
	for _, c := range convs {
		if err := s.destroy(ctx, c); err != nil {
			return rep, err
		}
		rep.Conversations++
	}
	return rep, nil
}

// purgeMessages deletes one batch: files first (their keys make the blobs
// unreadable), then the messages, then the events.
func (s *Service) purgeMessages(ctx context.Context, msgs []*store.Message) error {
	byConv := make(map[string][]string)
	members := make(map[string][2]string)
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if m.FileID != "" && (m.Type == store.TypeFile || m.Type == store.TypeVoice) {
			s.discardFile(ctx, m.FileID)
		}
		ids = append(ids, m.ID)
		byConv[m.ConversationID] = append(byConv[m.ConversationID], m.ID)
		members[m.ConversationID] = [2]string{m.Sender, m.Recipient}
	}
	if err := s.store.DeleteMessages(ctx, ids); err != nil {
		return storeError(err)
	}
	for conv, ids := range byConv {
		m := members[conv]
		s.publishEvent(ctx, EventDeleted, map[string]any{"conversation_id": conv, "ids": ids}, m[0], m[1])
	}
	return nil
}

// RunPurge runs PurgeOnce every interval while this node holds the purge
// lease, until ctx ends. In a cluster one node at a time purges.
func (s *Service) RunPurge(ctx context.Context, locker pubsub.Locker, interval time.Duration) {
	every.Tick(ctx, interval, func(ctx context.Context) {
		if locker != nil {
			held, err := locker.TryLease(ctx, "purge", 3*interval+time.Second)
			if err != nil || !held {
				return
			}
		}
		rep, err := s.PurgeOnce(ctx)
		if err != nil {
			s.log.WarnContext(ctx, "purge pass failed; will retry", "err", err)
			return
		}
		if rep.Messages > 0 || rep.Conversations > 0 {
			s.log.InfoContext(ctx, "purged", "messages", rep.Messages, "conversations", rep.Conversations)
		}
	})
}
