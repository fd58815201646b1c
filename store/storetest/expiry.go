package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var expiryCases = []testCase{
	{"ListExpired", testExpiredList},
	{"ListExpiredLimit", testExpiredLimit},
	{"SetMessagesExpiry", testSetExpiry},
	{"SetMessagesExpiryOnce", testSetExpiryOnce},
	{"DeletedAreNotExpired", testExpiredDeleted},
}

func expiredIDs(t *testing.T, s store.Store, now time.Time, limit int) []string {
	t.Helper()
	ms, err := s.ListExpiredMessages(t.Context(), now, limit)
	must(t, err)
	ids := idsOf(ms, func(m *store.Message) string { return m.ID })
	slices.Sort(ids)
	return ids
}

func sortedIDs(ms ...*store.Message) []string {
	ids := idsOf(ms, func(m *store.Message) string { return m.ID })
	slices.Sort(ids)
	return ids
}

func expiresAt(at time.Time) func(m *store.Message) {
	return func(m *store.Message) { m.ExpiresAt = at }
}

func testExpiredList(t *testing.T, s store.Store) {
	mkConv(t, s, "!e1")
	mkConv(t, s, "!e2")
	send(t, s, "!e1", alice, nil)
	send(t, s, "!e1", alice, func(m *store.Message) { m.TTLAfterRead = 5 }) // timer not started
	early := send(t, s, "!e1", alice, expiresAt(t0.Add(time.Minute)))
	other := send(t, s, "!e2", bob, expiresAt(t0.Add(2*time.Minute)))
	late := send(t, s, "!e2", alice, expiresAt(t0.Add(time.Hour)))
	wantIDs(t, "before any expiry", expiredIDs(t, s, t0, 10), nil)
	wantIDs(t, "exactly at the first expiry", expiredIDs(t, s, t0.Add(time.Minute), 10), sortedIDs(early))
	wantIDs(t, "across conversations", expiredIDs(t, s, t0.Add(3*time.Minute), 10), sortedIDs(early, other))
	wantIDs(t, "all", expiredIDs(t, s, t0.Add(1000*time.Hour), 10), sortedIDs(early, other, late))
	ms, err := s.ListExpiredMessages(t.Context(), t0.Add(time.Minute), 10)
	must(t, err)
	if len(ms) != 1 || ms[0].ConversationID != "!e1" || ms[0].Seq != early.Seq || !ms[0].ExpiresAt.Equal(early.ExpiresAt) {
		t.Fatalf("expired message fields: %+v", ms)
	}
}

func testExpiredLimit(t *testing.T, s store.Store) {
	mkConv(t, s, "!e")
	for i := range 7 {
		send(t, s, "!e", alice, expiresAt(t0.Add(time.Duration(i)*time.Second)))
	}
	if got := expiredIDs(t, s, t0.Add(time.Hour), 3); len(got) != 3 {
		t.Fatalf("%d expired messages over limit 3", len(got))
	}
	if got := expiredIDs(t, s, t0.Add(time.Hour), 100); len(got) != 7 {
		t.Fatalf("%d expired messages, want 7", len(got))
	}
}

func testSetExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!e")
	mkConv(t, s, "!f")
	ttl := func(sec int64) func(m *store.Message) { return func(m *store.Message) { m.TTLAfterRead = sec } }
	toBob1 := send(t, s, "!e", alice, ttl(30))     // 1
	toBob2 := send(t, s, "!e", alice, ttl(60))     // 2
	toAlice := send(t, s, "!e", bob, ttl(30))      // 3: bob's read does not start it
	plain := send(t, s, "!e", alice, nil)          // 4: no timer
	toBobLater := send(t, s, "!e", alice, ttl(30)) // 5: above uptoSeq
	elsewhere := send(t, s, "!f", alice, ttl(30))  // another conversation
	readAt := t0.Add(time.Hour)
	must(t, s.SetMessagesExpiry(ctx, "!e", bob, 4, readAt))
	for _, tc := range []struct {
		m    *store.Message
		want time.Time
	}{
		{toBob1, readAt.Add(30 * time.Second)},
		{toBob2, readAt.Add(time.Minute)},
		{toAlice, time.Time{}},
		{plain, time.Time{}},
		{toBobLater, time.Time{}},
		{elsewhere, time.Time{}},
	} {
		got, err := s.GetMessage(ctx, tc.m.ID)
		must(t, err)
		if !got.ExpiresAt.Equal(tc.want) {
			t.Fatalf("message %d of %s to %s: ExpiresAt %v, want %v", got.Seq, got.ConversationID, got.Recipient, got.ExpiresAt, tc.want)
		}
	}
	wantIDs(t, "started timers are listed", expiredIDs(t, s, readAt.Add(time.Minute), 10), sortedIDs(toBob1, toBob2))
	list, err := s.ListMessages(ctx, "!e", store.MessageRange{Limit: 50, Now: readAt.Add(45 * time.Second)})
	must(t, err)
	wantSeqs(t, "started timers hide messages", list, 2, 3, 4, 5)
}

func testSetExpiryOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!e")
	m := send(t, s, "!e", alice, func(m *store.Message) { m.TTLAfterRead = 30 })
	first := t0.Add(time.Hour)
	must(t, s.SetMessagesExpiry(ctx, "!e", bob, m.Seq, first))
	must(t, s.SetMessagesExpiry(ctx, "!e", bob, m.Seq+10, first.Add(time.Hour)))
	got, err := s.GetMessage(ctx, m.ID)
	must(t, err)
	if !got.ExpiresAt.Equal(first.Add(30 * time.Second)) {
		t.Fatalf("a second read moved the expiry to %v", got.ExpiresAt)
	}
	wantIDs(t, "listed once", expiredIDs(t, s, first.Add(1000*time.Hour), 10), sortedIDs(m))
	// Reads of unknown conversations or recipients are no-ops.
	must(t, s.SetMessagesExpiry(ctx, "!nope", bob, 100, first))
	must(t, s.SetMessagesExpiry(ctx, "!e", carol, 100, first))
	must(t, s.SetMessagesExpiry(ctx, "!e", bob, 0, first))
}

func testExpiredDeleted(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!e")
	a := send(t, s, "!e", alice, expiresAt(t0))
	b := send(t, s, "!e", alice, func(m *store.Message) { m.TTLAfterRead = 1 })
	c := send(t, s, "!e", alice, expiresAt(t0))
	must(t, s.SetMessagesExpiry(ctx, "!e", bob, b.Seq, t0))
	wantIDs(t, "before delete", expiredIDs(t, s, t0.Add(time.Hour), 10), sortedIDs(a, b, c))
	must(t, s.DeleteMessages(ctx, []string{a.ID, b.ID}))
	wantIDs(t, "after delete", expiredIDs(t, s, t0.Add(time.Hour), 10), sortedIDs(c))
}
