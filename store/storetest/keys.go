package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var keyCases = []testCase{
	{"PutGet", testKeyPutGet},
	{"ListByOwnerNewestLast", testKeyListByOwner},
	{"NotWrappedByPaging", testKeyNotWrappedBy},
	{"WrappedByPaging", testKeyWrappedBy},
	{"KeyCheckWrittenOnce", testKeyCheckOnce},
	{"KeyCheckConcurrentFirstWriters", testKeyCheckRace},
	{"Update", testKeyUpdate},
	{"DeleteByOwner", testKeyDelete},
}

func putKey(t *testing.T, s store.Store, id, owner, version string, created time.Time) *store.DataKey {
	t.Helper()
	k := &store.DataKey{ID: id, Owner: owner, MasterVersion: version, Wrapped: []byte("wrapped-" + id), CreatedAt: created}
	must(t, s.PutDataKey(t.Context(), k))
	return k
}

func keyIDs(ks []*store.DataKey) []string {
	return idsOf(ks, func(k *store.DataKey) string { return k.ID })
}

func testKeyPutGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	putKey(t, s, "k1", "!c", "v1", t0)
	got, err := s.GetDataKey(ctx, "k1")
	must(t, err)
	if got.ID != "k1" || got.Owner != "!c" || got.MasterVersion != "v1" || string(got.Wrapped) != "wrapped-k1" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("GetDataKey = %+v", got)
	}
	dup := &store.DataKey{ID: "k1", Owner: "!other", MasterVersion: "v9", Wrapped: []byte("x"), CreatedAt: t0}
	wantErr(t, s.PutDataKey(ctx, dup), store.ErrConflict, "same key id")
	if got, _ := s.GetDataKey(ctx, "k1"); got.Owner != "!c" {
		t.Fatal("a refused put replaced the key")
	}
	if keys, _ := s.ListDataKeys(ctx, "!other"); len(keys) != 0 {
		t.Fatal("a refused put indexed the key under its owner")
	}
	_, err = s.GetDataKey(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetDataKey unknown")
}

func testKeyListByOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Ids in the opposite order of creation, so an id-ordered answer fails.
	putKey(t, s, "k3", "!c", "v1", t0)
	putKey(t, s, "k1", "!c", "v1", t0.Add(2*time.Second))
	putKey(t, s, "k2", "!c", "v2", t0.Add(time.Second))
	putKey(t, s, "k4", "!c2", "v1", t0) // "!c" is a prefix of this owner
	putKey(t, s, "k5", "f1", "v1", t0)
	keys, err := s.ListDataKeys(ctx, "!c")
	must(t, err)
	wantIDs(t, "keys of !c, newest last", keyIDs(keys), []string{"k3", "k2", "k1"})
	keys, err = s.ListDataKeys(ctx, "!c2")
	must(t, err)
	wantIDs(t, "keys of !c2", keyIDs(keys), []string{"k4"})
	keys, err = s.ListDataKeys(ctx, "!none")
	must(t, err)
	wantIDs(t, "keys of an unknown owner", keyIDs(keys), nil)
}

func testKeyNotWrappedBy(t *testing.T, s store.Store) {
	ctx := t.Context()
	versions := []string{"v1", "v2", "v1", "v3", "v2", "v1", "v1"}
	var want []string
	for i, v := range versions {
		id := fmt.Sprintf("key%02d", len(versions)-i) // stored out of id order
		putKey(t, s, id, fmt.Sprintf("!c%d", i%3), v, t0)
		if v != "v2" {
			want = append(want, id)
		}
	}
	slices.Sort(want) // pages come in ascending id order
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > len(versions) {
			t.Fatal("paging does not end")
		}
		page, err := s.ListDataKeysNotWrappedBy(ctx, "v2", after, 2)
		must(t, err)
		if len(page) > 2 {
			t.Fatalf("page of %d over limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			if k.MasterVersion == "v2" {
				t.Fatalf("key %s is wrapped by v2", k.ID)
			}
		}
		got = append(got, keyIDs(page)...)
		after = page[len(page)-1].ID
	}
	wantIDs(t, "keys not wrapped by v2", got, want)
	page, err := s.ListDataKeysNotWrappedBy(ctx, "v9", "key03", 100)
	must(t, err)
	wantIDs(t, "exclusive cursor", keyIDs(page), []string{"key04", "key05", "key06", "key07"})
}

func testKeyUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	putKey(t, s, "k1", "!c", "v1", t0)
	putKey(t, s, "k2", "!c", "v1", t0)
	must(t, s.UpdateDataKey(ctx, &store.DataKey{ID: "k1", Owner: "!elsewhere", MasterVersion: "v2", Wrapped: []byte("rewrapped"), CreatedAt: t0.Add(time.Hour)}))
	got, err := s.GetDataKey(ctx, "k1")
	must(t, err)
	if got.MasterVersion != "v2" || string(got.Wrapped) != "rewrapped" || got.Owner != "!c" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after UpdateDataKey: %+v", got)
	}
	page, err := s.ListDataKeysNotWrappedBy(ctx, "v2", "", 10)
	must(t, err)
	wantIDs(t, "left to re-wrap", keyIDs(page), []string{"k2"})
	wantErr(t, s.UpdateDataKey(ctx, &store.DataKey{ID: "nope", MasterVersion: "v2"}), store.ErrNotFound, "UpdateDataKey unknown")
	if _, err := s.GetDataKey(ctx, "nope"); err == nil {
		t.Fatal("UpdateDataKey created a key")
	}
}

func testKeyDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	putKey(t, s, "k1", "!c", "v1", t0)
	putKey(t, s, "k2", "!c", "v1", t0)
	putKey(t, s, "k3", "!c2", "v1", t0)
	must(t, s.DeleteDataKeys(ctx, "!c"))
	for _, id := range []string{"k1", "k2"} {
		_, err := s.GetDataKey(ctx, id)
		wantErr(t, err, store.ErrNotFound, "deleted key "+id)
	}
	if keys, _ := s.ListDataKeys(ctx, "!c"); len(keys) != 0 {
		t.Fatal("keys listed after DeleteDataKeys")
	}
	if _, err := s.GetDataKey(ctx, "k3"); err != nil {
		t.Fatal("another owner's key was deleted:", err)
	}
	must(t, s.DeleteDataKeys(ctx, "!c"))
	must(t, s.DeleteDataKeys(ctx, "!nobody"))
	page, err := s.ListDataKeysNotWrappedBy(ctx, "v2", "", 10)
	must(t, err)
	wantIDs(t, "left after delete", keyIDs(page), []string{"k3"})
}

func testKeyWrappedBy(t *testing.T, s store.Store) {
	ctx := t.Context()
	versions := []string{"v1", "v2", "v1", "v3", "v2", "v1", "v1"}
	var want []string
	for i, v := range versions {
		id := fmt.Sprintf("key%02d", len(versions)-i) // stored out of id order
		putKey(t, s, id, fmt.Sprintf("!c%d", i%3), v, t0)
		if v == "v1" {
			want = append(want, id)
		}
	}
	slices.Sort(want)
	var got []string
	for after, pages := "", 0; ; pages++ {
		if pages > len(versions) {
			t.Fatal("paging does not end")
		}
		page, err := s.ListDataKeysWrappedBy(ctx, "v1", after, 3)
		must(t, err)
		if len(page) > 3 {
			t.Fatalf("page of %d over limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			if k.MasterVersion != "v1" {
				t.Fatalf("key %s is wrapped by %s", k.ID, k.MasterVersion)
			}
		}
		got = append(got, keyIDs(page)...)
		after = page[len(page)-1].ID
	}
	wantIDs(t, "keys wrapped by v1", got, want)
	page, err := s.ListDataKeysWrappedBy(ctx, "v9", "", 10)
	must(t, err)
	wantIDs(t, "keys of an unused version", keyIDs(page), nil)
}

func testKeyCheckOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetKeyCheck(ctx, "v1")
	wantErr(t, err, store.ErrNotFound, "check of a version never used")
	must(t, s.PutKeyCheck(ctx, &store.KeyCheck{Version: "v1", Sealed: []byte{1, 0, 0xff}, CreatedAt: t0}))
	must(t, s.PutKeyCheck(ctx, &store.KeyCheck{Version: "v2", Sealed: []byte("two"), CreatedAt: t0}))
	// A second check for v1 (another node's different key) is refused and
	// the first one stays: the first writer decides what v1 is.
	err = s.PutKeyCheck(ctx, &store.KeyCheck{Version: "v1", Sealed: []byte("other key"), CreatedAt: t0.Add(time.Hour)})
	wantErr(t, err, store.ErrConflict, "second check of v1")
	got, err := s.GetKeyCheck(ctx, "v1")
	must(t, err)
	if got.Version != "v1" || string(got.Sealed) != "\x01\x00\xff" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("GetKeyCheck(v1) = %+v", got)
	}
	if got, err := s.GetKeyCheck(ctx, "v2"); err != nil || string(got.Sealed) != "two" {
		t.Fatalf("GetKeyCheck(v2) = %+v, %v", got, err)
	}
	_, err = s.GetKeyCheck(ctx, "v3")
	wantErr(t, err, store.ErrNotFound, "check of v3")
}

func testKeyCheckRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	errs := parallel(8, func(i int) error {
		return s.PutKeyCheck(ctx, &store.KeyCheck{Version: "v1", Sealed: fmt.Appendf(nil, "node-%d", i), CreatedAt: t0})
	})
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("two first writers of the check of v1: %d and %d", winner, i)
			}
			winner = i
			continue
		}
		wantErr(t, err, store.ErrConflict, "losing first writer")
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got, err := s.GetKeyCheck(ctx, "v1")
	must(t, err)
	if want := fmt.Sprintf("node-%d", winner); string(got.Sealed) != want {
		t.Fatalf("stored check %q, the winner wrote %q", got.Sealed, want)
	}
}
