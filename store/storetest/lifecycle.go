package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var deleteCases = []testCase{
	{"RemovesEverythingOfIt", testDeleteConvCascade},
	{"LeavesOthersAlone", testDeleteConvOthers},
	{"MissingIsNotAnError", testDeleteConvMissing},
}

// convWithEverything makes conversation id with messages (one with a txn
// id, one expiring, one waiting for an after_read timer), a data key, a
// file with its own key and a blob, and an idle timer.
func convWithEverything(t *testing.T, s store.Store, id string) (msgs []*store.Message, fileID string) {
	t.Helper()
	ctx := t.Context()
	mkConv(t, s, id)
	msgs = append(msgs,
		send(t, s, id, alice, func(m *store.Message) { m.TxnID = "txn-" + id }),
		send(t, s, id, alice, expiresAt(t0)),
		send(t, s, id, bob, func(m *store.Message) { m.TTLAfterRead = 10 }),
	)
	must(t, s.SetTimer(ctx, id, 60, store.TimerIdle, t0))
	putKey(t, s, "dk"+id, id, "v1", t0)
	fileID = "file" + strings.TrimPrefix(id, "!")
	must(t, s.PutFile(ctx, newFile(fileID, id)))
	putKey(t, s, "fk"+fileID, fileID, "v1", t0)
	_, err := s.Blobs().WriteBlob(ctx, fileID, strings.NewReader("sealed"))
	must(t, err)
	return msgs, fileID
}

func testDeleteConvCascade(t *testing.T, s store.Store) {
	ctx := t.Context()
	msgs, fileID := convWithEverything(t, s, "!d")
	must(t, s.DeleteConversation(ctx, "!d"))
	_, err := s.GetConversation(ctx, "!d")
	wantErr(t, err, store.ErrNotFound, "deleted conversation")
	for _, m := range msgs {
		_, err = s.GetMessage(ctx, m.ID)
		wantErr(t, err, store.ErrNotFound, "message of a deleted conversation")
	}
	_, err = s.GetMessageByTxn(ctx, alice, "txn-!d")
	wantErr(t, err, store.ErrNotFound, "txn of a deleted conversation")
	ms, err := s.ListMessages(ctx, "!d", store.MessageRange{Limit: 50, Now: t0.Add(-time.Hour)})
	must(t, err)
	wantSeqs(t, "messages listed", ms)
	for _, id := range []string{"dk!d", "fk" + fileID} {
		_, err = s.GetDataKey(ctx, id)
		wantErr(t, err, store.ErrNotFound, "data key "+id)
	}
	_, err = s.GetFile(ctx, fileID)
	wantErr(t, err, store.ErrNotFound, "file of a deleted conversation")
	_, err = s.Blobs().OpenBlob(ctx, fileID, 0)
	wantErr(t, err, store.ErrNotFound, "blob of a deleted conversation")
	ids, err := s.ListConversationFiles(ctx, "!d")
	must(t, err)
	wantIDs(t, "files listed", ids, nil)
	wantGone(t, s, "!d")
	// The seq counter went with it: a new conversation of that id starts over.
	mkConv(t, s, "!d")
	if seq, _ := s.NextSeq(ctx, "!d", t0); seq != 1 {
		t.Fatalf("recreated conversation starts at seq %d", seq)
	}
}

// wantGone checks that no list or background query still finds conv.
func wantGone(t *testing.T, s store.Store, conv string) {
	t.Helper()
	ctx := t.Context()
	for _, u := range []string{alice, bob} {
		list, err := s.ListConversations(ctx, u)
		must(t, err)
		for _, c := range list {
			if c.ID == conv {
				t.Fatalf("%s still lists %s", u, conv)
			}
		}
	}
	idle, err := s.ListIdleExpired(ctx, t0.Add(1000*time.Hour), 100)
	must(t, err)
	expired, err := s.ListExpiredMessages(ctx, t0.Add(1000*time.Hour), 100)
	must(t, err)
	keys, err := s.ListDataKeysNotWrappedBy(ctx, "v9", "", 100)
	must(t, err)
	for _, c := range idle {
		if c.ID == conv {
			t.Fatalf("%s still idle-expired", conv)
		}
	}
	for _, m := range expired {
		if m.ConversationID == conv {
			t.Fatalf("a message of %s is still listed as expired", conv)
		}
	}
	for _, k := range keys {
		if k.Owner == conv {
			t.Fatalf("a key of %s is still listed for re-wrap", conv)
		}
	}
}

func testDeleteConvOthers(t *testing.T, s store.Store) {
	ctx := t.Context()
	convWithEverything(t, s, "!d")
	kept, keptFile := convWithEverything(t, s, "!d2") // "!d" is a prefix of "!d2"
	must(t, s.DeleteConversation(ctx, "!d"))
	for _, m := range kept {
		if _, err := s.GetMessage(ctx, m.ID); err != nil {
			t.Fatal("another conversation lost a message:", err)
		}
	}
	if _, err := s.GetMessageByTxn(ctx, alice, "txn-!d2"); err != nil {
		t.Fatal("another conversation lost a txn:", err)
	}
	for _, id := range []string{"dk!d2", "fk" + keptFile} {
		if _, err := s.GetDataKey(ctx, id); err != nil {
			t.Fatalf("another conversation lost key %s: %v", id, err)
		}
	}
	if _, err := s.GetFile(ctx, keptFile); err != nil {
		t.Fatal("another conversation lost a file:", err)
	}
	if got := readBlob(t, s, keptFile, 0); string(got) != "sealed" {
		t.Fatalf("another conversation's blob reads %q", got)
	}
	list, err := s.ListConversations(ctx, alice)
	must(t, err)
	wantIDs(t, "conversations left", convIDs(list), []string{"!d2"})
	idle, err := s.ListIdleExpired(ctx, t0.Add(time.Hour), 10)
	must(t, err)
	wantIDs(t, "idle timers left", convIDs(idle), []string{"!d2"})
	must(t, s.SetMessagesExpiry(ctx, "!d2", alice, 100, t0))
	expired, err := s.ListExpiredMessages(ctx, t0.Add(time.Hour), 10)
	must(t, err)
	if len(expired) != 2 {
		t.Fatalf("%d expired messages left, want the 2 of !d2", len(expired))
	}
}

func testDeleteConvMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.DeleteConversation(ctx, "!never"))
	convWithEverything(t, s, "!d")
	must(t, s.DeleteConversation(ctx, "!d"))
	must(t, s.DeleteConversation(ctx, "!d"))
}

var contextCases = []testCase{
	{"PingLive", func(t *testing.T, s store.Store) { must(t, s.Ping(t.Context())) }},
	{"CancelledCallsFail", testCancelled},
	{"ExpiredDeadlineFails", testDeadline},
}

func testCancelled(t *testing.T, s store.Store) {
	convWithEverything(t, s, "!c")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, call := range storeCalls(s) {
		if err := call(ctx); err == nil {
			t.Errorf("%s with a cancelled context succeeded", name)
		} else if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			t.Errorf("%s with a cancelled context answered %v, as if it had looked", name, err)
		}
	}
	// And the writes did not happen.
	live := t.Context()
	if _, err := s.GetUserByLocalpart(live, "late"); err == nil {
		t.Error("a cancelled PutUser stored the user")
	}
	if _, err := s.GetConversation(live, "!c"); err != nil {
		t.Error("a cancelled DeleteConversation deleted:", err)
	}
	if c, _ := s.GetConversation(live, "!c"); c != nil && c.LastSeq != 3 {
		t.Errorf("a cancelled NextSeq moved the counter to %d", c.LastSeq)
	}
	if _, err := s.Blobs().OpenBlob(live, "late", 0); !errors.Is(err, store.ErrNotFound) {
		t.Error("a cancelled WriteBlob stored the blob")
	}
	if _, err := s.Blobs().OpenBlob(live, "filec", 0); err != nil {
		t.Error("a cancelled DeleteBlob deleted:", err)
	}
}

func testDeadline(t *testing.T, s store.Store) {
	mkConv(t, s, "!c")
	ctx, cancel := context.WithDeadline(t.Context(), t0) // long past
	defer cancel()
	if _, err := s.NextSeq(ctx, "!c", t0); err == nil {
		t.Fatal("NextSeq past its deadline succeeded")
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping past its deadline succeeded")
	}
}
