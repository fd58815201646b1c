package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// testBlobList: a BlobLister lists every blob in id order, pages with
// after and limit, gives each blob's size and a write time, and forgets
// deleted blobs.
func testBlobList(t *testing.T, s store.Store) {
	l, ok := s.Blobs().(store.BlobLister)
	if !ok {
		t.Skip("the blob store cannot list its blobs")
	}
	ctx := t.Context()
	before := time.Now().Add(-time.Minute)
	for _, id := range []string{"list-c", "list-a", "list-b"} {
		if _, err := s.Blobs().WriteBlob(ctx, id, strings.NewReader(strings.Repeat("x", len(id)+1))); err != nil {
			t.Fatal(err)
		}
	}
	page, err := l.ListBlobs(ctx, "list-", 2)
	must(t, err)
	if len(page) != 2 || page[0].ID != "list-a" || page[1].ID != "list-b" || page[0].Size != 7 || page[0].WrittenAt.Before(before) {
		t.Fatalf("ListBlobs first page = %+v", page)
	}
	page, err = l.ListBlobs(ctx, "list-b", 10)
	must(t, err)
	if len(page) != 1 || page[0].ID != "list-c" {
		t.Fatalf("ListBlobs after list-b = %+v", page)
	}
	must(t, s.Blobs().DeleteBlob(ctx, "list-a"))
	page, err = l.ListBlobs(ctx, "", 100)
	must(t, err)
	var ids []string
	for _, b := range page {
		ids = append(ids, b.ID)
	}
	if got := strings.Join(ids, ","); !strings.Contains(got, "list-b,list-c") || strings.Contains(got, "list-a") {
		t.Fatalf("ListBlobs after a delete = %s", got)
	}
}
