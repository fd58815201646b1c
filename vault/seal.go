package vault

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors.
var (
	// ErrDecrypt: wrong key, wrong additional data, or tampered input.
	ErrDecrypt = errors.New("vault: decryption failed")
	// ErrUnknownKeyVersion: the master key version is not in the keyring.
	ErrUnknownKeyVersion = errors.New("vault: unknown master key version")
)

const (
	formatV1  = 0x01
	keySize   = chacha20poly1305.KeySize
	nonceSize = chacha20poly1305.NonceSizeX
	tagSize   = chacha20poly1305.Overhead
)

// NewDataKey returns a fresh random 256-bit data key.
func NewDataKey() []byte {
	k := make([]byte, keySize)
	if _, err := rand.Read(k); err != nil {
		panic(fmt.Sprintf("vault: no randomness: %v", err)) // crypto/rand never fails on supported platforms
	}
	return k
}

// Seal encrypts plaintext under dek, bound to ad.
func Seal(dek, plaintext, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(dek)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:1+nonceSize], plaintext, ad), nil
}

// Open decrypts what Seal produced with the same dek and ad.
func Open(dek, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < 1+nonceSize+tagSize || sealed[0] != formatV1 {
		return nil, ErrDecrypt
	}
	aead, err := chacha20poly1305.NewX(dek)
	if err != nil {
		return nil, ErrDecrypt
	}
	out, err := aead.Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}

// MessageAD binds a message body to its conversation, position and sender.
// Each part is length-prefixed so that no two tuples encode the same.
func MessageAD(conversationID string, seq int64, sender string) []byte {
	b := make([]byte, 0, 16+len(conversationID)+len(sender)+len("ct-msg"))
	b = append(b, "ct-msg"...)
	b = appendString(b, conversationID)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	return appendString(b, sender)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
