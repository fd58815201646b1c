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
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if after != "" {
		v.Set("after", after)
	}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out []AdminUser
	return out, a.c.Do(ctx, "GET", "/_admin/v1/users?"+v.Encode(), nil, &out)
}

// SetActive deactivates (revoking every session) or reactivates a user,
// named by _id, user_id or username.
func (a *Admin) SetActive(ctx context.Context, user string, active bool) (*AdminUser, error) {
	verb := "deactivate"
	if active {
		verb = "reactivate"
	}
	var out struct {
		User AdminUser `json:"user"`
	}
	if err := a.c.Do(ctx, "POST", "/_admin/v1/users/"+url.PathEscape(user)+"/"+verb, nil, &out); err != nil {
		return nil, err
	}
	return &out.User, nil
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
	var out struct {
		User AdminUser `json:"user"`
	}
	if err := a.c.Do(ctx, "POST", "/_admin/v1/users/"+url.PathEscape(user)+"/"+verb, nil, &out); err != nil {
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

// PurgeReport is the answer of a purge pass.
type PurgeReport struct {
	Messages      int `json:"messages"`
	Conversations int `json:"conversations"`
}

// Purge runs one purge pass now.
func (a *Admin) Purge(ctx context.Context) (*PurgeReport, error) {
	var out PurgeReport
	return &out, a.c.Do(ctx, "POST", "/_admin/v1/purge", nil, &out)
}

func decodeInto(raw []byte, v any) error { return json.Unmarshal(raw, v) }
