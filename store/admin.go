package store

import (
	"context"
	"time"
)

// Counts are what operators see of a store: how many of each record, never
// their content.
type Counts struct {
	Users       int64 `json:"users"`
	Deactivated int64 `json:"deactivated"`
	Admins      int64 `json:"admins"`
	// ActiveDay and ActiveMonth count users with a session opened since
	// the Since times given (a login or registration is the activity the
	// store records).
	ActiveDay     int64 `json:"active_24h"`
	ActiveMonth   int64 `json:"active_30d"`
	Conversations int64 `json:"conversations"`
	Messages      int64 `json:"messages"`
	Files         int64 `json:"files"`
	FileBytes     int64 `json:"file_bytes"` // plaintext bytes of the files
	FileKeys      int64 `json:"file_keys"`  // files sealed under a data key of their own
	// DataKeys counts data keys per master key version that wraps them.
	DataKeys map[string]int64 `json:"data_keys"`
}

// AdminQueries answer the admin API's questions that no chat path asks.
type AdminQueries interface {
	// ListUserSessions returns the sessions of a user (internal id),
	// expired ones included, in no particular order.
	ListUserSessions(ctx context.Context, userID string) ([]*Session, error)
	// Count counts every kind of record; dayAgo and monthAgo bound the
	// active-user counts.
	Count(ctx context.Context, dayAgo, monthAgo time.Time) (*Counts, error)
	// DeleteUser removes an account record and frees its localpart and
	// email; ErrNotFound if there is none. Sessions, conversations and
	// files are the caller's to remove first.
	DeleteUser(ctx context.Context, id string) error
	// ResealMessage replaces the body and key id of a message whose key
	// id is still fromKey (re-encryption); ErrConflict if it is not,
	// ErrNotFound if the message is gone.
	ResealMessage(ctx context.Context, id, fromKey, toKey string, body []byte) error
}
