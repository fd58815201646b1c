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
