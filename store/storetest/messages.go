package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

func testMessages(t *testing.T, s store.Store) {
	conv(t, s, "!m")
	conv(t, s, "!other")
	var all []*store.Message
	for i := 0; i < 10; i++ {
		from := "@a:x"
		if i%3 == 0 {
			from = "@b:x"
		}
		all = append(all, send(t, s, "!m", from, ""))
	}
	send(t, s, "!other", "@a:x", "")
	if all[0].Seq != 1 || all[9].Seq != 10 {
		t.Fatalf("seqs start %d end %d", all[0].Seq, all[9].Seq)
	}
	list := func(r store.MessageRange) []*store.Message {
		r.Now = t0
		ms, err := s.ListMessages(ctx, "!m", r)
		must(t, err)
		return ms
	}
	equalSeqs(t, "newest 3", list(store.MessageRange{Limit: 3}), 8, 9, 10)
	equalSeqs(t, "after 7", list(store.MessageRange{AfterSeq: 7, Limit: 50}), 8, 9, 10)
	equalSeqs(t, "after 2 limit 2", list(store.MessageRange{AfterSeq: 2, Limit: 2}), 3, 4)
	equalSeqs(t, "before 4", list(store.MessageRange{BeforeSeq: 4, Limit: 50}), 1, 2, 3)
	equalSeqs(t, "before 9 limit 2", list(store.MessageRange{BeforeSeq: 9, Limit: 2}), 7, 8)
	equalSeqs(t, "between 3 and 6", list(store.MessageRange{AfterSeq: 3, BeforeSeq: 6, Limit: 50}), 4, 5)
	equalSeqs(t, "after the end", list(store.MessageRange{AfterSeq: 10, Limit: 50}))
	if ms, _ := s.ListMessages(ctx, "!none", store.MessageRange{Limit: 5, Now: t0}); len(ms) != 0 {
		t.Fatal("unknown conversation has messages")
	}
	got, err := s.GetMessage(ctx, all[4].ID)
	must(t, err)
	if got.Seq != 5 || !bytes.Equal(got.Body, []byte{1, 2, 3}) || got.Sender != all[4].Sender {
		t.Fatalf("GetMessage %+v", got)
	}
	_, err = s.GetMessage(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "unknown message")

	// Unread for b: messages from a after b's position.
	n, err := s.CountMessages(ctx, "!m", 5, "@b:x", t0)
	must(t, err)
	if n != 3 { // seqs 6..10 minus 7 and 10 (from b)
		t.Fatalf("unread %d, want 3", n)
	}

	// Idempotency keys.
	m := send(t, s, "!m", "@a:x", "txn-1")
	dup := *m
	dup.ID, dup.Seq = store.NewID(), m.Seq+100
	wantErr(t, s.PutMessage(ctx, &dup), store.ErrConflict, "same (sender, txn_id)")
	other := dup
	other.ID, other.Sender = store.NewID(), "@b:x"
	must(t, s.PutMessage(ctx, &other)) // another sender may reuse a txn id
	sameSeq := *all[0]
	sameSeq.ID = store.NewID()
	wantErr(t, s.PutMessage(ctx, &sameSeq), store.ErrConflict, "same (conversation, seq)")
	byTxn, err := s.GetMessageByTxn(ctx, "@a:x", "txn-1")
	must(t, err)
	if byTxn.ID != m.ID {
		t.Fatal("GetMessageByTxn returned another message")
	}
	_, err = s.GetMessageByTxn(ctx, "@a:x", "txn-2")
	wantErr(t, err, store.ErrNotFound, "unknown txn")

	must(t, s.DeleteMessages(ctx, []string{all[0].ID, all[1].ID, "missing"}))
	equalSeqs(t, "after delete", list(store.MessageRange{BeforeSeq: 5, Limit: 50}), 3, 4)
	_, err = s.GetMessage(ctx, all[0].ID)
	wantErr(t, err, store.ErrNotFound, "deleted message")
}

func testExpiry(t *testing.T, s store.Store) {
	conv(t, s, "!e")
	a := send(t, s, "!e", "@a:x", "")
	seq, _ := s.NextSeq(ctx, "!e", t0)
	b := &store.Message{ID: store.NewID(), ConversationID: "!e", Seq: seq, Sender: "@a:x", Recipient: "@b:x", Type: "text", Body: []byte{9}, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	must(t, s.PutMessage(ctx, b))
	seq, _ = s.NextSeq(ctx, "!e", t0)
	c := &store.Message{ID: store.NewID(), ConversationID: "!e", Seq: seq, Sender: "@a:x", Recipient: "@b:x", Type: "text", Body: []byte{9}, CreatedAt: t0, TTLAfterRead: 30}
	must(t, s.PutMessage(ctx, c))

	ms, _ := s.ListMessages(ctx, "!e", store.MessageRange{Limit: 10, Now: t0.Add(2 * time.Minute)})
	equalSeqs(t, "expired hidden", ms, a.Seq, c.Seq)
	if n, _ := s.CountMessages(ctx, "!e", 0, "@b:x", t0.Add(2*time.Minute)); n != 2 {
		t.Fatalf("expired message counted as unread: %d", n)
	}
	exp, err := s.ListExpiredMessages(ctx, t0.Add(2*time.Minute), 10)
	must(t, err)
	if len(exp) != 1 || exp[0].ID != b.ID {
		t.Fatalf("expired: %v", seqs(exp))
	}
	if exp, _ := s.ListExpiredMessages(ctx, t0, 10); len(exp) != 0 {
		t.Fatal("not-yet-expired listed")
	}
	readAt := t0.Add(time.Hour)
	must(t, s.SetMessagesExpiry(ctx, "!e", "@a:x", 10, readAt)) // a is not the recipient
	got, _ := s.GetMessage(ctx, c.ID)
	if !got.ExpiresAt.IsZero() {
		t.Fatal("sender's read started the timer")
	}
	must(t, s.SetMessagesExpiry(ctx, "!e", "@b:x", c.Seq, readAt))
	got, _ = s.GetMessage(ctx, c.ID)
	if !got.ExpiresAt.Equal(readAt.Add(30 * time.Second)) {
		t.Fatalf("after_read expiry %v", got.ExpiresAt)
	}
	must(t, s.SetMessagesExpiry(ctx, "!e", "@b:x", c.Seq, readAt.Add(time.Hour)))
	got, _ = s.GetMessage(ctx, c.ID)
	if !got.ExpiresAt.Equal(readAt.Add(30 * time.Second)) {
		t.Fatal("a second read restarted the timer")
	}
	exp, _ = s.ListExpiredMessages(ctx, readAt.Add(time.Minute), 10)
	if len(exp) != 2 {
		t.Fatalf("expired after read: %d", len(exp))
	}
	must(t, s.DeleteMessages(ctx, []string{b.ID, c.ID}))
	if exp, _ := s.ListExpiredMessages(ctx, readAt.Add(time.Minute), 10); len(exp) != 0 {
		t.Fatal("deleted messages still listed as expired")
	}
}

func testKeys(t *testing.T, s store.Store) {
	for i, owner := range []string{"!k1", "!k1", "!k2"} {
		must(t, s.PutDataKey(ctx, &store.DataKey{ID: "key" + string(rune('a'+i)), Owner: owner, MasterVersion: "v1", Wrapped: []byte{byte(i)}, CreatedAt: t0.Add(time.Duration(i) * time.Second)}))
	}
	wantErr(t, s.PutDataKey(ctx, &store.DataKey{ID: "keya", Owner: "!k9"}), store.ErrConflict, "duplicate key id")
	keys, err := s.ListDataKeys(ctx, "!k1")
	must(t, err)
	if len(keys) != 2 || keys[1].ID != "keyb" {
		t.Fatalf("keys of k1: %d", len(keys))
	}
	k, err := s.GetDataKey(ctx, "keyc")
	must(t, err)
	if k.Owner != "!k2" || k.Wrapped[0] != 2 {
		t.Fatalf("GetDataKey %+v", k)
	}
	_, err = s.GetDataKey(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "unknown key")
	page, err := s.ListDataKeysNotWrappedBy(ctx, "v2", "", 2)
	must(t, err)
	if len(page) != 2 || page[0].ID != "keya" {
		t.Fatalf("page 1: %d", len(page))
	}
	k.MasterVersion, k.Wrapped = "v2", []byte{42}
	must(t, s.UpdateDataKey(ctx, k))
	page, _ = s.ListDataKeysNotWrappedBy(ctx, "v2", "keya", 10)
	if len(page) != 1 || page[0].ID != "keyb" {
		t.Fatalf("page after keya: %d", len(page))
	}
	got, _ := s.GetDataKey(ctx, "keyc")
	if got.MasterVersion != "v2" || got.Wrapped[0] != 42 || got.Owner != "!k2" {
		t.Fatalf("update lost: %+v", got)
	}
	wantErr(t, s.UpdateDataKey(ctx, &store.DataKey{ID: "nope"}), store.ErrNotFound, "update unknown key")
	must(t, s.DeleteDataKeys(ctx, "!k1"))
	if keys, _ := s.ListDataKeys(ctx, "!k1"); len(keys) != 0 {
		t.Fatal("keys survived DeleteDataKeys")
	}
	if _, err := s.GetDataKey(ctx, "keyc"); err != nil {
		t.Fatal("another owner's key was deleted")
	}
}

func testFiles(t *testing.T, s store.Store) {
	f := &store.File{ID: "f1", ConversationID: "!f", Owner: "@a:x", KeyID: "k", Kind: "voice", Filename: "sealed", Mime: "audio/ogg", Size: 10, MaxPlays: 2, CreatedAt: t0}
	must(t, s.PutFile(ctx, f))
	wantErr(t, s.PutFile(ctx, f), store.ErrConflict, "duplicate file")
	must(t, s.PutFile(ctx, &store.File{ID: "f2", Owner: "@a:x", CreatedAt: t0}))
	got, err := s.GetFile(ctx, "f1")
	must(t, err)
	if got.Mime != "audio/ogg" || got.MaxPlays != 2 {
		t.Fatalf("GetFile %+v", got)
	}
	for want := int64(1); want <= 3; want++ {
		n, err := s.AddPlay(ctx, "f1")
		must(t, err)
		if n != want {
			t.Fatalf("plays %d, want %d", n, want)
		}
	}
	got.MessageID = "m1"
	got.Plays = 3
	must(t, s.UpdateFile(ctx, got))
	f2, _ := s.GetFile(ctx, "f2")
	f2.ConversationID = "!f"
	must(t, s.UpdateFile(ctx, f2))
	ids, err := s.ListConversationFiles(ctx, "!f")
	must(t, err)
	if len(ids) != 2 {
		t.Fatalf("files of !f: %v", ids)
	}
	must(t, s.DeleteFile(ctx, "f1"))
	_, err = s.GetFile(ctx, "f1")
	wantErr(t, err, store.ErrNotFound, "deleted file")
	if ids, _ := s.ListConversationFiles(ctx, "!f"); len(ids) != 1 {
		t.Fatalf("index not updated: %v", ids)
	}
	_, err = s.AddPlay(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "AddPlay unknown")
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client went away")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func testBlobs(t *testing.T, s store.Store) {
	b := s.Blobs()
	data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB, several chunks of any backend
	n, err := b.WriteBlob(ctx, "blob1", bytes.NewReader(data))
	must(t, err)
	if n != int64(len(data)) {
		t.Fatalf("wrote %d", n)
	}
	for _, off := range []int64{0, 5, 261_120, int64(len(data)) - 1, int64(len(data))} {
		rc, err := b.OpenBlob(ctx, "blob1", off)
		must(t, err)
		got, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		if !bytes.Equal(got, data[off:]) {
			t.Fatalf("offset %d: got %d bytes", off, len(got))
		}
	}
	_, err = b.WriteBlob(ctx, "blob2", &failingReader{n: 300_000})
	if err == nil {
		t.Fatal("a failing reader was stored")
	}
	_, err = b.OpenBlob(ctx, "blob2", 0)
	wantErr(t, err, store.ErrNotFound, "half-written blob")
	must(t, b.DeleteBlob(ctx, "blob1"))
	must(t, b.DeleteBlob(ctx, "blob1"))
	_, err = b.OpenBlob(ctx, "blob1", 0)
	wantErr(t, err, store.ErrNotFound, "deleted blob")
	_, err = b.OpenBlob(ctx, "../../etc/passwd", 0)
	if err == nil {
		t.Fatal("path-like blob id opened")
	}
}

func testDeleteConversation(t *testing.T, s store.Store) {
	conv(t, s, "!d")
	conv(t, s, "!keep")
	m := send(t, s, "!d", "@a:x", "t1")
	kept := send(t, s, "!keep", "@a:x", "t2")
	must(t, s.PutDataKey(ctx, &store.DataKey{ID: "dk", Owner: "!d", MasterVersion: "v1", CreatedAt: t0}))
	must(t, s.PutDataKey(ctx, &store.DataKey{ID: "keepk", Owner: "!keep", MasterVersion: "v1", CreatedAt: t0}))
	must(t, s.PutFile(ctx, &store.File{ID: "df", ConversationID: "!d", Owner: "@a:x", CreatedAt: t0}))
	_, err := s.Blobs().WriteBlob(ctx, "df", strings.NewReader("sealed"))
	must(t, err)
	must(t, s.DeleteConversation(ctx, "!d"))
	_, err = s.GetConversation(ctx, "!d")
	wantErr(t, err, store.ErrNotFound, "deleted conversation")
	_, err = s.GetMessage(ctx, m.ID)
	wantErr(t, err, store.ErrNotFound, "message of deleted conversation")
	_, err = s.GetMessageByTxn(ctx, "@a:x", "t1")
	wantErr(t, err, store.ErrNotFound, "txn of deleted conversation")
	_, err = s.GetDataKey(ctx, "dk")
	wantErr(t, err, store.ErrNotFound, "key of deleted conversation")
	_, err = s.GetFile(ctx, "df")
	wantErr(t, err, store.ErrNotFound, "file of deleted conversation")
	_, err = s.Blobs().OpenBlob(ctx, "df", 0)
	wantErr(t, err, store.ErrNotFound, "blob of deleted conversation")
	if list, _ := s.ListConversations(ctx, "@a:x"); len(list) != 1 {
		t.Fatalf("conversations left: %d", len(list))
	}
	if _, err := s.GetMessage(ctx, kept.ID); err != nil {
		t.Fatal("another conversation lost a message")
	}
	if _, err := s.GetDataKey(ctx, "keepk"); err != nil {
		t.Fatal("another conversation lost its key")
	}
	must(t, s.DeleteConversation(ctx, "!d")) // idempotent
}

func testConcurrency(t *testing.T, s store.Store) {
	conv(t, s, "!cc")
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seq, err := s.NextSeq(ctx, "!cc", t0)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[seq] {
				errs <- errors.New("seq handed out twice")
			}
			seen[seq] = true
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != 50 {
		t.Fatalf("%d distinct seqs", len(seen))
	}
}

func testCancelled(t *testing.T, s store.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.GetUser(cctx, "x"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("cancelled GetUser: %v", err)
	}
	if err := s.PutUser(cctx, user("late")); err == nil {
		t.Fatal("cancelled PutUser succeeded")
	}
}
