package chat

import (
	"bytes"
	"context"
	"errors"
	"unicode/utf8"

	"github.com/crypttalk/crypttalk/store"
)

// NoticeUsername is the account server notices come from (as Synapse's
// server notices): a conversation like any other, so clients need nothing
// new to show them.
const NoticeUsername = "notices"

// noticeMark is the notices account's password hash: not a bcrypt hash,
// so nobody logs in as it, and it tells the account from a user who
// registered the name first.
var noticeMark = []byte("!server-notices: no login")

// noticeUser returns the notices account, creating it on first use.
func (s *Service) noticeUser(ctx context.Context) (*store.User, error) {
	u, err := s.store.GetUserByLocalpart(ctx, NoticeUsername)
	if errors.Is(err, store.ErrNotFound) {
		u = &store.User{
			ID: store.NewID(), UserID: "@" + NoticeUsername + ":" + s.opts.ServerName, Username: NoticeUsername,
			Localpart: NoticeUsername, Email: NoticeUsername + "@" + s.opts.ServerName + ".invalid",
			PasswordHash: noticeMark, CreatedAt: s.now().UTC(),
		}
		if err = s.store.PutUser(ctx, u); errors.Is(err, store.ErrConflict) {
			u, err = s.store.GetUserByLocalpart(ctx, NoticeUsername) // another node made it
		}
	}
	if err != nil {
		return nil, storeError(err)
	}
	if !bytes.Equal(u.PasswordHash, noticeMark) {
		return nil, Conflict(CodeUserTaken, "the username "+NoticeUsername+" belongs to a user; server notices need it (rename or deactivate that account)")
	}
	return u, nil
}

// NoticeReport counts the notices sent and the users skipped.
type NoticeReport struct {
	Sent    int      `json:"sent"`
	Skipped int      `json:"skipped"` // deactivated users (with --all)
	Failed  []string `json:"failed,omitempty"`
}

// SendNotice sends text from the notices account to each user named in
// to, or to every active local user when all is set.
func (s *Service) SendNotice(ctx context.Context, to []string, all bool, text string) (*NoticeReport, error) {
	if text == "" || !utf8.ValidString(text) {
		return nil, Invalid("notice text is required and must be UTF-8")
	}
	if len(text) > s.opts.MessageBytes {
		return nil, TooLarge("notice text is larger than the message limit")
	}
	if all == (len(to) > 0) {
		return nil, Invalid("name users or all, not both or neither")
	}
	from, err := s.noticeUser(ctx)
	if err != nil {
		return nil, err
	}
	rep := &NoticeReport{Failed: []string{}}
	send := func(u *store.User) {
		_, err := s.appendMessage(ctx, newMessage{sender: from.UserID, recipient: u.UserID, typ: store.TypeText, body: sealedBody{Text: text}})
		if err != nil {
			s.log.WarnContext(ctx, "server notice not sent", "user_id", u.UserID, "err", err)
			rep.Failed = append(rep.Failed, u.UserID)
			return
		}
		rep.Sent++
	}
	if !all {
		var users []*store.User
		for _, ref := range to {
			u, err := s.ResolveAnyUser(ctx, ref)
			if err != nil {
				return nil, NotFound("unknown user " + ref)
			}
			if u.ID == from.ID {
				return nil, Invalid("the notices account cannot be sent a notice")
			}
			users = append(users, u)
		}
		for _, u := range users {
			send(u)
		}
		return rep, nil
	}
	q := store.UserQuery{Limit: 500}
	for {
		page, err := s.store.ListUsers(ctx, q)
		if err != nil {
			return rep, storeError(err)
		}
		for _, u := range page {
			q.After = u.Localpart
			switch {
			case u.ID == from.ID:
			case u.Deactivated:
				rep.Skipped++
			default:
				send(u)
			}
		}
		if len(page) < q.Limit {
			return rep, nil
		}
	}
}
