package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

var (
	// ErrDecrypt reports a sealed message, wrapped key or file chunk that
	// does not authenticate: wrong key, wrong additional data, tampered,
	// truncated, reordered or unknown format. It never says which, because
	// telling them apart would help an attacker probing the format.
	ErrDecrypt = errors.New("vault: decryption failed")
	// ErrUnknownKeyVersion reports a wrapped data key whose master key
	// version is not in the keyring (for example, retired after rotation).
	ErrUnknownKeyVersion = errors.New("vault: unknown master key version")
)

const (
	// formatV1 is the first byte of every sealed message, wrapped key and
	// file chunk, so that a future format can be told apart from this one.
	formatV1  = 0x01
	keySize   = chacha20poly1305.KeySize
	nonceSize = chacha20poly1305.NonceSizeX
	tagSize   = chacha20poly1305.Overhead
	// headerSize is what precedes the ciphertext: version byte and nonce.
	headerSize = 1 + nonceSize
	// overhead is what sealing adds to a plaintext of any length.
	overhead = headerSize + tagSize
)

// NewDataKey returns a fresh random 256-bit key, used for data keys and
// for new master keys alike.
func NewDataKey() []byte {
	k := make([]byte, keySize)
	// Since Go 1.24 crypto/rand.Read never returns an error: it crashes
	// the program rather than hand out weak randomness.
	_, _ = rand.Read(k)
	return k
}

// newAEAD returns XChaCha20-Poly1305 for key, checking its length with an
// error that names the length but never echoes the key.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("vault: key must be %d bytes, got %d", keySize, len(key))
	}
	return chacha20poly1305.NewX(key)
}

// Seal encrypts plaintext under dek and binds it to ad, which Open must be
// given again. The result is formatV1 | nonce(24) | ciphertext | tag(16).
// The only error is a dek that is not 32 bytes long.
func Seal(dek, plaintext, ad []byte) ([]byte, error) {
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, headerSize, len(plaintext)+overhead)
	out[0] = formatV1
	nonce := out[1:headerSize]
	_, _ = rand.Read(nonce) // never fails, see NewDataKey
	return aead.Seal(out, nonce, plaintext, ad), nil
}

// Open decrypts what Seal produced with the same dek and ad. Any other
// input (tampered, truncated, other key or ad) yields ErrDecrypt and no
// plaintext.
func Open(dek, sealed, ad []byte) ([]byte, error) {
	if len(sealed) < overhead || sealed[0] != formatV1 {
		return nil, ErrDecrypt
	}
	aead, err := newAEAD(dek)
	if err != nil {
		return nil, ErrDecrypt
	}
	plain, err := aead.Open(nil, sealed[1:headerSize], sealed[headerSize:], ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// MessageAD is the additional data that binds a message body to its
// conversation, sequence number and sender, so that a stored ciphertext
// moved to another row does not open. Strings are length-prefixed so no
// two distinct tuples share an encoding: ("a","b") differs from ("ab","").
func MessageAD(conversationID string, seq int64, sender string) []byte {
	b := make([]byte, 0, len("ct-msg")+4+len(conversationID)+8+4+len(sender))
	b = append(b, "ct-msg"...)
	b = appendString(b, conversationID)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	return appendString(b, sender)
}

// appendString appends s with a 32-bit big-endian length prefix.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
