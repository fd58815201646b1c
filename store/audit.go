package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// AuditEntry is one admin action: who did what to which target, when,
// from where and how it ended. Entries are never changed once written.
type AuditEntry struct {
	// ID orders entries by time (NewAuditID); paging walks it.
	ID       string    `json:"id" bson:"_id"`
	At       time.Time `json:"at" bson:"at"`
	Actor    string    `json:"actor" bson:"actor"`   // "admin-token" or the admin user's user_id
	Action   string    `json:"action" bson:"action"` // e.g. users.deactivate
	Target   string    `json:"target,omitempty" bson:"target"`
	ClientIP string    `json:"client_ip" bson:"client_ip"`
	Status   int       `json:"status" bson:"status"` // the HTTP status answered
	Result   string    `json:"result" bson:"result"` // "ok" or the error code and message
}

// AuditQuery selects a page of entries, newest first. Zero fields do not
// filter.
type AuditQuery struct {
	Actor  string
	Action string
	Since  time.Time // At >= Since
	Until  time.Time // At < Until
	Before string    // exclusive ID cursor: the last ID of the previous page
	Limit  int       // <= 0 means 100
}

// Audit is the admin audit log.
type Audit interface {
	// AppendAudit stores e; ErrConflict if its ID is taken.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns the entries matching q, newest (highest ID) first.
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditEntry, error)
}

// NewAuditID returns an id that sorts by at: nanoseconds in fixed-width
// hex, then random bits so entries of one instant stay distinct.
func NewAuditID(at time.Time) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%016x", uint64(at.UnixNano())) + hex.EncodeToString(b[:])
}

// Matches reports whether e passes q's filters (cursor and limit aside);
// backends that scan use it so that all filter alike.
func (q AuditQuery) Matches(e *AuditEntry) bool {
	return (q.Actor == "" || e.Actor == q.Actor) &&
		(q.Action == "" || e.Action == q.Action) &&
		(q.Since.IsZero() || !e.At.Before(q.Since)) &&
		(q.Until.IsZero() || e.At.Before(q.Until))
}
