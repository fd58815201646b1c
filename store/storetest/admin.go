package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var adminCases = []testCase{
	{"ListUserSessions", testAdminListUserSessions},
	{"CountEmpty", testAdminCountEmpty},
	{"Count", testAdminCount},
	{"DeleteUser", testAdminDeleteUser},
	{"ResealMessage", testAdminResealMessage},
}

func testAdminDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("gone")
	must(t, s.PutUser(ctx, u))
	must(t, s.PutUser(ctx, newUser("kept")))
	must(t, s.DeleteUser(ctx, u.ID))
	_, err := s.GetUser(ctx, u.ID)
	wantErr(t, err, store.ErrNotFound, "GetUser after DeleteUser")
	_, err = s.GetUserByLocalpart(ctx, "gone")
	wantErr(t, err, store.ErrNotFound, "GetUserByLocalpart after DeleteUser")
	wantErr(t, s.DeleteUser(ctx, u.ID), store.ErrNotFound, "second DeleteUser")
	// Name and email are free again.
	again := newUser("gone")
	must(t, s.PutUser(ctx, again))
	list, err := s.ListUsers(ctx, store.UserQuery{})
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("users after delete and re-register: %d", len(list))
	}
}

func testAdminListUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, sess := range []*store.Session{
		{TokenHash: "h1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		{TokenHash: "h2", UserID: "u1", CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)},
		{TokenHash: "h3", UserID: "u10", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, // "u1" is a prefix of "u10"
	} {
		must(t, s.PutSession(ctx, sess))
	}
	got, err := s.ListUserSessions(ctx, "u1")
	must(t, err)
	var hashes []string
	for _, sess := range got {
		if sess.UserID != "u1" || sess.ExpiresAt.IsZero() {
			t.Fatalf("session of u1: %+v", sess)
		}
		hashes = append(hashes, sess.TokenHash)
	}
	slices.Sort(hashes)
	if !slices.Equal(hashes, []string{"h1", "h2"}) {
		t.Fatalf("sessions of u1: %v", hashes)
	}
	none, err := s.ListUserSessions(ctx, "nobody")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("sessions of an unknown user: %v", none)
	}
}

func testAdminCountEmpty(t *testing.T, s store.Store) {
	n, err := s.Count(t.Context(), t0, t0)
	must(t, err)
	if n.Users != 0 || n.Messages != 0 || n.Files != 0 || n.Conversations != 0 || len(n.DataKeys) != 0 {
		t.Fatalf("counts of an empty store: %+v", n)
	}
}

func testAdminCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, name := range []string{"ann", "ben", "cat"} {
		u := newUser(name)
		u.Admin, u.Deactivated = i == 0, i == 2
		must(t, s.PutUser(ctx, u))
		// ann logged in now, ben ten days ago, cat never.
		if i < 2 {
			at := t0.Add(-time.Duration(i) * 10 * 24 * time.Hour)
			must(t, s.PutSession(ctx, &store.Session{TokenHash: "h-" + name, UserID: u.ID, CreatedAt: at, ExpiresAt: at.Add(time.Hour)}))
		}
	}
	mkConv(t, s, "!m")
	mkConv(t, s, "!n")
	for range 3 {
		send(t, s, "!m", alice, nil)
	}
	must(t, s.PutFile(ctx, newFile("f1", "!m")))
	f2 := newFile("f2", "!m")
	f2.Size, f2.KeyID = 766, ""
	must(t, s.PutFile(ctx, f2))
	for i, v := range []string{"v1", "v1", "v2"} {
		must(t, s.PutDataKey(ctx, &store.DataKey{ID: "k" + string(rune('0'+i)), Owner: "!m", MasterVersion: v, Wrapped: []byte("w"), CreatedAt: t0}))
	}
	n, err := s.Count(ctx, t0.Add(-24*time.Hour), t0.Add(-30*24*time.Hour))
	must(t, err)
	want := store.Counts{Users: 3, Deactivated: 1, Admins: 1, ActiveDay: 1, ActiveMonth: 2, Conversations: 2, Messages: 3,
		Files: 2, FileBytes: 2000, FileKeys: 1}
	dk := n.DataKeys
	got := *n
	got.DataKeys = nil
	if !reflect.DeepEqual(got, want) || len(dk) != 2 || dk["v1"] != 2 || dk["v2"] != 1 {
		t.Fatalf("counts: %+v %v, want %+v v1=2 v2=1", got, dk, want)
	}
}

func testAdminResealMessage(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!r")
	m := send(t, s, "!r", alice, nil)
	wantErr(t, s.ResealMessage(ctx, m.ID, "not-its-key", "k2", []byte("x")), store.ErrConflict, "reseal from a wrong key")
	must(t, s.ResealMessage(ctx, m.ID, m.KeyID, "k2", []byte("resealed")))
	got, err := s.GetMessage(ctx, m.ID)
	must(t, err)
	if got.KeyID != "k2" || string(got.Body) != "resealed" || got.Seq != m.Seq || got.Sender != m.Sender {
		t.Fatalf("resealed message: %+v", got)
	}
	wantErr(t, s.ResealMessage(ctx, "nope", "a", "b", nil), store.ErrNotFound, "reseal of a missing message")
}
