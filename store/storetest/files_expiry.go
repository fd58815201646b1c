package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// fileExpiryCases hold backends to what purge and the upload quota need:
// files due for removal (expired, played out, never announced) and the
// bytes each user stores.
var fileExpiryCases = []testCase{
	{"DueByExpiryOrPending", testDueFiles},
	{"DueFollowsUpdate", testDueFollowsUpdate},
	{"DueForgetsDeleted", testDueForgetsDeleted},
	{"ExpireFileOnlyLowers", testExpireFile},
	{"UsagePerOwner", testFileUsage},
	{"AddPlayRecordsItsTime", testAddPlayTime},
	{"CancelledCallsFail", testFileExpiryCancelled},
}

func dueIDs(t *testing.T, s store.Store, now time.Time, limit int) []string {
	t.Helper()
	fs, err := s.ListDueFiles(t.Context(), now, limit)
	must(t, err)
	ids := idsOf(fs, func(f *store.File) string { return f.ID })
	slices.Sort(ids)
	return ids
}

// plainFile is a file that never expires, owned by owner.
func plainFile(id, owner string, size int64) *store.File {
	f := newFile(id, "!c")
	f.Owner, f.Size, f.ExpiresAt, f.MaxPlays = owner, size, time.Time{}, 0
	return f
}

func testDueFiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	never := plainFile("never", alice, 1)
	expiring := plainFile("expiring", alice, 1)
	expiring.ExpiresAt = t0.Add(time.Hour)
	pending := plainFile("pending", alice, 1)
	pending.ConversationID, pending.PendingUntil = "", t0.Add(10*time.Minute)
	both := plainFile("both", bob, 1) // the earlier deadline counts
	both.ExpiresAt, both.PendingUntil = t0.Add(5*time.Minute), t0.Add(2*time.Hour)
	for _, f := range []*store.File{never, expiring, pending, both} {
		must(t, s.PutFile(ctx, f))
	}
	wantIDs(t, "due at t0", dueIDs(t, s, t0, 0), nil)
	wantIDs(t, "due at +5m (inclusive)", dueIDs(t, s, t0.Add(5*time.Minute), 0), []string{"both"})
	wantIDs(t, "due at +10m", dueIDs(t, s, t0.Add(10*time.Minute), 0), []string{"both", "pending"})
	wantIDs(t, "due at +1h", dueIDs(t, s, t0.Add(time.Hour), 0), []string{"both", "expiring", "pending"})
	if got := dueIDs(t, s, t0.Add(time.Hour), 2); len(got) != 2 {
		t.Fatalf("limit 2 returned %v", got)
	}
	fs, err := s.ListDueFiles(ctx, t0.Add(10*time.Minute), 0)
	must(t, err)
	for _, f := range fs {
		if f.ID == "pending" && (f.Owner != alice || !f.PendingUntil.Equal(pending.PendingUntil)) {
			t.Fatalf("due file came back as %+v", f)
		}
	}
}

func testDueFollowsUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := plainFile("f1", alice, 1)
	f.ConversationID, f.PendingUntil = "", t0.Add(time.Minute)
	must(t, s.PutFile(ctx, f))
	wantIDs(t, "pending upload", dueIDs(t, s, t0.Add(time.Minute), 0), []string{"f1"})
	// Announcing clears PendingUntil: the file is no longer due.
	f.ConversationID, f.MessageID, f.PendingUntil = "!c", "m1", time.Time{}
	must(t, s.UpdateFile(ctx, f))
	wantIDs(t, "announced upload", dueIDs(t, s, t0.Add(24*time.Hour), 0), nil)
	f.ExpiresAt = t0.Add(time.Hour)
	must(t, s.UpdateFile(ctx, f))
	wantIDs(t, "before its new expiry", dueIDs(t, s, t0.Add(59*time.Minute), 0), nil)
	wantIDs(t, "at its new expiry", dueIDs(t, s, t0.Add(time.Hour), 0), []string{"f1"})
	_, err := s.AddPlay(ctx, "f1", t0)
	must(t, err)
	wantIDs(t, "after a play", dueIDs(t, s, t0.Add(time.Hour), 0), []string{"f1"})
}

func testDueForgetsDeleted(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"f1", "f2"} {
		f := plainFile(id, alice, 1)
		f.ConversationID = "!d"
		f.ExpiresAt = t0
		must(t, s.PutFile(ctx, f))
	}
	lone := plainFile("f3", alice, 1)
	lone.ConversationID, lone.PendingUntil = "", t0
	must(t, s.PutFile(ctx, lone))
	must(t, s.DeleteFile(ctx, "f3"))
	mkConv(t, s, "!d")
	must(t, s.DeleteConversation(ctx, "!d"))
	wantIDs(t, "due after the deletes", dueIDs(t, s, t0.Add(time.Hour), 0), nil)
	if n, err := s.FileUsage(ctx, alice); err != nil || n != 0 {
		t.Fatalf("usage after the deletes = %d, %v; want 0", n, err)
	}
}

func testExpireFile(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := plainFile("f1", alice, 1)
	f.MaxPlays = 2
	must(t, s.PutFile(ctx, f))
	_, err := s.AddPlay(ctx, "f1", t0)
	must(t, err)
	must(t, s.ExpireFile(ctx, "f1", t0.Add(time.Hour))) // from none
	must(t, s.ExpireFile(ctx, "f1", t0.Add(2*time.Hour)))
	got, err := s.GetFile(ctx, "f1")
	must(t, err)
	if !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.Plays != 1 || got.MaxPlays != 2 {
		t.Fatalf("after ExpireFile +1h then +2h: %+v, want expiry +1h and the play kept", got)
	}
	must(t, s.ExpireFile(ctx, "f1", t0.Add(time.Minute)))
	got, err = s.GetFile(ctx, "f1")
	must(t, err)
	if !got.ExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("ExpireFile did not lower the expiry: %v", got.ExpiresAt)
	}
	wantIDs(t, "due at the lowered expiry", dueIDs(t, s, t0.Add(time.Minute), 0), []string{"f1"})
	wantErr(t, s.ExpireFile(ctx, "nope", t0), store.ErrNotFound, "ExpireFile of a missing file")
	if _, err := s.GetFile(ctx, "nope"); err == nil {
		t.Fatal("ExpireFile created a file")
	}
}

func testFileUsage(t *testing.T, s store.Store) {
	ctx := t.Context()
	usage := func(owner string) int64 {
		t.Helper()
		n, err := s.FileUsage(ctx, owner)
		must(t, err)
		return n
	}
	if n := usage(alice); n != 0 {
		t.Fatalf("usage of nobody's files = %d", n)
	}
	must(t, s.PutFile(ctx, plainFile("a1", alice, 100)))
	must(t, s.PutFile(ctx, plainFile("a2", alice, 20)))
	must(t, s.PutFile(ctx, plainFile("b1", bob, 7)))
	// "@alice:x.test2" must not be counted as a prefix match of alice.
	must(t, s.PutFile(ctx, plainFile("c1", alice+"2", 1000)))
	if a, b := usage(alice), usage(bob); a != 120 || b != 7 {
		t.Fatalf("usage alice %d bob %d, want 120 and 7", a, b)
	}
	must(t, s.DeleteFile(ctx, "a1"))
	if a := usage(alice); a != 20 {
		t.Fatalf("usage after a delete = %d, want 20", a)
	}
}

func testFileExpiryCancelled(t *testing.T, s store.Store) {
	must(t, s.PutFile(t.Context(), plainFile("f1", alice, 1)))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.ListDueFiles(ctx, t0, 0); err == nil {
		t.Error("ListDueFiles with a cancelled context succeeded")
	}
	if err := s.ExpireFile(ctx, "f1", t0); err == nil {
		t.Error("ExpireFile with a cancelled context succeeded")
	}
	if _, err := s.FileUsage(ctx, alice); err == nil {
		t.Error("FileUsage with a cancelled context succeeded")
	}
	if f, _ := s.GetFile(t.Context(), "f1"); f != nil && !f.ExpiresAt.IsZero() {
		t.Error("a cancelled ExpireFile changed the file")
	}
}

func testAddPlayTime(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutFile(ctx, plainFile("f1", alice, 1)))
	for i, at := range []time.Time{t0.Add(time.Minute), t0.Add(3 * time.Minute), t0.Add(2 * time.Minute)} {
		n, err := s.AddPlay(ctx, "f1", at)
		must(t, err)
		if n != int64(i+1) {
			t.Fatalf("play %d counted as %d", i+1, n)
		}
	}
	got, err := s.GetFile(ctx, "f1")
	must(t, err)
	if !got.LastPlayAt.Equal(t0.Add(3*time.Minute)) || got.Plays != 3 {
		t.Fatalf("after plays at +1m, +3m, +2m: LastPlayAt %v plays %d; want +3m (the latest) and 3", got.LastPlayAt, got.Plays)
	}
}
