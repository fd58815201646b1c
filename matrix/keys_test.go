package matrix

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

func TestSyncTokenCarriesToDeviceBatch(t *testing.T) {
	tok := &syncToken{direct: 7, at: 1234, rooms: map[string]roomPos{"abc": {seq: 3}}, batch: 99}
	got, ok := parseSince(tok.encode())
	if !ok || got.batch != 99 || got.at != 1234 || got.rooms["abc"].seq != 3 {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	// A token made before batches (two head fields) still parses.
	old, ok := parseSince((&syncToken{direct: 7, at: 1234, rooms: map[string]roomPos{}}).encode())
	if !ok || old.batch != 0 {
		t.Fatalf("token without a batch: %+v %v", old, ok)
	}
	for _, bad := range []string{"ct2.7.ya.0", "ct2.7.ya.-1", "ct2.7.ya.x!", "ct2.7.ya.1.2"} {
		if _, ok := parseSince(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestEncryptedEventsRender(t *testing.T) {
	at := time.UnixMilli(5000)
	content := `{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"Aw"}`
	e := messageEvent(&chat.MessageView{ID: "m1", From: "@a:x", Type: store.TypeEncrypted, Message: content, CreatedAt: at})
	b, _ := json.Marshal(e)
	var got struct {
		Type    string          `json:"type"`
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(b, &got) != nil || got.Type != "m.room.encrypted" || string(got.Content) != content {
		t.Fatalf("encrypted event %s", b)
	}
	e = messageEvent(&chat.MessageView{ID: "m2", From: "@a:x", Type: store.TypeSystem, Message: chat.E2EEOnText, CreatedAt: at})
	if e["type"] != typeEncryption || e["state_key"] != "" {
		t.Fatalf("E2EE notice %v", e)
	}
	if e := messageEvent(&chat.MessageView{ID: "m3", Type: store.TypeSystem, Message: "disappearing messages turned off"}); e["type"] != "m.room.message" {
		t.Fatalf("other system message %v", e)
	}
	if algo, ok := initialEncryption([]any{map[string]any{"type": "m.room.name"}, map[string]any{"type": typeEncryption, "content": map[string]any{"algorithm": "x"}}}); !ok || algo != "x" {
		t.Fatalf("initial_state: %q %v", algo, ok)
	}
	if _, ok := initialEncryption([]any{"junk", nil}); ok {
		t.Fatal("junk initial_state found encryption")
	}
}
