// Package store defines the persistence contract of Crypt-Talk: small
// interfaces cut by domain, the record types they carry and the sentinel
// errors every backend returns. Backends (store/bolt, store/mongo) must pass
// the conformance suite in store/storetest.
//
// Records hold only sealed message bodies and wrapped keys: nothing a store
// sees is plaintext chat content or a usable secret.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Backends wrap them (fmt.Errorf("...: %w", ErrNotFound))
// so callers match with errors.Is.
var (
	// ErrNotFound: the record does not exist (or is expired / deleted).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a unique constraint was violated (username, email,
	// (sender, txn_id), (conversation, seq)).
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the backing database cannot be reached; the caller
	// answers 503 and may retry later.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store is the whole persistence layer. Every method takes ctx first and
// honours its deadline.
type Store interface {
	Users
	Sessions
	Conversations
	Messages
	Keys
	KeyChecks
	Files
	Audit
	AdminQueries
	Jobs
	FederationQueue
	// Ping reports whether the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	// Close flushes pending writes and releases the backend.
	Close() error
}

// User is an account. ID is the opaque internal id (`_id`); UserID is the
// Matrix-style `@localpart:server`.
type User struct {
	ID           string    `json:"id" bson:"_id"`
	UserID       string    `json:"user_id" bson:"user_id"`
	Username     string    `json:"username" bson:"username"`
	Localpart    string    `json:"localpart" bson:"localpart"` // lower-cased username, unique
	Email        string    `json:"email" bson:"email"`         // lower-cased, unique
	PasswordHash []byte    `json:"password_hash" bson:"password_hash"`
	AvatarImage  string    `json:"avatar_image" bson:"avatar_image"`
	AvatarSet    bool      `json:"avatar_set" bson:"avatar_set"`
	Admin        bool      `json:"admin" bson:"admin"`
	Deactivated  bool      `json:"deactivated" bson:"deactivated"`
	CreatedAt    time.Time `json:"created_at" bson:"created_at"`
}

// UserQuery selects a page of users ordered by Localpart.
type UserQuery struct {
	Prefix string // case-insensitive substring match on localpart/username when non-empty
	After  string // exclusive Localpart cursor
	Limit  int    // <= 0 means the backend default (50)
}

// Users stores accounts. Localpart and Email are unique; PutUser answers
// ErrConflict when either is taken.
type Users interface {
	PutUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	GetUserByLocalpart(ctx context.Context, localpart string) (*User, error)
	// UpdateUser replaces the mutable fields (avatar, flags, password hash)
	// of an existing user; ErrNotFound when it does not exist.
	UpdateUser(ctx context.Context, u *User) error
	ListUsers(ctx context.Context, q UserQuery) ([]*User, error)
}

// Session is an access token, stored only as the SHA-256 of the token.
// Each session is one device of its user (Matrix: one access token per
// device); the device fields are additive, so a record written before
// them reads with DeviceID = LegacyDeviceID(TokenHash) (backends fill it
// in) and the other device fields empty.
type Session struct {
	TokenHash string    `json:"token_hash" bson:"_id"`  // hex SHA-256
	UserID    string    `json:"user_id" bson:"user_id"` // internal user id
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
	ExpiresAt time.Time `json:"expires_at" bson:"expires_at"`
	// DeviceID names the device; a new login of a device replaces its
	// session (chat deletes the old one first).
	DeviceID    string `json:"device_id,omitempty" bson:"device_id,omitempty"`
	DisplayName string `json:"display_name,omitempty" bson:"display_name,omitempty"`
	// LastSeenAt, LastIP and UserAgent are refreshed at most every few
	// minutes (TouchSession), not on every request.
	LastSeenAt time.Time `json:"last_seen_at,omitzero" bson:"last_seen_at,omitempty"`
	LastIP     string    `json:"last_ip,omitempty" bson:"last_ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty" bson:"user_agent,omitempty"`
}

// Sessions stores access tokens.
type Sessions interface {
	PutSession(ctx context.Context, s *Session) error
	// GetSession returns ErrNotFound for unknown tokens; expiry is the
	// caller's check.
	GetSession(ctx context.Context, tokenHash string) (*Session, error)
	DeleteSession(ctx context.Context, tokenHash string) error
	// DeleteUserSessions revokes every token of a user and returns how many.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
	// GetDevice returns the session of a user's device (the newest, should
	// two logins of one device have raced); ErrNotFound when there is none.
	// Records without a DeviceID match their LegacyDeviceID.
	GetDevice(ctx context.Context, userID, deviceID string) (*Session, error)
	// RenameDevice sets the DisplayName of a user's device; ErrNotFound
	// when the user has no such device.
	RenameDevice(ctx context.Context, userID, deviceID, name string) error
	// DeleteDevice revokes every token of a user's device and returns
	// their hashes; ErrNotFound when the user has no such device.
	DeleteDevice(ctx context.Context, userID, deviceID string) ([]string, error)
	// TouchSession records a session's activity: LastSeenAt = at, and
	// LastIP / UserAgent when non-empty. ErrNotFound when it is gone.
	TouchSession(ctx context.Context, tokenHash string, at time.Time, ip, userAgent string) error
}

// Timer modes of a conversation.
const (
	TimerOff       = ""
	TimerAfterSend = "after_send"
	TimerAfterRead = "after_read"
	TimerIdle      = "idle"
)

// Conversation is a 1:1 conversation between two user_ids. Its ID is
// derived from the two user_ids alone (see chat.ConversationID).
type Conversation struct {
	ID            string    `json:"id" bson:"_id"`
	Members       []string  `json:"members" bson:"members"` // two user_ids, sorted
	CreatedAt     time.Time `json:"created_at" bson:"created_at"`
	LastMessageAt time.Time `json:"last_message_at" bson:"last_message_at"`
	LastSeq       int64     `json:"last_seq" bson:"last_seq"` // highest seq handed out
	TimerSeconds  int64     `json:"timer_seconds" bson:"timer_seconds"`
	TimerMode     string    `json:"timer_mode" bson:"timer_mode"`
	// IdleExpiresAt is LastMessageAt + TimerSeconds under an idle timer
	// (zero otherwise); NextSeq and SetTimer maintain it.
	IdleExpiresAt time.Time        `json:"idle_expires_at" bson:"idle_expires_at"`
	ReadSeq       map[string]int64 `json:"read_seq" bson:"read_seq"`           // user_id -> highest read seq
	DeliveredSeq  map[string]int64 `json:"delivered_seq" bson:"delivered_seq"` // user_id -> highest delivered seq
	// E2EE is the one-way end-to-end flag: once set, the conversation
	// takes only client-encrypted content (store.E2EEKeys sets it).
	E2EE bool `json:"e2ee,omitempty" bson:"e2ee,omitempty"`
}

// Conversations stores conversations and their per-member positions.
type Conversations interface {
	// EnsureConversation creates c if no conversation with c.ID exists and
	// returns the stored one either way.
	EnsureConversation(ctx context.Context, c *Conversation) (*Conversation, error)
	GetConversation(ctx context.Context, id string) (*Conversation, error)
	// ListConversations returns the conversations that userID is a member
	// of, most recent activity first.
	ListConversations(ctx context.Context, userID string) ([]*Conversation, error)
	// NextSeq atomically hands out the next seq of a conversation (never
	// reused, gaps allowed) and records now as its last activity (and, under
	// an idle timer, IdleExpiresAt = now + TimerSeconds).
	NextSeq(ctx context.Context, id string, now time.Time) (int64, error)
	// SetTimer changes a conversation's self-destruct timer (and
	// IdleExpiresAt: now + seconds under an idle timer, zero otherwise).
	SetTimer(ctx context.Context, id string, seconds int64, mode string, now time.Time) error
	// ListIdleExpired returns up to limit conversations whose non-zero
	// IdleExpiresAt is at or before now.
	ListIdleExpired(ctx context.Context, now time.Time, limit int) ([]*Conversation, error)
	// MarkRead / MarkDelivered raise a member's position to seq; a lower
	// seq is a no-op. They return the position now stored.
	MarkRead(ctx context.Context, id, userID string, seq int64) (int64, error)
	MarkDelivered(ctx context.Context, id, userID string, seq int64) (int64, error)
	// DeleteConversation removes the conversation with every message, file
	// and data key of it. Deleting a missing conversation is not an error.
	DeleteConversation(ctx context.Context, id string) error
}

// Message types.
const (
	TypeText   = "text"
	TypeFile   = "file"
	TypeVoice  = "voice"
	TypeSystem = "system"
	// TypeEncrypted is a client-encrypted event (Matrix m.room.encrypted):
	// its body is the client's JSON, opaque to the server, and sealed at
	// rest like any body.
	TypeEncrypted = "encrypted"
)

// Message is one stored message. Body is sealed by the vault with the
// conversation's data key KeyID; the additional data binds it to
// (ConversationID, Seq, Sender).
type Message struct {
	ID             string    `json:"id" bson:"_id"`
	ConversationID string    `json:"conversation_id" bson:"conversation_id"`
	Seq            int64     `json:"seq" bson:"seq"`
	Sender         string    `json:"sender" bson:"sender"`       // user_id
	Recipient      string    `json:"recipient" bson:"recipient"` // user_id
	Type           string    `json:"type" bson:"type"`
	KeyID          string    `json:"key_id" bson:"key_id"`
	Body           []byte    `json:"body" bson:"body"` // sealed
	FileID         string    `json:"file_id,omitempty" bson:"file_id,omitempty"`
	TxnID          string    `json:"txn_id,omitempty" bson:"txn_id,omitempty"`
	CreatedAt      time.Time `json:"created_at" bson:"created_at"`
	// ExpiresAt is zero when the message does not expire.
	ExpiresAt time.Time `json:"expires_at" bson:"expires_at"`
	// TTLAfterRead is set under an after_read timer: ExpiresAt is filled in
	// with read time + TTLAfterRead when the recipient reads it.
	TTLAfterRead int64 `json:"ttl_after_read,omitempty" bson:"ttl_after_read,omitempty"`
	// IdleTTL is set under an idle timer: the conversation (and so this
	// message) goes IdleTTL seconds after the last message, so clients are
	// shown CreatedAt + IdleTTL as the time it goes if nothing follows.
	IdleTTL int64 `json:"idle_ttl,omitempty" bson:"idle_ttl,omitempty"`
	// Outbox, when set, is the server this message is to be sent to: the
	// write that stores the message enqueues MessageOutboxItem(m) with it
	// (see FederationQueue).
	Outbox string `json:"outbox,omitempty" bson:"outbox,omitempty"`
}

// MessageRange selects messages of one conversation. AfterSeq and BeforeSeq
// are exclusive bounds (0 = unbounded). With only BeforeSeq or no bound the
// newest Limit messages are returned; with AfterSeq the oldest Limit after
// it. Results are always oldest first. Messages with a non-zero ExpiresAt
// at or before Now are never returned.
type MessageRange struct {
	AfterSeq  int64
	BeforeSeq int64
	Limit     int
	Now       time.Time
}

// Messages stores sealed messages.
type Messages interface {
	// PutMessage stores m durably before returning. ErrConflict when
	// (Sender, TxnID) (TxnID non-empty) or (ConversationID, Seq) exists.
	// A message with a TxnID must have ID TxnMessageID(Sender, TxnID)
	// (CheckTxnMessage): the id then carries the (Sender, TxnID)
	// uniqueness, so the put is one write and a put cut off anywhere
	// either stored the message or left nothing that blocks its retry.
	PutMessage(ctx context.Context, m *Message) error
	GetMessage(ctx context.Context, id string) (*Message, error)
	GetMessageByTxn(ctx context.Context, sender, txnID string) (*Message, error)
	ListMessages(ctx context.Context, conversationID string, r MessageRange) ([]*Message, error)
	// CountMessages counts unexpired messages with seq > afterSeq that were
	// not sent by notSender.
	CountMessages(ctx context.Context, conversationID string, afterSeq int64, notSender string, now time.Time) (int, error)
	// SetMessagesExpiry fills ExpiresAt = readAt + TTLAfterRead for the
	// messages of conversationID with seq <= uptoSeq, sent to recipient,
	// that carry a TTLAfterRead and no ExpiresAt yet.
	SetMessagesExpiry(ctx context.Context, conversationID, recipient string, uptoSeq int64, readAt time.Time) error
	// ListExpiredMessages returns up to limit messages (any conversation)
	// whose ExpiresAt is non-zero and at or before now.
	ListExpiredMessages(ctx context.Context, now time.Time, limit int) ([]*Message, error)
	// DeleteMessages removes messages by id; missing ids are ignored.
	DeleteMessages(ctx context.Context, ids []string) error
}

// DataKey is a data key (DEK) wrapped by master key MasterVersion. Owner is
// the conversation id or file id the key belongs to.
type DataKey struct {
	ID            string    `json:"id" bson:"_id"`
	Owner         string    `json:"owner" bson:"owner"`
	MasterVersion string    `json:"master_version" bson:"master_version"`
	Wrapped       []byte    `json:"wrapped" bson:"wrapped"`
	CreatedAt     time.Time `json:"created_at" bson:"created_at"`
}

// Keys stores wrapped data keys.
type Keys interface {
	PutDataKey(ctx context.Context, k *DataKey) error
	GetDataKey(ctx context.Context, id string) (*DataKey, error)
	// ListDataKeys returns the keys of an owner, newest last.
	ListDataKeys(ctx context.Context, owner string) ([]*DataKey, error)
	// ListDataKeysNotWrappedBy pages through every key whose MasterVersion
	// differs from version, by ascending ID after the exclusive cursor.
	ListDataKeysNotWrappedBy(ctx context.Context, version, after string, limit int) ([]*DataKey, error)
	// ListDataKeysWrappedBy pages through every key whose MasterVersion is
	// version, by ascending ID after the exclusive cursor.
	ListDataKeysWrappedBy(ctx context.Context, version, after string, limit int) ([]*DataKey, error)
	// UpdateDataKey replaces MasterVersion and Wrapped of an existing key.
	UpdateDataKey(ctx context.Context, k *DataKey) error
	// DeleteDataKeys removes every key of an owner.
	DeleteDataKeys(ctx context.Context, owner string) error
}

// KeyCheck is a known value sealed by one master key version (see
// vault.Keyring.SealCheck). A node opens the check of each configured
// version at start, so a wrong key under a known version label is refused
// before the node serves, instead of failing every read.
type KeyCheck struct {
	Version   string    `json:"version" bson:"_id"`
	Sealed    []byte    `json:"sealed" bson:"sealed"`
	CreatedAt time.Time `json:"created_at" bson:"created_at"`
}

// KeyChecks stores one KeyCheck per master key version. A check is written
// once, when its version is first used, and never replaced.
type KeyChecks interface {
	// PutKeyCheck stores c; ErrConflict when c.Version has a check (the
	// first writer wins, so of two nodes starting with different keys under
	// one label only one can be right).
	PutKeyCheck(ctx context.Context, c *KeyCheck) error
	// GetKeyCheck returns the check of version; ErrNotFound if none.
	GetKeyCheck(ctx context.Context, version string) (*KeyCheck, error)
}

// File is the metadata of an uploaded, encrypted file. The blob itself is
// stored through BlobStore.
type File struct {
	ID             string    `json:"id" bson:"_id"`
	ConversationID string    `json:"conversation_id" bson:"conversation_id"`
	Owner          string    `json:"owner" bson:"owner"` // uploader's user_id
	KeyID          string    `json:"key_id" bson:"key_id"`
	Kind           string    `json:"kind" bson:"kind"` // file | voice
	Filename       string    `json:"filename" bson:"filename"`
	Mime           string    `json:"mime" bson:"mime"`
	Size           int64     `json:"size" bson:"size"` // plaintext bytes
	DurationMS     int64     `json:"duration_ms,omitempty" bson:"duration_ms,omitempty"`
	MaxPlays       int64     `json:"max_plays,omitempty" bson:"max_plays,omitempty"`
	Plays          int64     `json:"plays" bson:"plays"`
	MessageID      string    `json:"message_id,omitempty" bson:"message_id,omitempty"`
	CreatedAt      time.Time `json:"created_at" bson:"created_at"`
	ExpiresAt      time.Time `json:"expires_at" bson:"expires_at"`
	// PendingUntil is when an upload that no message announced yet is
	// removed (zero once announced), so unannounced uploads cannot pile up.
	PendingUntil time.Time `json:"pending_until" bson:"pending_until"`
	// LastPlayAt is when the latest counted play of a voice message began:
	// Range requests that continue it are not plays of their own.
	LastPlayAt time.Time `json:"last_play_at" bson:"last_play_at"`
}

// Files stores file metadata and the encrypted blobs.
type Files interface {
	PutFile(ctx context.Context, f *File) error
	GetFile(ctx context.Context, id string) (*File, error)
	UpdateFile(ctx context.Context, f *File) error
	// AddPlay increments Plays, raises LastPlayAt to at (an earlier at
	// keeps a later one) and returns the new count. Concurrent calls each
	// get their own count.
	AddPlay(ctx context.Context, id string, at time.Time) (int64, error)
	DeleteFile(ctx context.Context, id string) error
	// ListConversationFiles returns the ids of a conversation's files.
	ListConversationFiles(ctx context.Context, conversationID string) ([]string, error)
	// ListDueFiles returns up to limit files whose non-zero ExpiresAt or
	// non-zero PendingUntil is at or before now: what purge removes.
	ListDueFiles(ctx context.Context, now time.Time, limit int) ([]*File, error)
	// ExpireFile lowers a file's ExpiresAt to at, or sets it when zero; an
	// ExpiresAt already at or before at is kept. ErrNotFound when missing.
	ExpireFile(ctx context.Context, id string, at time.Time) error
	// FileUsage sums the Size of the files whose Owner is owner (a user_id),
	// for the per-user storage quota.
	FileUsage(ctx context.Context, owner string) (int64, error)
	Blobs() BlobStore
}

// BlobStore keeps encrypted file blobs. A blob is written once and never
// modified; it is only ever handed ciphertext.
type BlobStore interface {
	// WriteBlob stores everything r yields under id. If r fails or ctx ends,
	// nothing is left behind and the error is returned.
	WriteBlob(ctx context.Context, id string, r io.Reader) (int64, error)
	// OpenBlob reads the blob from byte offset on; ErrNotFound if missing.
	OpenBlob(ctx context.Context, id string, offset int64) (io.ReadCloser, error)
	// DeleteBlob removes a blob; a missing blob is not an error.
	DeleteBlob(ctx context.Context, id string) error
}

// BlobInfo is one stored blob as a BlobLister lists it.
type BlobInfo struct {
	ID        string
	Size      int64 // ciphertext bytes
	WrittenAt time.Time
}

// BlobLister is the optional ability of a BlobStore to list what it holds,
// so that blobs left without a file record (a crash between the blob and
// the record, say) can be found (ctl purge uploads).
type BlobLister interface {
	// ListBlobs returns up to limit blobs with an id greater than after,
	// in id order.
	ListBlobs(ctx context.Context, after string, limit int) ([]BlobInfo, error)
}

// TxnMessageID is the id of the message that sender creates with txnID: a
// retry of the same send names the same message, so storing it twice is a
// conflict on the id itself. It looks like a NewID and is as hard to guess
// as the txn id is.
func TxnMessageID(sender, txnID string) string {
	h := sha256.Sum256([]byte("ct-txn\x00" + sender + "\x00" + txnID))
	return hex.EncodeToString(h[:16])
}

// ErrTxnMessageID reports a message whose TxnID is set but whose ID is not
// TxnMessageID(Sender, TxnID): a caller bug, refused before any write.
var ErrTxnMessageID = errors.New("store: a message with a txn id must have id TxnMessageID(sender, txn id)")

// CheckTxnMessage is the rule every backend applies to a new message: with
// a TxnID, its ID must be TxnMessageID(Sender, TxnID).
func CheckTxnMessage(m *Message) error {
	if m.TxnID != "" && m.ID != TxnMessageID(m.Sender, m.TxnID) {
		return fmt.Errorf("%w (message %q)", ErrTxnMessageID, m.ID)
	}
	return nil
}

// Appender is an optional ability of a store: hand out the next seq of the
// message's conversation and store the message in one durable write, half
// the commits of NextSeq + PutMessage. seal receives the seq (the sealed
// body's additional data depends on it) and may be called more than once
// if the backend retries; m.Seq and m.Body are set on success. Errors are
// those of NextSeq and PutMessage.
type Appender interface {
	AppendMessage(ctx context.Context, m *Message, seal func(seq int64) ([]byte, error)) error
}

// ContextReader reads r until ctx ends, then fails with ctx's error, so a
// blob copy stops when its request is gone.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
