package bolt

import (
	"encoding/json"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
)

// Messages are stored as binary records, and a JSON record written before
// that is still read: by id, in a page, and by the after-read backfill.
func TestMessageRecordsBinaryAndLegacyJSON(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	if _, err := s.EnsureConversation(ctx, &store.Conversation{ID: "!c", Members: []string{"@a:x", "@b:x"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 6, 0, 0, 5, time.UTC)
	newer := &store.Message{ID: "new", ConversationID: "!c", Sender: "@a:x", Recipient: "@b:x", Type: store.TypeText, KeyID: "k", CreatedAt: now}
	if err := s.AppendMessage(ctx, newer, func(int64) ([]byte, error) { return []byte("sealed"), nil }); err != nil {
		t.Fatal(err)
	}
	older := &store.Message{ID: "old", ConversationID: "!c", Seq: 100, Sender: "@b:x", Recipient: "@a:x", Type: store.TypeText, KeyID: "k", Body: []byte("s2"), CreatedAt: now}
	legacy, _ := json.Marshal(older)
	must(t, s.db.Update(func(tx *bbolt.Tx) error {
		if raw := tx.Bucket(bMsgs).Get(msgKey("!c", newer.Seq)); len(raw) == 0 || raw[0] != store.MessageRecordMagic {
			t.Errorf("new message stored as %q, want a binary record", raw)
		}
		if err := tx.Bucket(bMsgIDs).Put([]byte("old"), msgKey("!c", 100)); err != nil {
			return err
		}
		return tx.Bucket(bMsgs).Put(msgKey("!c", 100), legacy)
	}))
	for _, id := range []string{"new", "old"} {
		m, err := s.GetMessage(ctx, id)
		if err != nil || m.ID != id || len(m.Body) == 0 || !m.CreatedAt.Equal(now) {
			t.Fatalf("GetMessage(%s) = %+v, %v", id, m, err)
		}
	}
	page, err := s.ListMessages(ctx, "!c", store.MessageRange{Limit: 10, Now: now})
	if err != nil || len(page) != 2 || page[0].ID != "new" || page[1].ID != "old" {
		t.Fatalf("page %+v, %v", page, err)
	}
}

// A conversation written as JSON (before the binary record) is read, and
// the next message rewrites it as a binary record with its seq carried on.
func TestConversationRecordLegacyJSON(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	c := &store.Conversation{ID: "!j", Members: []string{"@a:x", "@b:x"}, LastSeq: 41, ReadSeq: map[string]int64{"@a:x": 40}}
	legacy, _ := json.Marshal(c)
	must(t, s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bConvs).Put([]byte("!j"), legacy) }))
	got, err := s.GetConversation(ctx, "!j")
	if err != nil || got.LastSeq != 41 || got.ReadSeq["@a:x"] != 40 {
		t.Fatalf("legacy record read as %+v, %v", got, err)
	}
	m := &store.Message{ID: "m", ConversationID: "!j", Sender: "@a:x", Recipient: "@b:x", Type: store.TypeText, KeyID: "k", CreatedAt: time.Now().UTC()}
	if err := s.AppendMessage(ctx, m, func(int64) ([]byte, error) { return []byte("s"), nil }); err != nil || m.Seq != 42 {
		t.Fatalf("append after a legacy record: seq %d, %v", m.Seq, err)
	}
	must(t, s.db.View(func(tx *bbolt.Tx) error {
		if raw := tx.Bucket(bConvs).Get([]byte("!j")); len(raw) == 0 || raw[0] != store.ConversationRecordMagic {
			t.Errorf("rewritten as %q, want a binary record", raw)
		}
		return nil
	}))
	if got, err := s.GetConversation(ctx, "!j"); err != nil || got.LastSeq != 42 || got.ReadSeq["@a:x"] != 40 || len(got.Members) != 2 {
		t.Fatalf("after the append: %+v, %v", got, err)
	}
}
