package chat

import (
	"context"
	"crypto/subtle"
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
	q.Prefix, q.After = asciiLower(q.Prefix), asciiLower(q.After)
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
	byName := func(name string) (*store.User, error) {
		localpart, nerr := canonicalUsername(name)
		if nerr != nil {
			return nil, store.ErrNotFound
		}
		return s.store.GetUserByLocalpart(ctx, localpart)
	}
	switch {
	case strings.HasPrefix(ref, "@"):
		local, _, _ := strings.Cut(ref[1:], ":")
		u, err = byName(local)
	default:
		u, err = s.store.GetUser(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			u, err = byName(ref)
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

// AdminAuth checks an admin credential and returns the audit actor: the
// admin token (compared in constant time) or the access token of an active
// user with the admin flag. Wrong credentials count per client IP against
// the failed-login budget (ratelimit.login_per_user_count per
// login_window); over it, that IP is answered 429 before its token is even
// compared, so the token cannot be guessed at network speed.
func (s *Service) AdminAuth(ctx context.Context, clientIP, given, want string) (string, error) {
	key := "admin:fail:" + clientIP
	if err := s.check(ctx, key, s.opts.LoginPerUser, s.opts.LoginWindow); err != nil {
		return "", err
	}
	if want != "" && subtle.ConstantTimeCompare([]byte(given), []byte(want)) == 1 {
		return ActorAdminToken, nil
	}
	if given != "" {
		p, err := s.Authenticate(ctx, given)
		if err == nil && p.User.Admin {
			return p.User.UserID, nil
		}
		if e := AsError(err); err != nil && e.Status >= 500 {
			return "", err
		}
	}
	_ = s.allow(ctx, key, s.opts.LoginPerUser, s.opts.LoginWindow)
	return "", Unauthorized("the admin token or an admin user's access token is required")
}

// SetAdmin grants or withdraws the admin flag of a user.
func (s *Service) SetAdmin(ctx context.Context, userID string, admin bool) (*store.User, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return nil, storeError(err)
	}
	u.Admin = admin
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return nil, storeError(err)
	}
	return u, nil
}
