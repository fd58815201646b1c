// Package storetest is the conformance suite every store.Store backend must
// pass: store/bolt and store/mongo both call Run.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// Run runs the whole suite; newStore returns a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	suites := map[string]func(*testing.T, store.Store){
		"Users":         testUsers,
		"Sessions":      testSessions,
		"Conversations": testConversations,
		"Messages":      testMessages,
		"Expiry":        testExpiry,
		"Keys":          testKeys,
		"Files":         testFiles,
		"Blobs":         testBlobs,
		"Delete":        testDeleteConversation,
		"Concurrency":   testConcurrency,
		"Cancelled":     testCancelled,
	}
	for name, fn := range suites {
		t.Run(name, func(t *testing.T) { fn(t, newStore(t)) })
	}
}

var (
	ctx = context.Background()
	t0  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func user(name string) *store.User {
	return &store.User{ID: store.NewID(), UserID: "@" + name + ":x", Username: name, Localpart: name, Email: name + "@x.org", PasswordHash: []byte("h"), CreatedAt: t0}
}

func conv(t *testing.T, s store.Store, id string) *store.Conversation {
	t.Helper()
	c, err := s.EnsureConversation(ctx, &store.Conversation{ID: id, Members: []string{"@a:x", "@b:x"}, CreatedAt: t0, LastMessageAt: t0})
	must(t, err)
	return c
}

// send appends a message from a to b (or b to a) with the next seq.
func send(t *testing.T, s store.Store, convID, from, txn string) *store.Message {
	t.Helper()
	seq, err := s.NextSeq(ctx, convID, t0)
	must(t, err)
	to := "@b:x"
	if from == "@b:x" {
		to = "@a:x"
	}
	m := &store.Message{ID: store.NewID(), ConversationID: convID, Seq: seq, Sender: from, Recipient: to, Type: store.TypeText, KeyID: "k", Body: []byte{1, 2, 3}, TxnID: txn, CreatedAt: t0}
	must(t, s.PutMessage(ctx, m))
	return m
}

func seqs(ms []*store.Message) []int64 {
	out := make([]int64, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}

func equalSeqs(t *testing.T, what string, got []*store.Message, want ...int64) {
	t.Helper()
	g := seqs(got)
	if len(g) != len(want) {
		t.Fatalf("%s: seqs %v, want %v", what, g, want)
	}
	for i := range g {
		if g[i] != want[i] {
			t.Fatalf("%s: seqs %v, want %v", what, g, want)
		}
	}
}

func testUsers(t *testing.T, s store.Store) {
	alice := user("alice")
	must(t, s.PutUser(ctx, alice))
	dupName := user("alice")
	dupName.Email = "other@x.org"
	wantErr(t, s.PutUser(ctx, dupName), store.ErrConflict, "same localpart")
	dupMail := user("alice2")
	dupMail.Email = alice.Email
	wantErr(t, s.PutUser(ctx, dupMail), store.ErrConflict, "same email")
	got, err := s.GetUser(ctx, alice.ID)
	must(t, err)
	if got.UserID != alice.UserID || string(got.PasswordHash) != "h" {
		t.Fatalf("GetUser = %+v", got)
	}
	got, err = s.GetUserByLocalpart(ctx, "alice")
	must(t, err)
	if got.ID != alice.ID {
		t.Fatal("GetUserByLocalpart returned another user")
	}
	_, err = s.GetUser(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "unknown id")
	_, err = s.GetUserByLocalpart(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "unknown localpart")
	_, err = s.GetUserByLocalpart(ctx, `{"$ne":null}`)
	wantErr(t, err, store.ErrNotFound, "operator-looking localpart")

	alice.AvatarImage, alice.AvatarSet, alice.Deactivated = "data:x", true, true
	must(t, s.UpdateUser(ctx, alice))
	got, _ = s.GetUser(ctx, alice.ID)
	if !got.AvatarSet || got.AvatarImage != "data:x" || !got.Deactivated {
		t.Fatalf("update lost: %+v", got)
	}
	wantErr(t, s.UpdateUser(ctx, user("ghost")), store.ErrNotFound, "update unknown")

	for _, n := range []string{"bob", "carol", "dave", "bobby"} {
		must(t, s.PutUser(ctx, user(n)))
	}
	page, err := s.ListUsers(ctx, store.UserQuery{Limit: 2})
	must(t, err)
	if len(page) != 2 || page[0].Localpart != "alice" || page[1].Localpart != "bob" {
		t.Fatalf("first page %v", names(page))
	}
	page, _ = s.ListUsers(ctx, store.UserQuery{After: "bob", Limit: 10})
	if len(page) != 3 || page[0].Localpart != "bobby" {
		t.Fatalf("after bob: %v", names(page))
	}
	page, _ = s.ListUsers(ctx, store.UserQuery{Prefix: "BO", Limit: 10})
	if len(page) != 2 {
		t.Fatalf("search bo: %v", names(page))
	}
}

func names(us []*store.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.Localpart)
	}
	return out
}

func testSessions(t *testing.T, s store.Store) {
	exp := t0.Add(time.Hour)
	for _, h := range []string{"h1", "h2"} {
		must(t, s.PutSession(ctx, &store.Session{TokenHash: h, UserID: "u1", CreatedAt: t0, ExpiresAt: exp}))
	}
	must(t, s.PutSession(ctx, &store.Session{TokenHash: "h3", UserID: "u2", CreatedAt: t0, ExpiresAt: exp}))
	got, err := s.GetSession(ctx, "h1")
	must(t, err)
	if got.UserID != "u1" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("session %+v", got)
	}
	must(t, s.DeleteSession(ctx, "h1"))
	_, err = s.GetSession(ctx, "h1")
	wantErr(t, err, store.ErrNotFound, "deleted session")
	n, err := s.DeleteUserSessions(ctx, "u1")
	must(t, err)
	if n != 1 {
		t.Fatalf("revoked %d, want 1", n)
	}
	_, err = s.GetSession(ctx, "h2")
	wantErr(t, err, store.ErrNotFound, "revoked session")
	if _, err := s.GetSession(ctx, "h3"); err != nil {
		t.Fatal("another user's session was revoked")
	}
}

func testConversations(t *testing.T, s store.Store) {
	c := conv(t, s, "!c1")
	again, err := s.EnsureConversation(ctx, &store.Conversation{ID: "!c1", Members: []string{"@a:x", "@b:x"}, TimerSeconds: 99})
	must(t, err)
	if again.TimerSeconds != 0 || !again.CreatedAt.Equal(c.CreatedAt) {
		t.Fatal("EnsureConversation replaced an existing conversation")
	}
	_, err = s.GetConversation(ctx, "!nope")
	wantErr(t, err, store.ErrNotFound, "unknown conversation")
	later := t0.Add(time.Minute)
	_, err = s.EnsureConversation(ctx, &store.Conversation{ID: "!c2", Members: []string{"@a:x", "@c:x"}, CreatedAt: t0, LastMessageAt: t0})
	must(t, err)
	_, err = s.NextSeq(ctx, "!c2", later)
	must(t, err)
	list, err := s.ListConversations(ctx, "@a:x")
	must(t, err)
	if len(list) != 2 || list[0].ID != "!c2" {
		t.Fatalf("list for a: %d, first %v", len(list), list)
	}
	if list, _ := s.ListConversations(ctx, "@c:x"); len(list) != 1 {
		t.Fatal("c should have one conversation")
	}
	if list, _ := s.ListConversations(ctx, "@z:x"); len(list) != 0 {
		t.Fatal("stranger has conversations")
	}
	_, err = s.NextSeq(ctx, "!nope", t0)
	wantErr(t, err, store.ErrNotFound, "NextSeq of unknown conversation")

	for _, step := range []struct{ seq, want int64 }{{5, 5}, {3, 5}, {7, 7}} {
		got, err := s.MarkRead(ctx, "!c1", "@b:x", step.seq)
		must(t, err)
		if got != step.want {
			t.Fatalf("MarkRead(%d) = %d, want %d", step.seq, got, step.want)
		}
	}
	if got, _ := s.MarkDelivered(ctx, "!c1", "@b:x", 4); got != 4 {
		t.Fatal("MarkDelivered")
	}
	if got, _ := s.MarkDelivered(ctx, "!c1", "@b:x", 2); got != 4 {
		t.Fatal("MarkDelivered went down")
	}
	c, _ = s.GetConversation(ctx, "!c1")
	if c.ReadSeq["@b:x"] != 7 || c.DeliveredSeq["@b:x"] != 4 {
		t.Fatalf("positions %+v %+v", c.ReadSeq, c.DeliveredSeq)
	}

	must(t, s.SetTimer(ctx, "!c1", 60, store.TimerIdle, t0))
	c, _ = s.GetConversation(ctx, "!c1")
	if c.TimerSeconds != 60 || c.TimerMode != store.TimerIdle || !c.IdleExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("timer %+v", c)
	}
	_, err = s.NextSeq(ctx, "!c1", t0.Add(time.Hour))
	must(t, err)
	idle, _ := s.ListIdleExpired(ctx, t0.Add(time.Hour), 10)
	if len(idle) != 0 {
		t.Fatal("activity did not push the idle deadline")
	}
	idle, _ = s.ListIdleExpired(ctx, t0.Add(time.Hour+time.Minute), 10)
	if len(idle) != 1 || idle[0].ID != "!c1" {
		t.Fatalf("idle expired: %v", idle)
	}
	must(t, s.SetTimer(ctx, "!c1", 0, store.TimerOff, t0))
	if idle, _ := s.ListIdleExpired(ctx, t0.Add(48*time.Hour), 10); len(idle) != 0 {
		t.Fatal("timer off still listed")
	}
}
