package chat_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
)

// A message crosses the bus as its binary record; OpenEvent reads that and
// the JSON form an older node publishes, to the same view.
func TestOpenEventBinaryAndLegacyJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bob := e.users["bob"].User.UserID
	var mu sync.Mutex
	var payloads [][]byte
	_, err := e.bus.Subscribe(context.Background(), pubsub.UserTopic(bob), func(_ string, p []byte) {
		mu.Lock()
		payloads = append(payloads, append([]byte(nil), p...))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	sent := e.send(t, "alice", "bob", "hello over the bus")
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(payloads) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(payloads) != 1 || payloads[0][0] != store.MessageRecordMagic {
		t.Fatalf("bus carried %d payloads, first %q", len(payloads), payloads)
	}
	bin, err := e.svc.OpenEvent(context.Background(), bob, payloads[0])
	if err != nil {
		t.Fatal(err)
	}
	var m store.Message
	if err := store.DecodeMessageRecord(payloads[0], &m); err != nil {
		t.Fatal(err)
	}
	legacy, _ := json.Marshal(map[string]any{"m": &m})
	old, err := e.svc.OpenEvent(context.Background(), bob, legacy)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []any{bin.Data, old.Data} {
		got, _ := json.Marshal(d)
		want, _ := json.Marshal(sent)
		var gv, wv map[string]any
		_ = json.Unmarshal(got, &gv)
		_ = json.Unmarshal(want, &wv)
		delete(gv, "fromSelf")
		delete(wv, "fromSelf")
		if g, w := mustJSON(gv), mustJSON(wv); g != w {
			t.Fatalf("opened %s\nsent   %s", g, w)
		}
	}
	if bin.Seq != sent.Seq || old.Seq != sent.Seq || bin.Event != old.Event {
		t.Fatalf("seq %d/%d, event %s/%s", bin.Seq, old.Seq, bin.Event, old.Event)
	}
	if _, err := e.svc.OpenEvent(context.Background(), bob, payloads[0][:10]); err == nil {
		t.Fatal("a truncated record opened")
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// Send's answer, rendered without opening the stored body, is the view the
// store gives back for the same message.
func TestSendViewMatchesStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sent := e.send(t, "alice", "bob", "ünïcode \"quoted\" <b>text</b>")
	got := e.history(t, "alice", "bob")
	if len(got) != 1 || mustJSON(got[0]) != mustJSON(sent) {
		t.Fatalf("sent %s\nstored %s", mustJSON(sent), mustJSON(got))
	}
}
