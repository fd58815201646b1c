package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/storetest"
)

func openAt(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func open(t testing.TB) *Store { return openAt(t, t.TempDir()) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) }, storetest.WithLeftoverTxnClaim(plantTxnClaim))
}

// plantTxnClaim writes a txn index entry without its message, the state a
// torn write would leave.
func plantTxnClaim(t *testing.T, s store.Store, sender, txnID, messageID string) {
	t.Helper()
	must(t, s.(*Store).db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bTxns).Put(join(sender, txnID), []byte(messageID))
	}))
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	openAt(t, dir)
	for path, want := range map[string]os.FileMode{
		dir:                         0o700 | os.ModeDir,
		filepath.Join(dir, DBFile):  0o600,
		filepath.Join(dir, "blobs"): 0o700 | os.ModeDir,
	} {
		fi, err := os.Stat(path)
		must(t, err)
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openAt(t, dir)
	must(t, s.PutUser(ctx, &store.User{ID: "u1", Localpart: "alice", Email: "a@x.test"}))
	_, err := s.EnsureConversation(ctx, &store.Conversation{ID: "!c", Members: []string{"@a:x", "@b:x"}})
	must(t, err)
	for range 3 {
		_, err := s.NextSeq(ctx, "!c", time.Now())
		must(t, err)
	}
	_, err = s.Blobs().WriteBlob(ctx, "blob", strings.NewReader("sealed"))
	must(t, err)
	must(t, s.Close())

	s = openAt(t, dir)
	if _, err := s.GetUserByLocalpart(ctx, "alice"); err != nil {
		t.Fatal("user lost across reopen:", err)
	}
	if seq, err := s.NextSeq(ctx, "!c", time.Now()); err != nil || seq != 4 {
		t.Fatalf("seq counter after reopen: %d, %v (want 4)", seq, err)
	}
	rc, err := s.Blobs().OpenBlob(ctx, "blob", 0)
	must(t, err)
	rc.Close()
}

func TestSecondOpenFailsClearly(t *testing.T) {
	dir := t.TempDir()
	openAt(t, dir)
	_, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open of a data dir in use: %v", err)
	}
}

func TestCloseFlushesAndRefuses(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(dir, Options{})
	must(t, err)
	_, err = s.EnsureConversation(ctx, &store.Conversation{ID: "!c"})
	must(t, err)
	// Writers race Close: each either lands durably or is refused with
	// ErrUnavailable, never lost after a nil error.
	var wg sync.WaitGroup
	stored := make([]bool, 40)
	for i := range stored {
		wg.Go(func() {
			err := s.PutMessage(ctx, &store.Message{ID: fmt.Sprint("m", i), ConversationID: "!c", Seq: int64(i + 1), Sender: "@a:x"})
			if err != nil && !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("write racing Close: %v", err)
			}
			stored[i] = err == nil
		})
	}
	must(t, s.Close())
	wg.Wait()
	must(t, s.Close()) // twice is fine
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Ping after Close: %v", err)
	}
	if _, err := s.GetUser(ctx, "u"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetUser after Close: %v", err)
	}
	s = openAt(t, dir)
	for i, ok := range stored {
		if _, err := s.GetMessage(ctx, fmt.Sprint("m", i)); ok && err != nil {
			t.Fatalf("message m%d acknowledged before Close is gone: %v", i, err)
		}
	}
}

func TestCancelledContextMatchesBoth(t *testing.T) {
	s := open(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Ping(ctx)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a cancelled context: %v", err)
	}
}

func TestBadIDsAreRefused(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	for name, err := range map[string]error{
		"user id with NUL":      s.PutUser(ctx, &store.User{ID: "u\x00x", Localpart: "a", Email: "a@x"}),
		"empty localpart":       s.PutUser(ctx, &store.User{ID: "u", Email: "a@x"}),
		"empty message id":      s.PutMessage(ctx, &store.Message{ConversationID: "!c", Seq: 1, Sender: "@a:x"}),
		"conversation with NUL": s.PutMessage(ctx, &store.Message{ID: "m", ConversationID: "!c\x00", Seq: 1, Sender: "@a:x"}),
		"session with NUL user": s.PutSession(ctx, &store.Session{TokenHash: "h", UserID: "u\x00"}),
		"empty key owner":       s.PutDataKey(ctx, &store.DataKey{ID: "k"}),
		"empty file id":         s.PutFile(ctx, &store.File{}),
	} {
		if !errors.Is(err, errBadID) {
			t.Errorf("%s: got %v, want errBadID", name, err)
		}
	}
	_, err := s.EnsureConversation(ctx, &store.Conversation{ID: "!c", Members: []string{"@a:x\x00!d"}})
	if !errors.Is(err, errBadID) {
		t.Errorf("member with NUL: got %v, want errBadID", err)
	}
}

func TestUserWithoutEmail(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	must(t, s.PutUser(ctx, &store.User{ID: "u1", Localpart: "op1"}))
	must(t, s.PutUser(ctx, &store.User{ID: "u2", Localpart: "op2"})) // no email is not a taken email
	if _, err := s.GetUserByLocalpart(ctx, "op2"); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsSayWhat(t *testing.T) {
	s := open(t)
	_, err := s.GetConversation(t.Context(), "!missing")
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "!missing") {
		t.Fatalf("GetConversation error %q should wrap ErrNotFound and name the id", err)
	}
}
