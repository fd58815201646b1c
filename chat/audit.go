package chat

import (
	"context"

	"github.com/crypttalk/crypttalk/store"
)

// ActorAdminToken is the audit actor of requests made with the admin token
// (admin users appear as their user_id).
const ActorAdminToken = "admin-token"

// RecordAudit appends one admin action to the audit log, stamping its time
// and id when unset.
func (s *Service) RecordAudit(ctx context.Context, e *store.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	if e.ID == "" {
		e.ID = store.NewAuditID(e.At)
	}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		return storeError(err)
	}
	return nil
}

// ListAudit pages through the audit log, newest first.
func (s *Service) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEntry, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return nil, Invalid("since must be before until")
	}
	q.Since, q.Until = q.Since.UTC(), q.Until.UTC()
	out, err := s.store.ListAudit(ctx, q)
	if err != nil {
		return nil, storeError(err)
	}
	return out, nil
}
