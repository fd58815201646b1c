package store

import (
	"encoding/hex"
	"testing"
)

func TestNewIDIsRandomHex(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
			t.Fatalf("NewID() = %q: not 16 bytes of hex", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}
