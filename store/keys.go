package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// E2EEKeys is the key directory and to-device relay of end-to-end
// encryption (the Matrix way): the server runs no crypto, it keeps the
// clients' public keys and opaque messages per (user id, device id) and
// hands them out. Every blob here is client JSON the store never reads.
// It is an optional ability of a store, asserted by package chat, so a
// backend without it still is a Store.
type E2EEKeys interface {
	// PutDeviceKeys stores the signed device keys of (UserID, DeviceID).
	// ErrConflict when the device has keys with another Identity: a device
	// keeps its identity keys for life (a changed one is a new device or
	// an attack, never an update).
	PutDeviceKeys(ctx context.Context, k *DeviceKeys) error
	// ListDeviceKeys returns the device keys of a user, by device id.
	ListDeviceKeys(ctx context.Context, userID string) ([]*DeviceKeys, error)

	// AddOneTimeKeys stores one-time keys of a device. A key id stored
	// already with the same key is skipped; with another key it is
	// ErrConflict (and nothing of the call is stored).
	AddOneTimeKeys(ctx context.Context, userID, deviceID string, keys []*OneTimeKey) error
	// ClaimOneTimeKey removes and returns one one-time key of algorithm;
	// of concurrent claimers (on any node) each gets a different key. When
	// none is left it returns the device's fallback key of algorithm
	// (Fallback set) and marks it used. ErrNotFound when there is neither.
	ClaimOneTimeKey(ctx context.Context, userID, deviceID, algorithm string) (*OneTimeKey, error)
	// CountOneTimeKeys counts the unclaimed one-time keys by algorithm.
	CountOneTimeKeys(ctx context.Context, userID, deviceID string) (map[string]int, error)
	// PutFallbackKey replaces the device's fallback key of k's algorithm
	// (unused again), unless it is the same key, which keeps its state.
	PutFallbackKey(ctx context.Context, userID, deviceID string, k *OneTimeKey) error
	// UnusedFallbackKeyTypes lists the algorithms whose fallback key was
	// never handed out, sorted.
	UnusedFallbackKeyTypes(ctx context.Context, userID, deviceID string) ([]string, error)

	// PutCrossSigningKeys replaces the user's cross-signing keys of the
	// usages given (master, self_signing, user_signing) and keeps the rest.
	PutCrossSigningKeys(ctx context.Context, userID string, keys map[string][]byte) error
	// GetCrossSigningKeys returns the user's cross-signing keys by usage
	// (empty when none).
	GetCrossSigningKeys(ctx context.Context, userID string) (map[string][]byte, error)
	// PutKeySignatures stores signatures; one of the same (target user,
	// target key, signer, signer key) replaces the earlier one.
	PutKeySignatures(ctx context.Context, sigs []*KeySignature) error
	// ListKeySignatures returns the signatures made on keys of targetUser.
	ListKeySignatures(ctx context.Context, targetUser string) ([]*KeySignature, error)

	// MarkDeviceListChanged raises the time the user's device list last
	// changed to at (an earlier at keeps a later one).
	MarkDeviceListChanged(ctx context.Context, userID string, at time.Time) error
	// DeviceListChanges returns when each of users' device list last
	// changed; users whose list never changed are absent.
	DeviceListChanges(ctx context.Context, users []string) (map[string]time.Time, error)

	// PutToDevice appends a to-device message to its target device's
	// inbox. A message whose ID is there already is skipped (a retried
	// transaction). ErrInboxFull when the inbox holds max messages.
	PutToDevice(ctx context.Context, m *ToDeviceMessage, max int) error
	// TakeToDevice first deletes the messages of the device's inbox that
	// were handed out in batch acked or an earlier one (the client has
	// them: it came back with the token of that answer), then returns up
	// to limit of the rest, oldest first, stamped with batch (> acked): a
	// batch that was never acknowledged is handed out again.
	TakeToDevice(ctx context.Context, userID, deviceID string, acked, batch int64, limit int) ([]*ToDeviceMessage, error)
	// CountToDevice counts the messages in a device's inbox.
	CountToDevice(ctx context.Context, userID, deviceID string) (int, error)

	// SetConversationE2EE sets a conversation's one-way E2EE flag (see
	// Conversation.E2EE); ErrNotFound when it does not exist.
	SetConversationE2EE(ctx context.Context, convID string) error

	// DeleteDeviceE2EE removes everything of a device: its device keys,
	// one-time and fallback keys, signatures on it and its inbox.
	// Deleting a device without any is not an error.
	DeleteDeviceE2EE(ctx context.Context, userID, deviceID string) error
}

// ErrInboxFull: a device's to-device inbox is at its bound.
var ErrInboxFull = errors.New("store: to-device inbox is full")

// DeviceKeys is one device's signed public keys, as the client uploaded
// them. Identity is its ed25519 and curve25519 keys, which never change.
type DeviceKeys struct {
	UserID    string    `json:"user_id" bson:"user_id"`
	DeviceID  string    `json:"device_id" bson:"device_id"`
	Identity  string    `json:"identity" bson:"identity"`
	Keys      []byte    `json:"keys" bson:"keys"` // the device_keys JSON object
	UpdatedAt time.Time `json:"updated_at" bson:"updated_at"`
}

// OneTimeKey is a one-time or fallback key; KeyID is "algorithm:id".
type OneTimeKey struct {
	KeyID    string `json:"key_id" bson:"key_id"`
	Key      []byte `json:"key" bson:"key"` // the key's JSON (a string or a signed object)
	Fallback bool   `json:"fallback,omitempty" bson:"fallback,omitempty"`
	Used     bool   `json:"used,omitempty" bson:"used,omitempty"`
}

// Algorithm is the part of KeyID before the colon.
func (k *OneTimeKey) Algorithm() string { return KeyAlgorithm(k.KeyID) }

// KeyAlgorithm is the algorithm of an "algorithm:id" key id.
func KeyAlgorithm(keyID string) string {
	a, _, _ := strings.Cut(keyID, ":")
	return a
}

// KeySignature is one signature of Signer's key SignerKey over TargetKey
// (a device id or a cross-signing public key) of TargetUser.
type KeySignature struct {
	TargetUser string `json:"target_user" bson:"target_user"`
	TargetKey  string `json:"target_key" bson:"target_key"`
	Signer     string `json:"signer" bson:"signer"`
	SignerKey  string `json:"signer_key" bson:"signer_key"` // "ed25519:<key id>"
	Signature  string `json:"signature" bson:"signature"`
}

// ToDeviceMessage is one opaque message to one device. Batch is the
// answer it was last handed out in (0: never).
type ToDeviceMessage struct {
	ID           string    `json:"id" bson:"_id"`
	UserID       string    `json:"user_id" bson:"user_id"`
	DeviceID     string    `json:"device_id" bson:"device_id"`
	Sender       string    `json:"sender" bson:"sender"`
	SenderDevice string    `json:"sender_device" bson:"sender_device"`
	Type         string    `json:"type" bson:"type"`
	Content      []byte    `json:"content" bson:"content"`
	CreatedAt    time.Time `json:"created_at" bson:"created_at"`
	Batch        int64     `json:"batch,omitempty" bson:"batch"`
}

// ToDeviceID is the id of the message that (sender, senderDevice) sends
// with txnID to (userID, deviceID): a retried transaction names the same
// messages, so the inbox stores each once.
func ToDeviceID(sender, senderDevice, txnID, userID, deviceID string) string {
	h := sha256.New()
	for _, p := range []string{"ct-todevice", sender, senderDevice, txnID, userID, deviceID} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
