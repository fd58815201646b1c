package store

import "context"

// AccountData is a user's private, per-type JSON documents (the Matrix
// client API's account data: m.direct and the adapter's own DM invites).
// It is an optional ability of a store, asserted by its one user
// (package matrix), so a backend without it still is a Store.
type AccountData interface {
	// PutAccountData replaces the document of (userID, dataType).
	PutAccountData(ctx context.Context, userID, dataType string, content []byte) error
	// GetAccountData returns the document; ErrNotFound if none.
	GetAccountData(ctx context.Context, userID, dataType string) ([]byte, error)
}

// AccountDoc is how backends keep one account data document.
type AccountDoc struct {
	ID      string `json:"id" bson:"_id"` // user id NUL type
	Content []byte `json:"content" bson:"content"`
}

// AccountDocID is the key of (userID, dataType): NUL never occurs in
// either (callers check), so two pairs cannot share a key.
func AccountDocID(userID, dataType string) string { return userID + "\x00" + dataType }
