package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// reencryptCheckpoint is a reencrypt job's resume point. Users are walked
// in localpart order and each conversation is handled under its first
// local member, so when user After is finished, so is every conversation
// of every user up to it; Done and Failed are the counts at that point. A run killed later starts again from there: the messages it
// re-sealed after the checkpoint carry the current key and are counted,
// not re-sealed, a second time.
type reencryptCheckpoint struct {
	After  string `json:"after"`
	Done   int64  `json:"done"`
	Failed int64  `json:"failed"`
}

// runReencrypt re-seals every message whose key is not its conversation's
// current one (after keys rotate) under the current key, one page of
// jobBatch messages at a time. Done counts the messages looked at that are
// under the current key (re-sealed now or before), Total those there are.
func (s *Service) runReencrypt(ctx context.Context, j *store.Job, lease func() bool) error {
	var cp reencryptCheckpoint
	if j.Checkpoint != "" && json.Unmarshal([]byte(j.Checkpoint), &cp) != nil {
		cp = reencryptCheckpoint{} // unreadable: start over, which is safe
	}
	now := s.now()
	var left int64
	err := s.walkOwnedConversations(ctx, cp.After, func(c *store.Conversation) error {
		n, err := s.store.CountMessages(ctx, c.ID, 0, "", now)
		if err != nil {
			return storeError(err)
		}
		left += int64(n)
		return nil
	}, nil)
	if err != nil {
		return err
	}
	j.Done, j.Failed, j.Total = cp.Done, cp.Failed, cp.Done+cp.Failed+left
	if !s.saveJob(ctx, j) {
		return errJobStopped
	}
	err = s.walkOwnedConversations(ctx, cp.After, func(c *store.Conversation) error {
		return s.reencryptConversation(ctx, j, c, now, lease)
	}, func(localpart string) error {
		b, _ := json.Marshal(reencryptCheckpoint{After: localpart, Done: j.Done, Failed: j.Failed})
		j.Checkpoint = string(b)
		if !s.saveJob(ctx, j) {
			return errJobStopped
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Messages sent meanwhile under an old key (another node that had not
	// yet dropped its cached key) are looked at too.
	j.Total = max(j.Total, j.Done+j.Failed)
	j.Result = fmt.Sprintf("%d of %d messages under the current key, failed %d", j.Done, j.Done+j.Failed, j.Failed)
	return nil
}

// reencryptConversation re-seals one conversation's history, newest page
// first, saving progress and pausing (limits.job_batch_pause) after each
// page.
func (s *Service) reencryptConversation(ctx context.Context, j *store.Job, c *store.Conversation, now time.Time, lease func() bool) error {
	// The newest key in the store, not this node's cached one: the cache
	// may predate a rotation another node just made.
	keys, err := s.store.ListDataKeys(ctx, c.ID)
	if err != nil {
		return storeError(err)
	}
	if len(keys) == 0 {
		return nil
	}
	curID := keys[len(keys)-1].ID
	cur, err := s.dataKey(ctx, curID, c.ID)
	if err != nil {
		return err
	}
	r := store.MessageRange{Limit: jobBatch, Now: now}
	for {
		page, err := s.store.ListMessages(ctx, c.ID, r)
		if err != nil {
			return storeError(err)
		}
		for _, m := range page {
			if m.KeyID == curID || len(m.Body) == 0 {
				j.Done++
				continue
			}
			if err := s.reseal(ctx, c.ID, m, curID, cur); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.ErrorContext(ctx, "re-encryption failed", "job", j.ID, "message_id", m.ID, "err", err)
				j.Failed++
				continue
			}
			j.Done++
		}
		if len(page) > 0 {
			if !s.saveJob(ctx, j) || !lease() || !s.jobPause(ctx) {
				return errJobStopped
			}
		}
		if len(page) < r.Limit || page[0].Seq <= 1 {
			return nil
		}
		r.BeforeSeq = page[0].Seq
	}
}

// jobPause waits limits.job_batch_pause between two batches of a job; it
// reports false when the node is stopping.
func (s *Service) jobPause(ctx context.Context) bool {
	if s.opts.JobBatchPause <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(s.opts.JobBatchPause)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// walkOwnedConversations calls each for every conversation once, under
// its first local member (by localpart), for the users after the
// localpart after; userDone, if set, runs once all of a user's
// conversations are done. The order is the store's user order, so a walk
// restarted after a user goes on where the last one stopped.
func (s *Service) walkOwnedConversations(ctx context.Context, after string, each func(*store.Conversation) error, userDone func(localpart string) error) error {
	q := store.UserQuery{Limit: 500, After: after}
	for {
		users, err := s.store.ListUsers(ctx, q)
		if err != nil {
			return storeError(err)
		}
		for _, u := range users {
			q.After = u.Localpart
			convs, err := s.store.ListConversations(ctx, u.UserID)
			if err != nil {
				return storeError(err)
			}
			for _, c := range convs {
				if s.firstLocalMember(c, u.UserID) != u.UserID {
					continue
				}
				if err := each(c); err != nil {
					return err
				}
			}
			if userDone != nil {
				if err := userDone(u.Localpart); err != nil {
					return err
				}
			}
		}
		if len(users) < q.Limit {
			return nil
		}
	}
}

// firstLocalMember is the member of c with the lowest localpart among the
// users of this server (fallback when none parses: the user walked).
func (s *Service) firstLocalMember(c *store.Conversation, walked string) string {
	first, firstLP := walked, ""
	for _, m := range c.Members {
		lp, server, ok := strings.Cut(strings.TrimPrefix(m, "@"), ":")
		if !ok || server != s.opts.ServerName || !strings.HasPrefix(m, "@") {
			continue
		}
		if firstLP == "" || lp < firstLP {
			first, firstLP = m, lp
		}
	}
	return first
}

func (s *Service) reseal(ctx context.Context, conv string, m *store.Message, toID string, to []byte) error {
	old, err := s.dataKey(ctx, m.KeyID, conv)
	if err != nil {
		return err
	}
	ad := vault.MessageAD(conv, m.Seq, m.Sender)
	plain, err := vault.Open(old, m.Body, ad)
	if err != nil {
		return err
	}
	body, err := vault.Seal(to, plain, ad)
	if err != nil {
		return err
	}
	err = s.store.ResealMessage(ctx, m.ID, m.KeyID, toID, body)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		return nil // deleted or re-sealed meanwhile
	}
	return err
}
