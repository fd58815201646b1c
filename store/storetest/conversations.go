package storetest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var conversationCases = []testCase{
	{"EnsureIsIdempotent", testConvEnsure},
	{"EnsureConcurrent", testConvEnsureConcurrent},
	{"NotFound", testConvNotFound},
	{"ListByMemberNewestFirst", testConvList},
	{"NextSeq", testConvNextSeq},
	{"NextSeqConcurrent", testConvNextSeqConcurrent},
	{"MarkReadDeliveredMonotonic", testConvPositions},
	{"MarkReadConcurrent", testConvPositionsConcurrent},
	{"IdleTimer", testConvIdleTimer},
	{"IdleExpiredLimit", testConvIdleLimit},
}

func testConvEnsure(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := mkConv(t, s, "!c1")
	if first.ID != "!c1" || !slices.Equal(first.Members, []string{alice, bob}) || !first.CreatedAt.Equal(t0) || first.LastSeq != 0 {
		t.Fatalf("created %+v", first)
	}
	_, err := s.NextSeq(ctx, "!c1", t0)
	must(t, err)
	again, err := s.EnsureConversation(ctx, &store.Conversation{
		ID: "!c1", Members: []string{alice, carol}, CreatedAt: t0.Add(time.Hour), TimerSeconds: 99, TimerMode: store.TimerAfterSend,
	})
	must(t, err)
	if again.LastSeq != 1 || again.TimerSeconds != 0 || !again.CreatedAt.Equal(t0) || !slices.Equal(again.Members, []string{alice, bob}) {
		t.Fatalf("EnsureConversation replaced the stored conversation: %+v", again)
	}
	if list, _ := s.ListConversations(ctx, carol); len(list) != 0 {
		t.Fatal("a second Ensure added a member")
	}
}

func testConvEnsureConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	errs := parallel(10, func(i int) error {
		c, err := s.EnsureConversation(ctx, &store.Conversation{ID: "!race", Members: []string{alice, bob}, CreatedAt: t0, TimerSeconds: int64(i)})
		if err == nil && c.ID != "!race" {
			err = fmt.Errorf("got conversation %q", c.ID)
		}
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	list, err := s.ListConversations(ctx, alice)
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("%d conversations after 10 concurrent Ensures, want 1", len(list))
	}
}

func testConvNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!c1")
	_, err := s.GetConversation(ctx, "!nope")
	wantErr(t, err, store.ErrNotFound, "GetConversation")
	_, err = s.NextSeq(ctx, "!nope", t0)
	wantErr(t, err, store.ErrNotFound, "NextSeq")
	wantErr(t, s.SetTimer(ctx, "!nope", 60, store.TimerIdle, t0), store.ErrNotFound, "SetTimer")
	_, err = s.MarkRead(ctx, "!nope", bob, 1)
	wantErr(t, err, store.ErrNotFound, "MarkRead")
	_, err = s.MarkDelivered(ctx, "!nope", bob, 1)
	wantErr(t, err, store.ErrNotFound, "MarkDelivered")
	_, err = s.GetConversation(ctx, "!nope")
	wantErr(t, err, store.ErrNotFound, "GetConversation after failed updates (no upsert)")
}

func convIDs(cs []*store.Conversation) []string {
	return idsOf(cs, func(c *store.Conversation) string { return c.ID })
}

func testConvList(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!ab")
	mkConv(t, s, "!ac", alice, carol)
	mkConv(t, s, "!bc", bob, carol)
	mkConv(t, s, "!a", alice, "@alicia:x.test") // "!a" is a prefix of the other ids
	for i, id := range []string{"!ac", "!ab", "!bc"} {
		_, err := s.NextSeq(ctx, id, t0.Add(time.Duration(i+1)*time.Minute))
		must(t, err)
	}
	for _, tc := range []struct {
		user string
		want []string
	}{
		{alice, []string{"!ab", "!ac", "!a"}},
		{bob, []string{"!bc", "!ab"}},
		{carol, []string{"!bc", "!ac"}},
		{"@alicia:x.test", []string{"!a"}},
		{"@ali", nil},
		{"@stranger:x.test", nil},
	} {
		list, err := s.ListConversations(ctx, tc.user)
		must(t, err)
		wantIDs(t, "conversations of "+tc.user, convIDs(list), tc.want)
	}
}

func testConvNextSeq(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!c1")
	mkConv(t, s, "!c2")
	for want := int64(1); want <= 3; want++ {
		now := t0.Add(time.Duration(want) * time.Second)
		seq, err := s.NextSeq(ctx, "!c1", now)
		must(t, err)
		if seq != want {
			t.Fatalf("NextSeq = %d, want %d", seq, want)
		}
		c, err := s.GetConversation(ctx, "!c1")
		must(t, err)
		if c.LastSeq != want || !c.LastMessageAt.Equal(now) {
			t.Fatalf("after NextSeq: LastSeq %d LastMessageAt %v", c.LastSeq, c.LastMessageAt)
		}
	}
	seq, err := s.NextSeq(ctx, "!c2", t0)
	must(t, err)
	if seq != 1 {
		t.Fatalf("each conversation counts on its own: got %d", seq)
	}
}

func testConvNextSeqConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!cc")
	// 16 at once is contention enough; 50 timed out on FerretDB under a loaded CI.
	const workers, each = 16, 8
	var mu sync.Mutex
	seen := map[int64]bool{}
	errs := parallel(workers, func(int) error {
		last := int64(0)
		for range each {
			seq, err := s.NextSeq(ctx, "!cc", t0)
			if err != nil {
				return err
			}
			if seq <= last {
				return fmt.Errorf("seq %d after %d: not increasing", seq, last)
			}
			last = seq
			mu.Lock()
			dup := seen[seq]
			seen[seq] = true
			mu.Unlock()
			if dup {
				return fmt.Errorf("seq %d handed out twice", seq)
			}
		}
		return nil
	})
	for _, err := range errs {
		must(t, err)
	}
	if len(seen) != workers*each {
		t.Fatalf("%d distinct seqs, want %d", len(seen), workers*each)
	}
	c, err := s.GetConversation(ctx, "!cc")
	must(t, err)
	top := slices.Max(slices.Collect(maps.Keys(seen)))
	if c.LastSeq != top {
		t.Fatalf("LastSeq %d, highest seq handed out %d", c.LastSeq, top)
	}
	if next, _ := s.NextSeq(ctx, "!cc", t0); next <= top {
		t.Fatalf("NextSeq after the storm = %d, not above %d", next, top)
	}
}

func testConvPositions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!c1")
	mark := func(fn func() (int64, error), want int64, what string) {
		t.Helper()
		got, err := fn()
		must(t, err)
		if got != want {
			t.Fatalf("%s = %d, want %d", what, got, want)
		}
	}
	mark(func() (int64, error) { return s.MarkRead(ctx, "!c1", bob, 5) }, 5, "MarkRead 5")
	mark(func() (int64, error) { return s.MarkRead(ctx, "!c1", bob, 3) }, 5, "MarkRead 3 after 5")
	mark(func() (int64, error) { return s.MarkRead(ctx, "!c1", bob, 5) }, 5, "MarkRead 5 again")
	mark(func() (int64, error) { return s.MarkRead(ctx, "!c1", bob, 7) }, 7, "MarkRead 7")
	mark(func() (int64, error) { return s.MarkRead(ctx, "!c1", alice, 2) }, 2, "alice's own position")
	mark(func() (int64, error) { return s.MarkDelivered(ctx, "!c1", bob, 4) }, 4, "MarkDelivered 4")
	mark(func() (int64, error) { return s.MarkDelivered(ctx, "!c1", bob, 1) }, 4, "MarkDelivered 1 after 4")
	c, err := s.GetConversation(ctx, "!c1")
	must(t, err)
	if c.ReadSeq[bob] != 7 || c.ReadSeq[alice] != 2 || c.DeliveredSeq[bob] != 4 || c.DeliveredSeq[alice] != 0 {
		t.Fatalf("stored positions read %v delivered %v", c.ReadSeq, c.DeliveredSeq)
	}
}

func testConvPositionsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!c1")
	errs := parallel(30, func(i int) error {
		_, err := s.MarkRead(ctx, "!c1", bob, int64(i+1))
		return err
	})
	for _, err := range errs {
		must(t, err)
	}
	c, err := s.GetConversation(ctx, "!c1")
	must(t, err)
	if c.ReadSeq[bob] != 30 {
		t.Fatalf("read position %d after concurrent marks up to 30", c.ReadSeq[bob])
	}
}

func testConvIdleTimer(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkConv(t, s, "!c1")
	mkConv(t, s, "!c2")
	idle := func(now time.Time) []string {
		t.Helper()
		list, err := s.ListIdleExpired(ctx, now, 10)
		must(t, err)
		return convIDs(list)
	}
	wantIDs(t, "no timer", idle(t0.Add(1000*time.Hour)), nil)
	must(t, s.SetTimer(ctx, "!c1", 60, store.TimerIdle, t0))
	c, err := s.GetConversation(ctx, "!c1")
	must(t, err)
	if c.TimerSeconds != 60 || c.TimerMode != store.TimerIdle || !c.IdleExpiresAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after SetTimer: %+v", c)
	}
	wantIDs(t, "before the deadline", idle(t0.Add(59*time.Second)), nil)
	wantIDs(t, "at the deadline", idle(t0.Add(time.Minute)), []string{"!c1"})
	_, err = s.NextSeq(ctx, "!c1", t0.Add(time.Hour))
	must(t, err)
	wantIDs(t, "activity pushes the deadline", idle(t0.Add(time.Hour)), nil)
	wantIDs(t, "pushed deadline", idle(t0.Add(time.Hour+time.Minute)), []string{"!c1"})
	must(t, s.SetTimer(ctx, "!c1", 60, store.TimerAfterSend, t0))
	c, _ = s.GetConversation(ctx, "!c1")
	if !c.IdleExpiresAt.IsZero() || c.TimerMode != store.TimerAfterSend {
		t.Fatalf("after_send timer kept an idle deadline: %+v", c)
	}
	wantIDs(t, "after_send is not idle", idle(t0.Add(1000*time.Hour)), nil)
	must(t, s.SetTimer(ctx, "!c1", 30, store.TimerIdle, t0))
	must(t, s.SetTimer(ctx, "!c1", 0, store.TimerOff, t0))
	c, _ = s.GetConversation(ctx, "!c1")
	if !c.IdleExpiresAt.IsZero() || c.TimerSeconds != 0 || c.TimerMode != store.TimerOff {
		t.Fatalf("timer off: %+v", c)
	}
	wantIDs(t, "timer off", idle(t0.Add(1000*time.Hour)), nil)
}

func testConvIdleLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 5 {
		id := fmt.Sprintf("!c%d", i)
		mkConv(t, s, id)
		// Later conversations run out earlier.
		must(t, s.SetTimer(ctx, id, int64(100-i), store.TimerIdle, t0))
	}
	list, err := s.ListIdleExpired(ctx, t0.Add(time.Hour), 3)
	must(t, err)
	if len(list) != 3 {
		t.Fatalf("%d conversations over limit 3", len(list))
	}
	all, err := s.ListIdleExpired(ctx, t0.Add(time.Hour), 10)
	must(t, err)
	got := convIDs(all)
	slices.Sort(got)
	wantIDs(t, "all idle-expired", got, []string{"!c0", "!c1", "!c2", "!c3", "!c4"})
}
