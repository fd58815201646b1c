package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var auditCases = []testCase{
	{"AppendAndListNewestFirst", testAuditOrder},
	{"Filters", testAuditFilters},
	{"Paging", testAuditPaging},
	{"DuplicateID", testAuditDuplicate},
	{"Empty", testAuditEmpty},
}

// seedAudit writes n entries a minute apart from t0, alternating two
// actors and three actions.
func seedAudit(t *testing.T, s store.Store, n int) []*store.AuditEntry {
	t.Helper()
	actions := []string{"users.deactivate", "keys.rewrap", "purge"}
	var out []*store.AuditEntry
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		e := &store.AuditEntry{
			ID: store.NewAuditID(at), At: at, Actor: []string{"admin-token", "@root:x.test"}[i%2],
			Action: actions[i%3], Target: fmt.Sprintf("@u%d:x.test", i), ClientIP: "192.0.2.1", Status: 200, Result: "ok",
		}
		must(t, s.AppendAudit(t.Context(), e))
		out = append(out, e)
	}
	return out
}

func testAuditOrder(t *testing.T, s store.Store) {
	seeded := seedAudit(t, s, 5)
	got, err := s.ListAudit(t.Context(), store.AuditQuery{})
	must(t, err)
	if len(got) != 5 {
		t.Fatalf("got %d entries, want 5", len(got))
	}
	for i, e := range got {
		want := seeded[4-i]
		if e.ID != want.ID || e.Actor != want.Actor || e.Action != want.Action || e.Target != want.Target ||
			e.ClientIP != want.ClientIP || e.Status != want.Status || e.Result != want.Result || !e.At.Equal(want.At) {
			t.Fatalf("entry %d = %+v, want %+v", i, e, want)
		}
	}
}

func testAuditFilters(t *testing.T, s store.Store) {
	seedAudit(t, s, 12)
	check := func(q store.AuditQuery, want int, what string) {
		t.Helper()
		got, err := s.ListAudit(t.Context(), q)
		must(t, err)
		if len(got) != want {
			t.Fatalf("%s: got %d entries, want %d", what, len(got), want)
		}
		for _, e := range got {
			if !q.Matches(e) {
				t.Fatalf("%s: entry %+v does not match", what, e)
			}
		}
	}
	check(store.AuditQuery{Actor: "@root:x.test"}, 6, "by actor")
	check(store.AuditQuery{Action: "keys.rewrap"}, 4, "by action")
	check(store.AuditQuery{Actor: "admin-token", Action: "purge"}, 2, "by actor and action")
	check(store.AuditQuery{Since: t0.Add(10 * time.Minute)}, 2, "since")
	check(store.AuditQuery{Until: t0.Add(2 * time.Minute)}, 2, "until")
	check(store.AuditQuery{Since: t0.Add(3 * time.Minute), Until: t0.Add(6 * time.Minute)}, 3, "window")
	check(store.AuditQuery{Actor: "nobody"}, 0, "unknown actor")
}

func testAuditPaging(t *testing.T, s store.Store) {
	seeded := seedAudit(t, s, 7)
	var seen []string
	q := store.AuditQuery{Limit: 3}
	for range 5 {
		page, err := s.ListAudit(t.Context(), q)
		must(t, err)
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			seen = append(seen, e.ID)
		}
		q.Before = page[len(page)-1].ID
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d entries, want 7", len(seen))
	}
	for i, id := range seen {
		if id != seeded[6-i].ID {
			t.Fatalf("page order: entry %d is %s, want %s", i, id, seeded[6-i].ID)
		}
	}
	// A filtered page continues from the cursor too.
	page, err := s.ListAudit(t.Context(), store.AuditQuery{Actor: "admin-token", Before: seeded[4].ID})
	must(t, err)
	if len(page) != 2 || page[0].ID != seeded[2].ID || page[1].ID != seeded[0].ID {
		t.Fatalf("filtered page before %s: %+v", seeded[4].ID, page)
	}
}

func testAuditDuplicate(t *testing.T, s store.Store) {
	e := &store.AuditEntry{ID: store.NewAuditID(t0), At: t0, Actor: "admin-token", Action: "purge", Result: "ok"}
	must(t, s.AppendAudit(t.Context(), e))
	wantErr(t, s.AppendAudit(t.Context(), e), store.ErrConflict, "second append of one id")
}

func testAuditEmpty(t *testing.T, s store.Store) {
	got, err := s.ListAudit(t.Context(), store.AuditQuery{Actor: "admin-token"})
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("empty log listed %d entries", len(got))
	}
}
