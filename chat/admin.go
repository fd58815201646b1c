package chat

import (
	"context"
	"errors"
	"strings"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/wire"
)

// AdminUserView is a user as operators see it.
type AdminUserView = wire.AdminUser

// AdminView renders a user for the admin API.
func AdminView(u *store.User) AdminUserView {
	return AdminUserView{ID: u.ID, UserID: u.UserID, Username: u.Username, Email: u.Email, Admin: u.Admin, Deactivated: u.Deactivated, CreatedAt: u.CreatedAt}
}

// AdminListUsers lists every account, deactivated ones included.
func (s *Service) AdminListUsers(ctx context.Context, q store.UserQuery) ([]AdminUserView, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	q.Prefix, q.After = strings.ToLower(q.Prefix), strings.ToLower(q.After)
	users, err := s.store.ListUsers(ctx, q)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]AdminUserView, 0, len(users))
	for _, u := range users {
		out = append(out, AdminView(u))
	}
	return out, nil
}

// ResolveAnyUser finds a local user by internal id, user_id or username,
// deactivated or not (for operators).
func (s *Service) ResolveAnyUser(ctx context.Context, ref string) (*store.User, error) {
	var u *store.User
	var err error
	switch {
	case strings.HasPrefix(ref, "@"):
		local, _, _ := strings.Cut(ref[1:], ":")
		u, err = s.store.GetUserByLocalpart(ctx, strings.ToLower(local))
	default:
		u, err = s.store.GetUser(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			u, err = s.store.GetUserByLocalpart(ctx, strings.ToLower(ref))
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("unknown user")
	}
	if err != nil {
		return nil, storeError(err)
	}
	return u, nil
}
