package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestCtlPurgeUploadsDryRunThenForReal: two unannounced uploads and a
// blob left without a record (put in the blob dir while the node was
// down, two hours old) are counted by --dry-run, which changes nothing
// (the same counts again, the blob still on disk), then removed; an
// announced file stays readable; bad ages are usage errors.
func TestCtlPurgeUploadsDryRunThenForReal(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	alice := register(t, n, "alice")
	register(t, n, "bob")
	pdf := make([]byte, 3000)
	_, _ = rand.Read(pdf)
	copy(pdf, "%PDF-1.7\n")
	kept := uploadFile(t, n, alice.Token, "@bob:localhost", pdf)
	uploadFile(t, n, alice.Token, "", pdf)
	uploadFile(t, n, alice.Token, "", pdf)

	n.Stop()
	orphan := filepath.Join(n.DataDir, "blobs", "orphan-blob-1")
	if err := os.WriteFile(orphan, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(orphan, old, old); err != nil {
		t.Fatal(err)
	}
	n.Start()

	var r client.UploadsReport
	dry := func() {
		t.Helper()
		c.jsonOut(srv, adminToken, &r, "purge", "uploads", "--older-than", "1s", "--dry-run")
	}
	// The default age (10m) spares the fresh uploads, not the old blob.
	c.jsonOut(srv, adminToken, &r, "purge", "uploads", "--dry-run")
	if r.Unannounced != 0 || r.Orphaned != 1 || r.OrphanedBytes != 1000 || !r.OrphansChecked || !r.DryRun {
		t.Fatalf("dry run at the default age: %+v", r)
	}
	if !testenv.Poll(10*time.Second, func() bool { dry(); return r.Unannounced == 2 }) {
		t.Fatalf("dry run: %+v", r)
	}
	if r.UnannouncedBytes != 2*3000 || r.Orphaned != 1 {
		t.Fatalf("dry run: %+v", r)
	}
	dry()
	if _, err := os.Stat(orphan); r.Unannounced != 2 || r.Orphaned != 1 || err != nil {
		t.Fatalf("a dry run changed something: %+v, orphan blob: %v", r, err)
	}
	if code, msg := c.code(srv, adminToken, "purge", "uploads", "--older-than", "1s"); code != 2 || !strings.Contains(msg, "--yes") {
		t.Fatalf("without --yes off a terminal: exit %d %q", code, msg)
	}
	for _, bad := range []string{"0s", "banana", "-5m"} {
		if code, _ := c.code(srv, adminToken, "purge", "uploads", "--older-than", bad, "--dry-run"); code != 2 {
			t.Errorf("--older-than %s: exit %d, want 2", bad, code)
		}
	}

	// The API refuses bad ages itself (400, never a 500).
	for _, q := range []string{"seconds=abc", "seconds=-5", "seconds=99999999999", "dry_run=maybe"} {
		req, _ := http.NewRequest("POST", srv+"/_admin/v1/purge/uploads?"+q, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Errcode string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e.Errcode != "CT_INVALID" {
			t.Errorf("POST purge/uploads?%s: %d %s", q, resp.StatusCode, e.Errcode)
		}
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatal("a refused request removed the orphan blob")
	}

	c.jsonOut(srv, adminToken, &r, "purge", "uploads", "--older-than", "1s", "--yes")
	if r.Unannounced != 2 || r.Orphaned != 1 || r.DryRun {
		t.Fatalf("purge uploads: %+v", r)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the orphan blob is still there: %v", err)
	}
	dry()
	if r.Unannounced != 0 || r.Orphaned != 0 {
		t.Fatalf("after the purge: %+v", r)
	}
	if got := downloadFile(t, n, alice.Token, kept); !bytes.Equal(got, pdf) {
		t.Fatal("the announced file did not survive")
	}
	var es []client.AuditEntry
	c.jsonOut(srv, adminToken, &es, "audit", "--action", "purge.uploads")
	// Newest first: the last dry run, the purge, the dry runs before.
	if len(es) < 4 || es[0].Target != "uploads older than 1s dry-run" || es[1].Target != "uploads older than 1s" || es[1].Result != "ok" ||
		es[len(es)-1].Target != "uploads older than 10m0s dry-run" {
		t.Fatalf("audit: %d entries, %+v", len(es), es[:min(len(es), 3)])
	}
}
