package bolt

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// bAudit holds the admin audit log keyed by entry ID, which sorts by time.
// Like bKeyChecks it is created by the first write, not by a migration.
var bAudit = []byte("audit") // id -> AuditEntry

// AppendAudit stores e; store.ErrConflict if its ID is taken.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if err := checkIDs(e.ID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bAudit)
		if err != nil {
			return err
		}
		if b.Get([]byte(e.ID)) != nil {
			return conflict("audit entry", []byte(e.ID))
		}
		return putJSON(tx, bAudit, []byte(e.ID), e)
	})
}

// ListAudit walks the log backwards from q.Before. Filters are applied
// while scanning: the log is small next to messages, and operators page it.
func (s *Store) ListAudit(ctx context.Context, q store.AuditQuery) ([]*store.AuditEntry, error) {
	if q.Limit <= 0 {
		q.Limit = defaultPageLimit
	}
	var out []*store.AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		if q.Before == "" {
			k, v = c.Last()
		} else {
			k, v = c.Seek([]byte(q.Before))
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && string(k) >= q.Before {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < q.Limit; k, v = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := new(store.AuditEntry)
			if err := json.Unmarshal(v, e); err != nil {
				return fmt.Errorf("bolt: decode audit entry %q: %w", k, err)
			}
			if !q.Since.IsZero() && e.At.Before(q.Since) {
				break // older entries only from here on
			}
			if q.Matches(e) {
				out = append(out, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
