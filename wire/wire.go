// Package wire holds the JSON shapes of the client API (SPEC.md): what the
// server writes and what the Go client reads. One definition serves both
// sides, so they cannot drift apart. It imports nothing of ours.
package wire

import (
	"encoding/json"
	"time"
)

// User is the contract's `user`. Email is empty for anyone but its owner
// and admins.
type User struct {
	ID               string `json:"_id"`
	UserID           string `json:"user_id"`
	Username         string `json:"username"`
	Email            string `json:"email,omitempty"`
	AvatarImage      string `json:"avatarImage"`
	IsAvatarImageSet bool   `json:"isAvatarImageSet"`
	Online           bool   `json:"online"`
}

// FileInfo is the `file` of a file or voice message.
type FileInfo struct {
	FileID     string `json:"file_id"`
	Filename   string `json:"filename"`
	Mime       string `json:"mime"`
	Size       int64  `json:"size"`
	DurationMS int64  `json:"duration_ms,omitempty"`
}

// Message is the contract's `message`. From and To are user_ids; Seq rises
// within the conversation.
type Message struct {
	ID             string     `json:"_id"`
	Seq            int64      `json:"seq"`
	ConversationID string     `json:"conversation_id"`
	From           string     `json:"from"`
	To             string     `json:"to"`
	FromSelf       bool       `json:"fromSelf"`
	Type           string     `json:"type"`
	Message        string     `json:"message"`
	File           *FileInfo  `json:"file,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	ExpiresAt      *time.Time `json:"expiresAt,omitempty"`
}

// Timer is a conversation's self-destruct timer; Seconds 0 means off.
// ConversationID is set in timer-changed events and timer answers.
type Timer struct {
	ConversationID string `json:"conversation_id,omitempty"`
	Seconds        int64  `json:"seconds"`
	Mode           string `json:"mode"`
}

// Conversation is one entry of GET /api/conversations.
type Conversation struct {
	ConversationID string   `json:"conversation_id"`
	Peer           User     `json:"peer"`
	LastMessage    *Message `json:"last_message"`
	Unread         int      `json:"unread"`
	LastSeq        int64    `json:"last_seq"`
	ReadSeq        int64    `json:"read_seq"`
	// The peer's positions, so a client shows delivered and read ticks
	// on its own messages after a reload, not only from live receipts.
	PeerDeliveredSeq int64 `json:"peer_delivered_seq"`
	PeerReadSeq      int64 `json:"peer_read_seq"`
	Timer            Timer `json:"timer"`
}

// Receipt is the data of a `receipt` event (kind delivered or read).
type Receipt struct {
	ConversationID string `json:"conversation_id"`
	UserID         string `json:"user_id"`
	Seq            int64  `json:"seq"`
	Kind           string `json:"kind"`
}

// AdminUser is a user as the admin API shows it.
type AdminUser struct {
	ID          string    `json:"_id"`
	UserID      string    `json:"user_id"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	Admin       bool      `json:"admin"`
	Deactivated bool      `json:"deactivated"`
	CreatedAt   time.Time `json:"created_at"`
}

// Frame is the envelope of every WebSocket frame, both ways:
// {"event": NAME, "data": {...}, "id": optional client id}.
type Frame struct {
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data,omitempty"`
	ID    json.RawMessage `json:"id,omitempty"`
}
