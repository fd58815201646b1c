package chat

import (
	"context"
	"errors"
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
	// Files counts the files removed because they were due: voice
	// messages that expired or were played out (their messages count in
	// Messages too) and uploads that no message announced in time.
	Files int `json:"files"`
}

// PurgeOnce deletes expired messages (with their files and keys), expired
// or played-out voice messages, unannounced uploads past their time and
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
	if err := s.purgeFiles(ctx, now, &rep); err != nil {
		return rep, err
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
			if err != nil {
				s.work.setPurge("down: purge lease: "+err.Error(), s.now())
				return
			}
			if !held {
				s.work.setPurge("ok: standby, another node holds the purge lease", s.now())
				return
			}
		}
		rep, err := s.PurgeOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.work.setPurge("failing: "+err.Error(), s.now())
			}
			s.log.WarnContext(ctx, "purge pass failed; will retry", "err", err)
			return
		}
		s.work.setPurge("ok", s.now())
		if rep.Messages > 0 || rep.Conversations > 0 || rep.Files > 0 {
			s.log.InfoContext(ctx, "purged", "messages", rep.Messages, "conversations", rep.Conversations, "files", rep.Files)
		}
	})
}

// purgeFiles removes one batch of the files that are due
// (store.Files.ListDueFiles): a voice message's blob, key and record with
// its message, whose deletion both members are told of; an unannounced
// upload alone. One batch a pass, so a file that cannot be deleted never
// keeps a pass spinning.
func (s *Service) purgeFiles(ctx context.Context, now time.Time, rep *PurgeReport) error {
	files, err := s.store.ListDueFiles(ctx, now, purgeBatch)
	if err != nil {
		return storeError(err)
	}
	var msgs []*store.Message
	var due []string
	for _, f := range files {
		if f.MessageID == "" {
			// A send-file may have announced it since it was listed.
			cur, err := s.store.GetFile(ctx, f.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return storeError(err)
			}
			if f = cur; !fileDue(f, now) {
				continue
			}
		}
		if f.MessageID != "" {
			m, err := s.store.GetMessage(ctx, f.MessageID)
			switch {
			case err == nil:
				msgs = append(msgs, m)
			case !errors.Is(err, store.ErrNotFound):
				return storeError(err)
			}
		}
		due = append(due, f.ID)
	}
	// Messages first: should that fail, the files are still due and the
	// next pass retries both.
	if len(msgs) > 0 {
		if err := s.purgeMessages(ctx, msgs); err != nil {
			return err
		}
		rep.Messages += len(msgs)
	}
	for _, id := range due {
		s.discardFile(ctx, id) // again for voice: harmless
	}
	rep.Files += len(due)
	return nil
}

// fileDue reports whether purge should remove f at now.
func fileDue(f *store.File, now time.Time) bool {
	passed := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	return passed(f.ExpiresAt) || passed(f.PendingUntil)
}
