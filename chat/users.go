package chat

import (
	"context"
	"errors"
	"strings"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/wire"
)

// UserView is the contract's `user`.
type UserView = wire.User

// ViewUser renders u for viewer; the email is shown only to its owner and
// to admins.
func ViewUser(u *store.User, viewer *store.User, online bool) UserView {
	v := UserView{
		ID: u.ID, UserID: u.UserID, Username: u.Username,
		AvatarImage: u.AvatarImage, IsAvatarImageSet: u.AvatarSet, Online: online,
	}
	if viewer != nil && (viewer.ID == u.ID || viewer.Admin) {
		v.Email = u.Email
	}
	return v
}

// Me renders the caller.
func (s *Service) Me(ctx context.Context, p *Principal) UserView {
	return ViewUser(p.User, p.User, s.isOnline(ctx, p.User.UserID))
}

// UserList is a page of users.
type UserList struct {
	Query string
	After string // exclusive localpart cursor
	Limit int
}

// ListUsers lists everyone but the caller, optionally filtered by a search
// string, paged by localpart.
func (s *Service) ListUsers(ctx context.Context, p *Principal, q UserList) ([]UserView, error) {
	if q.Limit <= 0 || q.Limit > s.opts.HistoryMax {
		q.Limit = 50
	}
	if srv := s.remoteServer(strings.TrimSpace(q.Query)); srv != "" && q.After == "" {
		// Another server's user id: ask that server for the profile.
		if err := s.allow(ctx, "remote-search:user:"+p.User.ID, remoteSearchPerUser, remoteSearchWindow); err != nil {
			return nil, err
		}
		u, err := s.resolveRemote(ctx, strings.TrimSpace(q.Query), srv)
		if isNotFound(err) {
			return []UserView{}, nil
		}
		if err != nil {
			return nil, err
		}
		return []UserView{ViewUser(u, p.User, false)}, nil
	}
	if len(q.Query) > maxUsername {
		return nil, Invalid("search text is too long")
	}
	users, err := s.store.ListUsers(ctx, store.UserQuery{Prefix: asciiLower(q.Query), After: asciiLower(q.After), Limit: q.Limit + 1})
	if err != nil {
		return nil, storeError(err)
	}
	ids := make([]string, 0, len(users))
	for _, u := range users {
		ids = append(ids, u.UserID)
	}
	online, err := s.bus.Presence().Online(ctx, ids)
	if err != nil {
		s.log.WarnContext(ctx, "presence unavailable", "err", err)
	}
	out := make([]UserView, 0, len(users))
	for _, u := range users {
		if u.ID == p.User.ID || u.Deactivated {
			continue
		}
		if len(out) == q.Limit {
			break
		}
		out = append(out, ViewUser(u, p.User, online[u.UserID]))
	}
	return out, nil
}

func (s *Service) isOnline(ctx context.Context, userID string) bool {
	m, err := s.bus.Presence().Online(ctx, []string{userID})
	return err == nil && m[userID]
}

// CheckSelf enforces the seed's `:userId` path parameter and `from` body
// field: when present they must name the caller (either id form).
func CheckSelf(p *Principal, ref string) error {
	if ref == "" || ref == p.User.ID || ref == p.User.UserID {
		return nil
	}
	return Forbidden("you can only act as yourself")
}

// ResolveUser finds a local user by internal id or user_id.
func (s *Service) ResolveUser(ctx context.Context, ref string) (*store.User, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, Invalid("a recipient is required")
	}
	if len(ref) > 300 {
		return nil, NotFound("unknown user")
	}
	var u *store.User
	var err error
	if strings.HasPrefix(ref, "@") {
		local, server, ok := strings.Cut(ref[1:], ":")
		if !ok || local == "" {
			return nil, Invalid("user ids look like @name:server")
		}
		if server != s.opts.ServerName {
			return s.resolveRemote(ctx, ref, server)
		}
		localpart, nerr := canonicalUsername(local)
		if nerr != nil {
			return nil, NotFound("unknown user")
		}
		u, err = s.store.GetUserByLocalpart(ctx, localpart)
	} else {
		u, err = s.store.GetUser(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Deactivated) {
		return nil, NotFound("unknown user")
	}
	if err != nil {
		return nil, storeError(err)
	}
	return u, nil
}
