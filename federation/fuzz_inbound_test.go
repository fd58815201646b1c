package federation

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/vault"
)

// FuzzReceiveTransaction: whatever a peer sends as a transaction body, the
// answer is a result or a refusal with a 4xx status, never a panic or a 5xx.
func FuzzReceiveTransaction(f *testing.F) {
	aKey, err := vault.GenerateSigningKey("a1")
	if err != nil {
		f.Fatal(err)
	}
	ks := &StaticKeys{}
	ks.Add("a.example", aKey.ID(), VerifyKey{Key: aKey.Public()})
	n, err := New(Options{ServerName: "b.example", Keys: vault.NewSigningKeys(aKey), Chat: newFakeChat(), Queue: newFakeQueue(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	n.verifier.Keys = ks
	e, _ := SignEvent(aKey, NewEvent{Type: "ct.message", Sender: "@alice:a.example", Recipient: "@bob:b.example", Time: time.Now(), Content: map[string]any{"body": "hi"}})
	good, _ := BuildTransaction("a.example", time.Now(), []*Event{e})
	f.Add(good)
	f.Add([]byte(`{"origin":"a.example","origin_server_ts":1,"events":[{}]}`))
	f.Add([]byte(`{"origin":"a.example","origin_server_ts":1,"events":[1,"x",null,[]]}`))
	f.Add([]byte(`{"origin":"a.example","origin_server_ts":1.0,"events":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, err := n.receive(context.Background(), "a.example", body)
		var fe *Error
		if err != nil && (!errors.As(err, &fe) || fe.Status < 400 || fe.Status >= 500) {
			t.Fatalf("body %q: %v", body, err)
		}
	})
}
