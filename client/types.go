package client

import "time"

// User is the contract's `user`. Email is empty for anyone but the caller.
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
type Timer struct {
	Seconds int64  `json:"seconds"`
	Mode    string `json:"mode,omitempty"`
}

// Timer modes, as the contract names them.
const (
	TimerAfterSend = "after_send"
	TimerAfterRead = "after_read"
	TimerIdle      = "idle"
)

// Conversation is one entry of GET /api/conversations.
type Conversation struct {
	ConversationID string   `json:"conversation_id"`
	Peer           User     `json:"peer"`
	LastMessage    *Message `json:"last_message"`
	Unread         int      `json:"unread"`
	LastSeq        int64    `json:"last_seq"`
	ReadSeq        int64    `json:"read_seq"`
	Timer          Timer    `json:"timer"`
}

// GetMsgRequest asks for one page of a conversation. Zero cursors mean none:
// without a cursor the newest Limit messages come back. Both bounds are
// exclusive; Limit 0 means the server's default (50).
type GetMsgRequest struct {
	To        string `json:"to"`
	BeforeSeq int64  `json:"before_seq,omitempty"`
	AfterSeq  int64  `json:"after_seq,omitempty"`
	Limit     int    `json:"limit,omitempty"`
}
