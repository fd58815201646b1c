package store

import (
	"context"
	"time"
)

// Outbox item kinds. A "message" item names a stored message
// (ConversationID, Seq); every other kind carries its event in Payload.
const (
	OutboxMessage = "message"
)

// OutboxItem is one event waiting to be sent to another server.
type OutboxItem struct {
	// ID is unique; items of one destination come out of PeekOutbox in the
	// order they were enqueued.
	ID             string    `json:"id" bson:"_id"`
	Destination    string    `json:"destination" bson:"destination"`
	Kind           string    `json:"kind" bson:"kind"`
	ConversationID string    `json:"conversation_id,omitempty" bson:"conversation_id,omitempty"`
	Seq            int64     `json:"seq,omitempty" bson:"seq,omitempty"`
	MessageID      string    `json:"message_id,omitempty" bson:"message_id,omitempty"`
	Payload        []byte    `json:"payload,omitempty" bson:"payload,omitempty"` // non-secret JSON; never message plaintext
	CreatedAt      time.Time `json:"created_at" bson:"created_at"`
}

// OutboxStats describes the outbox of one destination, for operators.
type OutboxStats struct {
	Destination string    `json:"destination"`
	Depth       int       `json:"depth"`
	Oldest      time.Time `json:"oldest"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error"`
	NextAttempt time.Time `json:"next_attempt"`
}

// FederationQueue keeps what is to be sent to other servers and what was
// received from them.
//
// A message to a remote user is enqueued by the write that stores it
// (PutMessage or AppendMessage of a Message with Outbox set), in the same
// durable commit, so a crash can neither store the message without its
// outbox item nor the item without its message being reachable: the item
// of a message is OutboxMessageID(m.ID), and an item whose message is
// missing is one the sender skips.
type FederationQueue interface {
	// EnqueueOutbox adds a non-message item (receipt, timer, delete). An
	// item whose ID is queued already is not queued twice.
	EnqueueOutbox(ctx context.Context, item OutboxItem) error
	// PeekOutbox returns up to limit items of dest, oldest first.
	PeekOutbox(ctx context.Context, dest string, limit int) ([]OutboxItem, error)
	// AckOutbox removes items; acking a missing id is not an error. A
	// successful ack also clears the destination's failure record.
	AckOutbox(ctx context.Context, dest string, ids []string) error
	// NoteOutboxFailure records a failed attempt of dest and when to retry.
	NoteOutboxFailure(ctx context.Context, dest string, lastErr string, next time.Time) error
	// OutboxDestinations lists every destination with items or a failure
	// record.
	OutboxDestinations(ctx context.Context) ([]OutboxStats, error)
	// GetInboundTxn returns the result recorded for a received transaction;
	// ErrNotFound when unseen.
	GetInboundTxn(ctx context.Context, origin, txnID string) ([]byte, error)
	// PutInboundTxn records a transaction's result; the first writer wins
	// (ErrConflict for later writers, whose result is not stored).
	PutInboundTxn(ctx context.Context, origin, txnID string, result []byte) error
}

// OutboxMessageID is the outbox item id of message id: a retried write of
// the message names the same item.
func OutboxMessageID(messageID string) string { return "m." + messageID }

// MessageOutboxItem is the outbox item that the write of m enqueues.
func MessageOutboxItem(m *Message) OutboxItem {
	return OutboxItem{ID: OutboxMessageID(m.ID), Destination: m.Outbox, Kind: OutboxMessage,
		ConversationID: m.ConversationID, Seq: m.Seq, MessageID: m.ID, CreatedAt: m.CreatedAt}
}
