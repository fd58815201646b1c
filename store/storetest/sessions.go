package storetest

import (
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var sessionCases = []testCase{
	{"PutGetDelete", testSessionPutGetDelete},
	{"DeleteUserSessions", testSessionDeleteUser},
}

func putSession(t *testing.T, s store.Store, hash, user string) *store.Session {
	t.Helper()
	sess := &store.Session{TokenHash: hash, UserID: user, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.PutSession(t.Context(), sess))
	return sess
}

func testSessionPutGetDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	putSession(t, s, "h1", "u1")
	putSession(t, s, "h2", "u1")
	got, err := s.GetSession(ctx, "h1")
	must(t, err)
	if got.TokenHash != "h1" || got.UserID != "u1" || !got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("GetSession = %+v", got)
	}
	for _, h := range []string{"nope", "H1", "h", ""} {
		_, err = s.GetSession(ctx, h)
		wantErr(t, err, store.ErrNotFound, "unknown token "+h)
	}
	must(t, s.DeleteSession(ctx, "h1"))
	_, err = s.GetSession(ctx, "h1")
	wantErr(t, err, store.ErrNotFound, "deleted session")
	if _, err := s.GetSession(ctx, "h2"); err != nil {
		t.Fatal("deleting one token removed another:", err)
	}
	wantNilOrNotFound(t, s.DeleteSession(ctx, "h1"), "deleting a deleted session")
}

func testSessionDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, h := range []string{"a1", "a2", "a3"} {
		putSession(t, s, h, "u1")
	}
	putSession(t, s, "b1", "u2")
	putSession(t, s, "c1", "u1x") // a user id that extends u1's
	must(t, s.DeleteSession(ctx, "a3"))
	n, err := s.DeleteUserSessions(ctx, "u1")
	must(t, err)
	if n != 2 {
		t.Fatalf("DeleteUserSessions = %d, want 2", n)
	}
	for _, h := range []string{"a1", "a2"} {
		_, err := s.GetSession(ctx, h)
		wantErr(t, err, store.ErrNotFound, "revoked "+h)
	}
	for _, h := range []string{"b1", "c1"} {
		if _, err := s.GetSession(ctx, h); err != nil {
			t.Fatalf("another user's session %s was revoked: %v", h, err)
		}
	}
	n, err = s.DeleteUserSessions(ctx, "u1")
	must(t, err)
	if n != 0 {
		t.Fatalf("second DeleteUserSessions = %d, want 0", n)
	}
	if n, err = s.DeleteUserSessions(ctx, "nobody"); err != nil || n != 0 {
		t.Fatalf("DeleteUserSessions(unknown) = %d, %v", n, err)
	}
}
