package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/crypttalk/crypttalk/store"
)

var userCases = []testCase{
	{"PutGetRoundTrip", testUserRoundTrip},
	{"LocalpartUnique", testUserLocalpartUnique},
	{"EmailUnique", testUserEmailUnique},
	{"IDUnique", testUserIDUnique},
	{"NotFound", testUserNotFound},
	{"UpdateMutableFieldsOnly", testUserUpdate},
	{"ListPagesByLocalpart", testUserListPaging},
	{"ListDefaultLimit", testUserListDefaultLimit},
	{"ListSearch", testUserListSearch},
	{"ConcurrentSameName", testUserConcurrentSameName},
}

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("alice")
	u.Username, u.AvatarImage, u.AvatarSet, u.Admin = "Alice", "data:image/png;base64,AA==", true, true
	must(t, s.PutUser(ctx, u))
	for what, get := range map[string]func() (*store.User, error){
		"GetUser":            func() (*store.User, error) { return s.GetUser(ctx, u.ID) },
		"GetUserByLocalpart": func() (*store.User, error) { return s.GetUserByLocalpart(ctx, "alice") },
	} {
		got, err := get()
		must(t, err)
		if got.ID != u.ID || got.UserID != u.UserID || got.Username != "Alice" || got.Localpart != "alice" ||
			got.Email != u.Email || string(got.PasswordHash) != "hash-alice" || got.AvatarImage != u.AvatarImage ||
			!got.AvatarSet || !got.Admin || got.Deactivated || !got.CreatedAt.Equal(t0) {
			t.Fatalf("%s = %+v, want %+v", what, got, u)
		}
	}
}

func testUserLocalpartUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutUser(ctx, newUser("alice")))
	dup := newUser("alice")
	dup.Email = "other@x.test"
	wantErr(t, s.PutUser(ctx, dup), store.ErrConflict, "same localpart")
	// The refused user must have left no trace: its email is still free.
	other := newUser("alice2")
	other.Email = "other@x.test"
	must(t, s.PutUser(ctx, other))
	_, err := s.GetUser(ctx, dup.ID)
	wantErr(t, err, store.ErrNotFound, "refused user")
}

func testUserEmailUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutUser(ctx, newUser("alice")))
	dup := newUser("mallory")
	dup.Email = "alice@x.test"
	wantErr(t, s.PutUser(ctx, dup), store.ErrConflict, "same email")
	// The refused user must have left no trace: its localpart is still free.
	if _, err := s.GetUserByLocalpart(ctx, "mallory"); err == nil {
		t.Fatal("a refused user took its localpart")
	}
	must(t, s.PutUser(ctx, newUser("mallory")))
}

func testUserIDUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newUser("alice")
	must(t, s.PutUser(ctx, a))
	b := newUser("bob")
	b.ID = a.ID
	wantErr(t, s.PutUser(ctx, b), store.ErrConflict, "same id")
	got, err := s.GetUser(ctx, a.ID)
	must(t, err)
	if got.Localpart != "alice" {
		t.Fatal("a put with a taken id replaced the user")
	}
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, s.PutUser(ctx, newUser("alice")))
	_, err := s.GetUser(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetUser unknown id")
	// Lookups are exact: no case folding, no prefix, no query operators.
	for _, lp := range []string{"nope", "ALICE", "alic", "alice ", `{"$ne":null}`, ".*", ""} {
		_, err = s.GetUserByLocalpart(ctx, lp)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetUserByLocalpart(%q)", lp))
	}
	wantErr(t, s.UpdateUser(ctx, newUser("ghost")), store.ErrNotFound, "UpdateUser unknown")
}

func testUserUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("alice")
	must(t, s.PutUser(ctx, u))
	changed := *u
	changed.PasswordHash, changed.AvatarImage, changed.AvatarSet = []byte("new-hash"), "data:x", true
	changed.Admin, changed.Deactivated = true, true
	// Names and email are not mutable through UpdateUser.
	changed.Localpart, changed.Email, changed.Username = "eve", "eve@x.test", "eve"
	must(t, s.UpdateUser(ctx, &changed))
	got, err := s.GetUserByLocalpart(ctx, "alice")
	must(t, err)
	if string(got.PasswordHash) != "new-hash" || got.AvatarImage != "data:x" || !got.AvatarSet || !got.Admin || !got.Deactivated {
		t.Fatalf("mutable fields not updated: %+v", got)
	}
	if got.Localpart != "alice" || got.Email != "alice@x.test" {
		t.Fatalf("UpdateUser changed an immutable field: %+v", got)
	}
	if _, err := s.GetUserByLocalpart(ctx, "eve"); err == nil {
		t.Fatal("UpdateUser moved the localpart")
	}
}

func localparts(us []*store.User) []string {
	return idsOf(us, func(u *store.User) string { return u.Localpart })
}

func testUserListPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	names := []string{"dave", "alice", "carol", "bob", "bobby", "erin", "frank"}
	for _, n := range names {
		must(t, s.PutUser(ctx, newUser(n)))
	}
	slices.Sort(names)
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > len(names) {
			t.Fatal("paging does not end")
		}
		page, err := s.ListUsers(ctx, store.UserQuery{After: after, Limit: 3})
		must(t, err)
		if len(page) > 3 {
			t.Fatalf("page of %d over limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		all = append(all, localparts(page)...)
		after = page[len(page)-1].Localpart
	}
	wantIDs(t, "all pages", all, names)
	// The cursor is exclusive and need not be a stored localpart.
	page, err := s.ListUsers(ctx, store.UserQuery{After: "bob", Limit: 10})
	must(t, err)
	wantIDs(t, "after bob", localparts(page), []string{"bobby", "carol", "dave", "erin", "frank"})
	page, err = s.ListUsers(ctx, store.UserQuery{After: "c", Limit: 2})
	must(t, err)
	wantIDs(t, "after c", localparts(page), []string{"carol", "dave"})
	page, err = s.ListUsers(ctx, store.UserQuery{After: "zzz", Limit: 2})
	must(t, err)
	wantIDs(t, "after the end", localparts(page), nil)
}

func testUserListDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 55 {
		must(t, s.PutUser(ctx, newUser(fmt.Sprintf("user%02d", i))))
	}
	for _, limit := range []int{0, -1} {
		page, err := s.ListUsers(ctx, store.UserQuery{Limit: limit})
		must(t, err)
		if len(page) != 50 || page[0].Localpart != "user00" || page[49].Localpart != "user49" {
			t.Fatalf("limit %d: %d users, want the first 50", limit, len(page))
		}
	}
}

func testUserListSearch(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []string{"alice", "bob", "bobby", "carol", "jimbo"} {
		must(t, s.PutUser(ctx, newUser(n)))
	}
	display := newUser("dora")
	display.Username = "DoraTheBOB" // the username may hold more than the localpart
	must(t, s.PutUser(ctx, display))
	search := func(q store.UserQuery) []string {
		t.Helper()
		page, err := s.ListUsers(ctx, q)
		must(t, err)
		return localparts(page)
	}
	wantIDs(t, "substring, any case", search(store.UserQuery{Prefix: "BO", Limit: 10}), []string{"bob", "bobby", "dora", "jimbo"})
	wantIDs(t, "search with cursor", search(store.UserQuery{Prefix: "bo", After: "bob", Limit: 2}), []string{"bobby", "dora"})
	wantIDs(t, "no match", search(store.UserQuery{Prefix: "zed", Limit: 10}), nil)
	// A search is literal text, never a pattern.
	for _, q := range []string{".*", "(", "[a-z]", "^a", `\`, "%", "b.b"} {
		wantIDs(t, fmt.Sprintf("pattern-looking search %q", q), search(store.UserQuery{Prefix: q, Limit: 10}), nil)
	}
}

func testUserConcurrentSameName(t *testing.T, s store.Store) {
	ctx := t.Context()
	errs := parallel(10, func(i int) error {
		u := newUser("alice")
		u.Email = fmt.Sprintf("alice%d@x.test", i)
		return s.PutUser(ctx, u)
	})
	wantOneWinner(t, "10 sign-ups for one name", errs)
}

// wantOneWinner checks that exactly one call succeeded and the others got
// ErrConflict.
func wantOneWinner(t *testing.T, what string, errs []error) {
	t.Helper()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantErr(t, err, store.ErrConflict, what)
	}
	if won != 1 {
		t.Fatalf("%s: %d succeeded, want exactly 1", what, won)
	}
}
