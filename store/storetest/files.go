package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var fileCases = []testCase{
	{"PutGetRoundTrip", testFileRoundTrip},
	{"NotFound", testFileNotFound},
	{"AddPlay", testFileAddPlay},
	{"AddPlayConcurrent", testFileAddPlayConcurrent},
	{"ConversationIndex", testFileConversationIndex},
	{"Delete", testFileDelete},
}

func newFile(id, conv string) *store.File {
	return &store.File{
		ID: id, ConversationID: conv, Owner: alice, KeyID: "fk-" + id, Kind: "voice", Filename: "memo.ogg",
		Mime: "audio/ogg", Size: 1234, DurationMS: 4500, MaxPlays: 2, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	}
}

func testFileRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFile("f1", "!c")
	f.MessageID = "m1"
	must(t, s.PutFile(ctx, f))
	got, err := s.GetFile(ctx, "f1")
	must(t, err)
	if got.ID != "f1" || got.ConversationID != "!c" || got.Owner != alice || got.KeyID != "fk-f1" || got.Kind != "voice" ||
		got.Filename != "memo.ogg" || got.Mime != "audio/ogg" || got.Size != 1234 || got.DurationMS != 4500 ||
		got.MaxPlays != 2 || got.Plays != 0 || got.MessageID != "m1" || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(f.ExpiresAt) {
		t.Fatalf("GetFile = %+v, want %+v", got, f)
	}
	dup := newFile("f1", "!other")
	wantErr(t, s.PutFile(ctx, dup), store.ErrConflict, "same file id")
	if got, _ := s.GetFile(ctx, "f1"); got.ConversationID != "!c" {
		t.Fatal("a refused put replaced the file")
	}
	if ids, _ := s.ListConversationFiles(ctx, "!other"); len(ids) != 0 {
		t.Fatal("a refused put indexed the file")
	}
}

func testFileNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetFile(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetFile")
	wantErr(t, s.UpdateFile(ctx, newFile("nope", "!c")), store.ErrNotFound, "UpdateFile")
	_, err = s.AddPlay(ctx, "nope", t0)
	wantErr(t, err, store.ErrNotFound, "AddPlay")
	wantNilOrNotFound(t, s.DeleteFile(ctx, "nope"), "DeleteFile")
	_, err = s.GetFile(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetFile after failed writes (no upsert)")
	if ids, _ := s.ListConversationFiles(ctx, "!c"); len(ids) != 0 {
		t.Fatal("a failed update indexed the file")
	}
}

func testFileAddPlay(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutFile(ctx, newFile("f1", "!c")))
	must(t, s.PutFile(ctx, newFile("f2", "!c")))
	for want := int64(1); want <= 3; want++ {
		n, err := s.AddPlay(ctx, "f1", t0)
		must(t, err)
		if n != want {
			t.Fatalf("AddPlay = %d, want %d", n, want)
		}
	}
	got, err := s.GetFile(ctx, "f1")
	must(t, err)
	other, err := s.GetFile(ctx, "f2")
	must(t, err)
	if got.Plays != 3 || other.Plays != 0 {
		t.Fatalf("plays stored: f1 %d f2 %d", got.Plays, other.Plays)
	}
}

func testFileAddPlayConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutFile(ctx, newFile("f1", "!c")))
	counts := make([]int64, 20)
	errs := parallel(len(counts), func(i int) error {
		var err error
		counts[i], err = s.AddPlay(ctx, "f1", t0)
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	// Each play got its own count: no lost update, no shared number.
	slices.Sort(counts)
	for i, n := range counts {
		if n != int64(i+1) {
			t.Fatalf("counts handed out %v, want 1..20 once each", counts)
		}
	}
}

func testFileConversationIndex(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutFile(ctx, newFile("f1", "!c")))
	must(t, s.PutFile(ctx, newFile("f2", "!c2"))) // "!c" is a prefix of "!c2"
	unbound := newFile("f3", "")                  // uploaded before it was sent
	must(t, s.PutFile(ctx, unbound))
	files := func(conv string) []string {
		t.Helper()
		ids, err := s.ListConversationFiles(ctx, conv)
		must(t, err)
		slices.Sort(ids)
		return ids
	}
	wantIDs(t, "files of !c", files("!c"), []string{"f1"})
	unbound.ConversationID, unbound.MessageID, unbound.Plays = "!c", "m3", 1
	must(t, s.UpdateFile(ctx, unbound))
	got, err := s.GetFile(ctx, "f3")
	must(t, err)
	if got.ConversationID != "!c" || got.MessageID != "m3" || got.Plays != 1 {
		t.Fatalf("UpdateFile lost fields: %+v", got)
	}
	wantIDs(t, "files of !c after binding f3", files("!c"), []string{"f1", "f3"})
	moved := newFile("f1", "!c2")
	must(t, s.UpdateFile(ctx, moved))
	wantIDs(t, "files of !c after moving f1", files("!c"), []string{"f3"})
	wantIDs(t, "files of !c2", files("!c2"), []string{"f1", "f2"})
	wantIDs(t, "files of an unknown conversation", files("!none"), nil)
}

func testFileDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutFile(ctx, newFile("f1", "!c")))
	must(t, s.PutFile(ctx, newFile("f2", "!c")))
	must(t, s.DeleteFile(ctx, "f1"))
	_, err := s.GetFile(ctx, "f1")
	wantErr(t, err, store.ErrNotFound, "deleted file")
	_, err = s.AddPlay(ctx, "f1", t0)
	wantErr(t, err, store.ErrNotFound, "AddPlay of a deleted file")
	ids, err := s.ListConversationFiles(ctx, "!c")
	must(t, err)
	wantIDs(t, "files left", ids, []string{"f2"})
	wantNilOrNotFound(t, s.DeleteFile(ctx, "f1"), "deleting a deleted file")
}
