package chat

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/wire"
)

// AdminUserView is a user as operators see it.
type AdminUserView = wire.AdminUser

// AdminView renders a user for the admin API.
func AdminView(u *store.User) AdminUserView {
	return AdminUserView{ID: u.ID, UserID: u.UserID, Username: u.Username, Email: u.Email, Admin: u.Admin, Deactivated: u.Deactivated, CreatedAt: u.CreatedAt}
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

// UserFilter narrows an admin user listing; nil fields do not filter.
type UserFilter struct {
	Deactivated *bool
	Admin       *bool
}

func (f UserFilter) match(u *store.User) bool {
	return (f.Deactivated == nil || *f.Deactivated == u.Deactivated) && (f.Admin == nil || *f.Admin == u.Admin)
}

// maxFilterScan bounds the users one filtered page may scan, so that a
// filter matching almost nobody costs a bounded amount per request; the
// caller continues from the cursor it is given.
const maxFilterScan = 10000

// AdminFindUsers is AdminListUsers with filters. It answers the page and
// the cursor of the next one ("" at the end): with a filter, the last user
// scanned may not be on the page.
func (s *Service) AdminFindUsers(ctx context.Context, q store.UserQuery, f UserFilter) ([]AdminUserView, string, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	want := q.Limit
	q.Prefix, q.After = asciiLower(q.Prefix), asciiLower(q.After)
	// A query with an @ that is not a user_id ("@name:server") searches
	// emails: alice@example.org, or @example.org for a whole domain. The
	// store filters names only, so this scans, bounded like any filter.
	email := ""
	if strings.Contains(q.Prefix, "@") && !strings.Contains(q.Prefix, ":") {
		email, q.Prefix = q.Prefix, ""
	}
	out := []AdminUserView{}
	for scanned := 0; scanned < maxFilterScan; {
		users, err := s.store.ListUsers(ctx, q)
		if err != nil {
			return nil, "", storeError(err)
		}
		for _, u := range users {
			q.After = u.Localpart
			if f.match(u) && (email == "" || strings.Contains(asciiLower(u.Email), email)) {
				out = append(out, AdminView(u))
				if len(out) == want {
					return out, q.After, nil
				}
			}
		}
		scanned += len(users)
		if len(users) < q.Limit {
			return out, "", nil
		}
	}
	return out, q.After, nil
}

// AdminCreateUser creates an account for an operator: the checks of
// Register, without its per-IP limit and without a session.
func (s *Service) AdminCreateUser(ctx context.Context, username, email, password string, admin bool) (*store.User, error) {
	localpart, err := validUsername(username)
	if err != nil {
		return nil, err
	}
	email, err = validEmail(email)
	if err != nil {
		return nil, err
	}
	if err := validPassword(password); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword(prehash(password), s.opts.BcryptCost)
	if err != nil {
		return nil, Internal(err)
	}
	u := &store.User{
		ID: store.NewID(), UserID: "@" + localpart + ":" + s.opts.ServerName, Username: username, Localpart: localpart,
		Email: email, PasswordHash: hash, Admin: admin, CreatedAt: s.now().UTC(),
	}
	if err := s.store.PutUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, s.whichTaken(ctx, localpart)
		}
		return nil, storeError(err)
	}
	s.log.InfoContext(ctx, "user created by an operator", "user_id", u.UserID, "admin", admin)
	return u, nil
}

// AdminResetPassword sets a new password and revokes every session (and
// socket) of the user, on every node.
func (s *Service) AdminResetPassword(ctx context.Context, userID, password string) (int, error) {
	if err := validPassword(password); err != nil {
		return 0, err
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return 0, storeError(err)
	}
	hash, err := bcrypt.GenerateFromPassword(prehash(password), s.opts.BcryptCost)
	if err != nil {
		return 0, Internal(err)
	}
	u.PasswordHash = hash
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return 0, storeError(err)
	}
	return s.RevokeUser(ctx, userID)
}

// AdminSession is a session as operators see it: never the token, only
// the start of its hash, which names it in logs too.
type AdminSession struct {
	ID          string    `json:"id"`
	DeviceID    string    `json:"device_id"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
	LastSeenAt  time.Time `json:"last_seen_at,omitzero"`
	LastIP      string    `json:"last_ip"`
	UserAgent   string    `json:"user_agent"`
	ExpiresAt   time.Time `json:"expires_at"`
	Expired     bool      `json:"expired"`
}

// AdminSessions lists a user's sessions, oldest first.
func (s *Service) AdminSessions(ctx context.Context, userID string) ([]AdminSession, error) {
	ss, err := s.store.ListUserSessions(ctx, userID)
	if err != nil {
		return nil, storeError(err)
	}
	now := s.now()
	out := make([]AdminSession, 0, len(ss))
	for _, x := range ss {
		store.FillDevice(x)
		out = append(out, AdminSession{
			ID: x.TokenHash[:min(12, len(x.TokenHash))], DeviceID: x.DeviceID, DisplayName: x.DisplayName, CreatedAt: x.CreatedAt,
			LastSeenAt: x.LastSeenAt, LastIP: x.LastIP, UserAgent: x.UserAgent, ExpiresAt: x.ExpiresAt, Expired: !now.Before(x.ExpiresAt),
		})
	}
	slices.SortFunc(out, func(a, b AdminSession) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// AdminCounts counts the store's records; active users are those who
// opened a session in the last 24 hours / 30 days.
func (s *Service) AdminCounts(ctx context.Context) (*store.Counts, error) {
	now := s.now()
	n, err := s.store.Count(ctx, now.Add(-24*time.Hour), now.Add(-30*24*time.Hour))
	if err != nil {
		return nil, storeError(err)
	}
	return n, nil
}

// dryRunCap bounds what a dry run lists of each kind; above it the counts
// say "at least" (Capped).
const dryRunCap = 100000

// PurgeDryRun counts what PurgeOnce would remove now, changing nothing.
func (s *Service) PurgeDryRun(ctx context.Context) (PurgeReport, bool, error) {
	now := s.now()
	msgs, err := s.store.ListExpiredMessages(ctx, now, dryRunCap)
	if err != nil {
		return PurgeReport{}, false, storeError(err)
	}
	files, err := s.store.ListDueFiles(ctx, now, dryRunCap)
	if err != nil {
		return PurgeReport{}, false, storeError(err)
	}
	convs, err := s.store.ListIdleExpired(ctx, now, dryRunCap)
	if err != nil {
		return PurgeReport{}, false, storeError(err)
	}
	capped := len(msgs) == dryRunCap || len(files) == dryRunCap || len(convs) == dryRunCap
	return PurgeReport{Messages: len(msgs), Files: len(files), Conversations: len(convs)}, capped, nil
}

// VerifyReport says, per master key version, how many data keys open
// under the configured keyring and how many do not.
type VerifyReport struct {
	Opened map[string]int64 `json:"opened"`
	Failed map[string]int64 `json:"failed"`
	// FailedIDs are the first failing key ids, for the log and the runbook.
	FailedIDs []string `json:"failed_ids"`
}

// VerifyKeys unwraps every data key with the configured keyring: after a
// rotation it proves that removing a version loses nothing.
func (s *Service) VerifyKeys(ctx context.Context) (*VerifyReport, error) {
	ring := s.Keyring()
	rep := &VerifyReport{Opened: map[string]int64{}, Failed: map[string]int64{}, FailedIDs: []string{}}
	after := ""
	for {
		// No key is wrapped by the empty version: this lists them all.
		keys, err := s.store.ListDataKeysNotWrappedBy(ctx, "", after, 500)
		if err != nil {
			return nil, storeError(err)
		}
		for _, k := range keys {
			after = k.ID
			if _, err := ring.Unwrap(k.MasterVersion, k.Wrapped, k.Owner); err != nil {
				rep.Failed[k.MasterVersion]++
				if len(rep.FailedIDs) < 100 {
					rep.FailedIDs = append(rep.FailedIDs, k.ID)
				}
				continue
			}
			rep.Opened[k.MasterVersion]++
		}
		if len(keys) < 500 {
			return rep, nil
		}
	}
}

// DeleteReport says what deleting a user removed.
type DeleteReport struct {
	UserID        string `json:"user_id"`
	Conversations int    `json:"conversations"`
	Sessions      int    `json:"sessions"`
}

// AdminDeleteUser removes an account with everything it wrote: its
// sessions (sockets close on every node), every conversation it is in
// with their messages, files and data keys (peers get
// conversation-destroyed), then the record, which frees the name.
// Uploads never sent expire on their own (limits.pending_upload_ttl).
func (s *Service) AdminDeleteUser(ctx context.Context, userID string) (*DeleteReport, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return nil, storeError(err)
	}
	// Close sockets and refuse logins first, so nothing new is written
	// while the conversations go (deactivation revokes what a login in
	// between would open).
	n, err := s.RevokeUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	if _, err := s.SetDeactivated(ctx, u.ID, true); err != nil {
		return nil, err
	}
	rep := &DeleteReport{UserID: u.UserID, Sessions: n}
	convs, err := s.store.ListConversations(ctx, u.UserID)
	if err != nil {
		return rep, storeError(err)
	}
	for _, c := range convs {
		if err := s.destroy(ctx, c); err != nil {
			return rep, err
		}
		rep.Conversations++
	}
	if err := s.store.DeleteUser(ctx, u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return rep, storeError(err)
	}
	s.log.InfoContext(ctx, "user deleted by an operator", "user_id", u.UserID, "conversations", rep.Conversations)
	return rep, nil
}

// PurgeScope is what an operator purge removes, or with DryRun would.
type PurgeScope struct {
	Conversations int  `json:"conversations"`
	Messages      int  `json:"messages"`
	Files         int  `json:"files"`
	DryRun        bool `json:"dry_run"`
}

// AdminPurgeConversations destroys the given conversations (messages,
// files, data keys; members get conversation-destroyed), or with dry only
// counts what they hold.
func (s *Service) AdminPurgeConversations(ctx context.Context, convs []*store.Conversation, dry bool) (*PurgeScope, error) {
	rep := &PurgeScope{DryRun: dry}
	now := s.now()
	for _, c := range convs {
		n, err := s.store.CountMessages(ctx, c.ID, 0, "", now)
		if err != nil {
			return rep, storeError(err)
		}
		files, err := s.store.ListConversationFiles(ctx, c.ID)
		if err != nil {
			return rep, storeError(err)
		}
		if !dry {
			if err := s.destroy(ctx, c); err != nil {
				return rep, err
			}
		}
		rep.Conversations++
		rep.Messages += n
		rep.Files += len(files)
	}
	return rep, nil
}

// AdminConversationOf is the conversation between two local users (any
// id form); NotFound if they have none.
func (s *Service) AdminConversationOf(ctx context.Context, a, b string) (*store.Conversation, error) {
	ua, err := s.ResolveAnyUser(ctx, a)
	if err != nil {
		return nil, err
	}
	ub, err := s.ResolveAnyUser(ctx, b)
	if err != nil {
		return nil, err
	}
	c, err := s.store.GetConversation(ctx, ConversationID(ua.UserID, ub.UserID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, NotFound("no conversation between " + ua.UserID + " and " + ub.UserID)
	}
	if err != nil {
		return nil, storeError(err)
	}
	return c, nil
}

// AdminConversationsOf lists every conversation a user is in.
func (s *Service) AdminConversationsOf(ctx context.Context, ref string) ([]*store.Conversation, error) {
	u, err := s.ResolveAnyUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	cs, err := s.store.ListConversations(ctx, u.UserID)
	if err != nil {
		return nil, storeError(err)
	}
	return cs, nil
}

// RotateDataKeys gives every conversation a new data key: new messages
// and files are sealed under it, old ones stay readable under their own
// (each record names its key). Every node forgets its cached current key.
func (s *Service) RotateDataKeys(ctx context.Context) (int, error) {
	n := 0
	err := s.allConversations(ctx, func(c *store.Conversation) error {
		if _, _, err := s.newDataKey(ctx, c.ID); err != nil {
			return err
		}
		s.forgetKeys(ctx, c.ID)
		n++
		return nil
	})
	return n, err
}

// allConversations walks every conversation of this server once.
func (s *Service) allConversations(ctx context.Context, each func(*store.Conversation) error) error {
	return s.walkOwnedConversations(ctx, "", each, nil)
}

// PurgeOlderThan deletes every message (and the file it carries) created
// before cutoff, in every conversation; members get messages-deleted. With
// dry it only counts.
func (s *Service) PurgeOlderThan(ctx context.Context, cutoff time.Time, dry bool) (*PurgeScope, error) {
	rep := &PurgeScope{DryRun: dry}
	now := s.now()
	err := s.allConversations(ctx, func(c *store.Conversation) error {
		var old []*store.Message
		// Pages come newest first, each oldest first inside: walk back
		// until the start of the conversation.
		r := store.MessageRange{Limit: 500, Now: now}
		for {
			page, err := s.store.ListMessages(ctx, c.ID, r)
			if err != nil {
				return storeError(err)
			}
			for _, m := range page {
				if m.CreatedAt.Before(cutoff) {
					old = append(old, m)
				}
			}
			if len(page) < r.Limit || page[0].Seq <= 1 {
				break
			}
			r.BeforeSeq = page[0].Seq
		}
		if len(old) == 0 {
			return nil
		}
		rep.Conversations++
		rep.Messages += len(old)
		for _, m := range old {
			if m.FileID != "" {
				rep.Files++
			}
		}
		if dry {
			return nil
		}
		for len(old) > 0 {
			n := min(len(old), purgeBatch)
			if err := s.purgeMessages(ctx, old[:n]); err != nil {
				return err
			}
			old = old[n:]
		}
		return nil
	})
	return rep, err
}
