package bolt

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entries lists what is in a directory (nil if it does not exist).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	must(t, err)
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestFailedBlobWriteLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	boom := errors.New("boom")
	_, err := s.Blobs().WriteBlob(t.Context(), "b1", io.MultiReader(strings.NewReader("part"), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Fatalf("WriteBlob: %v", err)
	}
	blobs := filepath.Join(dir, "blobs")
	if got := entries(t, blobs); len(got) != 1 || got[0] != ".tmp" {
		t.Fatalf("blob dir after a failed write: %v", got)
	}
	if got := entries(t, filepath.Join(blobs, ".tmp")); len(got) != 0 {
		t.Fatalf("temp dir after a failed write: %v", got)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestCrashLeftoversAreCleared(t *testing.T) {
	dir := t.TempDir()
	must(t, openAt(t, dir).Close())
	tmp := filepath.Join(dir, "blobs", ".tmp")
	must(t, os.WriteFile(filepath.Join(tmp, "b1-123"), []byte("half"), 0o600))
	openAt(t, dir)
	if got := entries(t, tmp); len(got) != 0 {
		t.Fatalf("leftovers after Open: %v", got)
	}
}

func TestBlobIDsCannotEscape(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, dir)
	for _, id := range []string{"../escape", "a/b", "/abs", ".tmp", "..", "a.b", "", strings.Repeat("x", 129)} {
		if _, err := s.Blobs().WriteBlob(t.Context(), id, strings.NewReader("x")); !errors.Is(err, errBadID) {
			t.Errorf("WriteBlob(%q): %v, want errBadID", id, err)
		}
		must(t, s.Blobs().DeleteBlob(t.Context(), id))
	}
	if got := entries(t, dir); len(got) != 2 {
		t.Fatalf("data dir holds %v, want only the database and blobs/", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", ".tmp")); err != nil {
		t.Fatal("DeleteBlob(\".tmp\") removed the temp dir:", err)
	}
}

func TestDeleteFileRemovesBlob(t *testing.T) {
	s := open(t)
	ctx := t.Context()
	_, err := s.Blobs().WriteBlob(ctx, "f1", strings.NewReader("x"))
	must(t, err)
	// The metadata was never stored: the blob goes anyway.
	_ = s.DeleteFile(ctx, "f1")
	if _, err := s.Blobs().OpenBlob(ctx, "f1", 0); err == nil {
		t.Fatal("DeleteFile left the blob")
	}
}
