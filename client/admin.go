package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/crypttalk/crypttalk/wire"
)

// Admin talks to a node's admin API (/_admin/v1) with the admin token. It
// is what `ctl` uses; it never touches the database.
type Admin struct{ c *Client }

// NewAdmin returns an admin client for baseURL with the admin token.
func NewAdmin(baseURL, token string) *Admin {
	c := New(baseURL)
	c.Token = token
	return &Admin{c: c}
}

// AdminUser is a user as operators see it.
type AdminUser = wire.AdminUser

// Health is the readiness of a node and its dependencies.
type Health struct {
	Status       bool              `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
	Msg          string            `json:"msg,omitempty"`
}

// Health reports readiness. An unhealthy node (503) answers its state and
// an error, so callers can show which dependency is down.
func (a *Admin) Health(ctx context.Context) (*Health, error) {
	var h Health
	err := a.c.Do(ctx, "GET", "/_admin/v1/health", nil, &h)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == 503 {
		h.Msg = ae.Msg
		_ = decodeInto(ae.Body, &h)
		return &h, err
	}
	return &h, err
}

// Users lists accounts, deactivated ones too.
func (a *Admin) Users(ctx context.Context, q, after string, limit int) ([]AdminUser, error) {
	us, _, err := a.FindUsers(ctx, UserQuery{Query: q, After: after, Limit: limit})
	return us, err
}

// UserQuery selects a page of users; nil filters do not filter.
type UserQuery struct {
	Query, After string
	Limit        int
	Deactivated  *bool
	Admin        *bool
}

// FindUsers answers a page of users and the cursor of the next page ("" at
// the end).
func (a *Admin) FindUsers(ctx context.Context, q UserQuery) ([]AdminUser, string, error) {
	v := url.Values{}
	if q.Query != "" {
		v.Set("q", q.Query)
	}
	if q.After != "" {
		v.Set("after", q.After)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Deactivated != nil {
		v.Set("deactivated", strconv.FormatBool(*q.Deactivated))
	}
	if q.Admin != nil {
		v.Set("admin", strconv.FormatBool(*q.Admin))
	}
	out := []AdminUser{}
	h, err := a.c.doHeader(ctx, "GET", "/_admin/v1/users?"+v.Encode(), nil, &out)
	if err != nil {
		return nil, "", err
	}
	return out, h.Get("X-Next-After"), nil
}

// UserDetail is one user and the number of their live sessions.
type UserDetail struct {
	User     AdminUser `json:"user"`
	Sessions int       `json:"sessions"`
}

// User shows one user (by _id, user_id or username).
func (a *Admin) User(ctx context.Context, user string) (*UserDetail, error) {
	var out UserDetail
	if err := a.c.Do(ctx, "GET", "/_admin/v1/users/"+url.PathEscape(user), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateUser creates an account (no session is opened).
func (a *Admin) CreateUser(ctx context.Context, username, email, password string, admin bool) (*AdminUser, error) {
	body := map[string]any{"username": username, "email": email, "password": password, "admin": admin}
	return a.userCall(ctx, "POST", "/_admin/v1/users", body)
}

// ResetPassword sets a user's password and answers how many sessions it
// revoked.
func (a *Admin) ResetPassword(ctx context.Context, user, password string) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	return out.Revoked, a.c.Do(ctx, "POST", "/_admin/v1/users/"+url.PathEscape(user)+"/reset-password", map[string]string{"password": password}, &out)
}

// Session is a user's session as the admin API shows it (never the token).
type Session struct {
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

// Sessions lists a user's sessions, oldest first.
func (a *Admin) Sessions(ctx context.Context, user string) ([]Session, error) {
	out := struct {
		Sessions []Session `json:"sessions"`
	}{Sessions: []Session{}}
	return out.Sessions, a.c.Do(ctx, "GET", "/_admin/v1/users/"+url.PathEscape(user)+"/sessions", nil, &out)
}

// Counts are the store's record counts.
type Counts struct {
	Users         int64            `json:"users"`
	Deactivated   int64            `json:"deactivated"`
	Admins        int64            `json:"admins"`
	ActiveDay     int64            `json:"active_24h"`
	ActiveMonth   int64            `json:"active_30d"`
	Conversations int64            `json:"conversations"`
	Messages      int64            `json:"messages"`
	Files         int64            `json:"files"`
	FileBytes     int64            `json:"file_bytes"`
	FileKeys      int64            `json:"file_keys"`
	DataKeys      map[string]int64 `json:"data_keys"`
}

// Stats are the counts and the open sockets of the node that answered.
type Stats struct {
	Counts      Counts `json:"counts"`
	Connections int    `json:"connections"` // of the node that answered
	// Nodes are every node's sockets, from the node registry.
	Nodes []NodeConnections `json:"nodes"`
}

// Stats counts users, conversations, messages, files and sockets.
func (a *Admin) Stats(ctx context.Context) (*Stats, error) {
	var out Stats
	return &out, a.c.Do(ctx, "GET", "/_admin/v1/stats", nil, &out)
}

// KeysStatus is the keyring and what each master key version wraps.
type KeysStatus struct {
	Active     string           `json:"active"`
	Configured []string         `json:"configured"`
	DataKeys   map[string]int64 `json:"data_keys"`
	FileKeys   int64            `json:"file_keys"`
}

// KeysStatus reports the keyring and the data keys per master key version.
func (a *Admin) KeysStatus(ctx context.Context) (*KeysStatus, error) {
	var out KeysStatus
	return &out, a.c.Do(ctx, "GET", "/_admin/v1/keys/status", nil, &out)
}

// SetActive deactivates (revoking every session) or reactivates a user,
// named by _id, user_id or username.
func (a *Admin) SetActive(ctx context.Context, user string, active bool) (*AdminUser, error) {
	verb := "deactivate"
	if active {
		verb = "reactivate"
	}
	return a.userCall(ctx, "POST", "/_admin/v1/users/"+url.PathEscape(user)+"/"+verb, nil)
}

// Revoke ends every session of a user and returns how many.
func (a *Admin) Revoke(ctx context.Context, user string) (int, error) {
	var out struct {
		Revoked int `json:"revoked"`
	}
	return out.Revoked, a.c.Do(ctx, "POST", "/_admin/v1/users/"+url.PathEscape(user)+"/revoke", nil, &out)
}

// SetAdmin grants (make-admin) or withdraws (revoke-admin) the admin flag.
func (a *Admin) SetAdmin(ctx context.Context, user string, admin bool) (*AdminUser, error) {
	verb := "revoke-admin"
	if admin {
		verb = "make-admin"
	}
	return a.userCall(ctx, "POST", "/_admin/v1/users/"+url.PathEscape(user)+"/"+verb, nil)
}

// userCall is a request whose answer is {"user": ...}.
func (a *Admin) userCall(ctx context.Context, method, path string, body any) (*AdminUser, error) {
	var out struct {
		User AdminUser `json:"user"`
	}
	if err := a.c.Do(ctx, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out.User, nil
}

// AuditEntry is one admin action as the audit log keeps it.
type AuditEntry struct {
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Target   string    `json:"target,omitempty"`
	ClientIP string    `json:"client_ip"`
	Status   int       `json:"status"`
	Result   string    `json:"result"`
}

// AuditQuery filters the audit log; zero fields do not filter. Before is
// the ID of the last entry of the previous page.
type AuditQuery struct {
	Actor, Action string
	Since, Until  time.Time
	Before        string
	Limit         int
}

// Audit lists audit entries newest first.
func (a *Admin) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("actor", q.Actor)
	set("action", q.Action)
	set("before", q.Before)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out struct {
		Entries []AuditEntry `json:"entries"`
	}
	if err := a.c.Do(ctx, "GET", "/_admin/v1/audit?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	if out.Entries == nil {
		out.Entries = []AuditEntry{}
	}
	return out.Entries, nil
}

// RewrapReport is the answer of a re-wrap.
type RewrapReport struct {
	Rewrapped int    `json:"rewrapped"`
	Failed    int    `json:"failed"`
	Active    string `json:"active"`
}

// Rewrap re-wraps every data key under the active master key.
func (a *Admin) Rewrap(ctx context.Context) (*RewrapReport, error) {
	var out RewrapReport
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/keys/rewrap", nil, &out)
}

// PurgeReport is the answer of a purge pass, or of a dry run (what a pass
// would remove; Capped: at least that many).
type PurgeReport struct {
	Messages      int  `json:"messages"`
	Conversations int  `json:"conversations"`
	Files         int  `json:"files"`
	DryRun        bool `json:"dry_run"`
	Capped        bool `json:"capped,omitempty"`
}

// Purge runs one purge pass now.
func (a *Admin) Purge(ctx context.Context) (*PurgeReport, error) {
	var out PurgeReport
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/purge", nil, &out)
}

// PurgeScope is what a scoped purge removed, or with DryRun would.
type PurgeScope struct {
	Conversations int  `json:"conversations"`
	Messages      int  `json:"messages"`
	Files         int  `json:"files"`
	DryRun        bool `json:"dry_run"`
}

// PurgeConversation destroys the conversation between users a and b.
func (a *Admin) PurgeConversation(ctx context.Context, userA, userB string, dry bool) (*PurgeScope, error) {
	v := url.Values{"a": {userA}, "b": {userB}, "dry_run": {strconv.FormatBool(dry)}}
	var out PurgeScope
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/purge/conversations?"+v.Encode(), nil, &out)
}

// PurgeUser destroys every conversation of user (the account stays).
func (a *Admin) PurgeUser(ctx context.Context, user string, dry bool) (*PurgeScope, error) {
	v := url.Values{"user": {user}, "dry_run": {strconv.FormatBool(dry)}}
	var out PurgeScope
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/purge/conversations?"+v.Encode(), nil, &out)
}

// PurgeOlderThan deletes every message older than age.
func (a *Admin) PurgeOlderThan(ctx context.Context, age time.Duration, dry bool) (*PurgeScope, error) {
	v := url.Values{"seconds": {strconv.FormatInt(int64(age/time.Second), 10)}, "dry_run": {strconv.FormatBool(dry)}}
	var out PurgeScope
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/purge/older-than?"+v.Encode(), nil, &out)
}

// PurgeDryRun counts what a purge pass would remove, changing nothing.
func (a *Admin) PurgeDryRun(ctx context.Context) (*PurgeReport, error) {
	var out PurgeReport
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/purge?dry_run=true", nil, &out)
}

// Job is a background admin job (rewrap, purge).
type Job struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	State      string    `json:"state"` // queued, running, done, failed, cancelled
	Actor      string    `json:"actor"`
	Node       string    `json:"node,omitempty"`
	Done       int64     `json:"done"`
	Total      int64     `json:"total"`
	Failed     int64     `json:"failed"`
	Runs       int64     `json:"runs"`
	Result     string    `json:"result,omitempty"`
	Error      string    `json:"error,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Finished reports whether the job will not run again.
func (j *Job) Finished() bool {
	return j.State == "done" || j.State == "failed" || j.State == "cancelled"
}

// StartJob queues a job of kind (rewrap, purge).
func (a *Admin) StartJob(ctx context.Context, kind string) (*Job, error) {
	return a.jobCall(ctx, "POST", "/_admin/v1/jobs", map[string]string{"kind": kind})
}

// Jobs lists jobs newest first, of kind when non-empty.
func (a *Admin) Jobs(ctx context.Context, kind string, limit int) ([]Job, error) {
	v := url.Values{}
	if kind != "" {
		v.Set("kind", kind)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	out := struct {
		Jobs []Job `json:"jobs"`
	}{Jobs: []Job{}}
	return out.Jobs, a.c.Do(ctx, "GET", "/_admin/v1/jobs?"+v.Encode(), nil, &out)
}

// Job loads one job.
func (a *Admin) Job(ctx context.Context, id string) (*Job, error) {
	return a.jobCall(ctx, "GET", "/_admin/v1/jobs/"+url.PathEscape(id), nil)
}

// CancelJob cancels an unfinished job.
func (a *Admin) CancelJob(ctx context.Context, id string) (*Job, error) {
	return a.jobCall(ctx, "POST", "/_admin/v1/jobs/"+url.PathEscape(id)+"/cancel", nil)
}

// jobCall is a request whose answer is {"job": ...}.
func (a *Admin) jobCall(ctx context.Context, method, path string, body any) (*Job, error) {
	var out struct {
		Job Job `json:"job"`
	}
	if err := a.c.Do(ctx, method, path, body, &out); err != nil {
		return nil, err
	}
	return &out.Job, nil
}

// VerifyReport counts, per master key version, the data keys that open
// under the node's keyring and those that do not.
type VerifyReport struct {
	Opened    map[string]int64 `json:"opened"`
	Failed    map[string]int64 `json:"failed"`
	FailedIDs []string         `json:"failed_ids"`
}

// RotateReport is the answer of a data key rotation.
type RotateReport struct {
	Rotated int    `json:"rotated"`
	Active  string `json:"active"`
}

// RotateKeys gives every conversation a new data key.
func (a *Admin) RotateKeys(ctx context.Context) (*RotateReport, error) {
	var out RotateReport
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/keys/rotate", nil, &out)
}

// VerifyKeys unwraps every data key with the node's keyring.
func (a *Admin) VerifyKeys(ctx context.Context) (*VerifyReport, error) {
	var out VerifyReport
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/keys/verify", nil, &out)
}

// DeleteReport says what deleting a user removed.
type DeleteReport struct {
	UserID        string `json:"user_id"`
	Conversations int    `json:"conversations"`
	Sessions      int    `json:"sessions"`
}

// DeleteUser removes a user with their conversations, messages, files
// and keys.
func (a *Admin) DeleteUser(ctx context.Context, user string) (*DeleteReport, error) {
	var out DeleteReport
	return &out, a.c.Do(ctx, "DELETE", "/_admin/v1/users/"+url.PathEscape(user)+"?purge=true", nil, &out)
}

// NoticeReport is the answer of a server notice.
type NoticeReport struct {
	Sent    int      `json:"sent"`
	Skipped int      `json:"skipped"`
	Failed  []string `json:"failed"`
}

// SendNotice sends text from the server's notices account to users, or to
// every active user with all.
func (a *Admin) SendNotice(ctx context.Context, users []string, all bool, text string) (*NoticeReport, error) {
	var out NoticeReport
	body := map[string]any{"to": users, "all": all, "text": text}
	if err := a.c.Do(ctx, "POST", "/_admin/v1/notices", body, &out); err != nil {
		return nil, err
	}
	if out.Failed == nil {
		out.Failed = []string{}
	}
	return &out, nil
}

func decodeInto(raw []byte, v any) error { return json.Unmarshal(raw, v) }

// FederationDestination is one federation peer's outbox: depth, oldest
// item, attempts, last error and next retry; URL for a configured peer.
type FederationDestination struct {
	Destination string    `json:"destination"`
	Depth       int       `json:"depth"`
	Oldest      time.Time `json:"oldest"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	NextAttempt time.Time `json:"next_attempt"`
	URL         string    `json:"url,omitempty"`
}

// FederationDestinations lists the outbox of every destination and every
// configured peer.
func (a *Admin) FederationDestinations(ctx context.Context) ([]FederationDestination, error) {
	var out struct {
		Destinations []FederationDestination `json:"destinations"`
	}
	return out.Destinations, a.c.Do(ctx, "GET", "/_admin/v1/federation/destinations", nil, &out)
}

// FederationRetry ends dest's backoff on every node; the answer is its
// outbox before the retry.
func (a *Admin) FederationRetry(ctx context.Context, dest string) (*FederationDestination, error) {
	var out struct {
		Destination FederationDestination `json:"destination"`
	}
	err := a.c.Do(ctx, "POST", "/_admin/v1/federation/destinations/"+url.PathEscape(dest)+"/retry", nil, &out)
	return &out.Destination, err
}

// SigningRotation is the answer of a federation signing key rotation.
type SigningRotation struct {
	Active string   `json:"active"`
	Old    []string `json:"old"`
}

// RotateSigningKey makes a new federation signing key active; the old one
// is published under old_verify_keys.
func (a *Admin) RotateSigningKey(ctx context.Context) (*SigningRotation, error) {
	var out SigningRotation
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/keys/rotate-signing", nil, &out)
}
