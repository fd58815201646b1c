package store

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a random 128-bit id in hex: unguessable, so that knowing
// one id tells nothing about another.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
