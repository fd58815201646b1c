package client

import "github.com/crypttalk/crypttalk/wire"

// User is the contract's `user`.
type User = wire.User

// FileInfo is the `file` of a file or voice message.
type FileInfo = wire.FileInfo

// Message is the contract's `message`.
type Message = wire.Message

// Timer is a conversation's self-destruct timer.
type Timer = wire.Timer

// Timer modes, as the contract names them.
const (
	TimerAfterSend = "after_send"
	TimerAfterRead = "after_read"
	TimerIdle      = "idle"
)

// Conversation is one entry of GET /api/conversations.
type Conversation = wire.Conversation

// GetMsgRequest asks for one page of a conversation. Zero cursors mean none:
// without a cursor the newest Limit messages come back. Both bounds are
// exclusive; Limit 0 means the server's default (50).
type GetMsgRequest struct {
	To        string `json:"to"`
	BeforeSeq int64  `json:"before_seq,omitempty"`
	AfterSeq  int64  `json:"after_seq,omitempty"`
	Limit     int    `json:"limit,omitempty"`
}
