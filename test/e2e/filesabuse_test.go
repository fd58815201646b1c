package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestFilesAbuse drives the upload and download abuse found in the attack
// run against the real binary: max_plays bypassed through the Range
// header's spelling and HEAD, played-out voice and unannounced uploads
// kept for ever, uploads without limit, a truncated body answered 500.
// Short TTLs (the purge worker runs every second) keep it fast.
func TestFilesAbuse(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{
		"CRYPTTALK_LIMITS_PENDING_UPLOAD_TTL=2s",
		"CRYPTTALK_LIMITS_VOICE_PLAY_GRACE=1s",
		"CRYPTTALK_LIMITS_UPLOAD_QUOTA_BYTES=1000000",
		"CRYPTTALK_RATELIMIT_UPLOAD_PER_USER_COUNT=20",
	}})
	blobDir := filepath.Join(n.DataDir, "blobs")
	blobExists := func(id string) bool {
		_, err := os.Stat(filepath.Join(blobDir, id))
		return err == nil
	}

	t.Run("max_plays counts every read of byte 0 and never HEAD", func(t *testing.T) {
		t.Parallel()
		alice, _ := newUser(t, n, "alice")
		bob, bu := newUser(t, n, "bob")
		aconn, bconn := connect(t, alice, nil), connect(t, bob, nil)
		data := wav(100)
		status, a := upload(t, n, alice.Token, map[string]string{"to": bu.UserID, "kind": "voice", "max_plays": "3"}, "n.wav", data)
		if status != 200 || a.Msg == nil {
			t.Fatalf("voice upload: %d %+v", status, a)
		}
		for range 3 {
			resp := head(t, n, bob.Token, a.FileID)
			if resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) {
				t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
			}
		}
		// Each of these reads the whole message; each is one of the 3 plays.
		for _, rng := range []string{fmt.Sprintf("bytes=-%d", len(data)), "bytes= 0-", "bytes=00-"} {
			resp, got := download(t, n, bob.Token, a.FileID, rng)
			if resp.StatusCode/100 != 2 || !bytes.Equal(got, data) {
				t.Fatalf("%q: %d, %d bytes", rng, resp.StatusCode, len(got))
			}
		}
		for _, rng := range []string{"", "bytes=0-", "bytes=0-0,10-20"} {
			if resp, body := download(t, n, bob.Token, a.FileID, rng); resp.StatusCode != 410 || !strings.Contains(string(body), "CT_GONE") {
				t.Fatalf("a fourth play with %q: %d %s, want 410 CT_GONE", rng, resp.StatusCode, body)
			}
		}
		// Skipping byte 0 is a play too while no play is running.
		_, once := upload(t, n, alice.Token, map[string]string{"to": bu.UserID, "kind": "voice", "max_plays": "1"}, "n.wav", data)
		if resp, got := download(t, n, bob.Token, once.FileID, "bytes=1-"); resp.StatusCode != 206 || !bytes.Equal(got, data[1:]) {
			t.Fatalf("bytes=1-: %d, %d bytes", resp.StatusCode, len(got))
		}
		if resp, _ := download(t, n, bob.Token, once.FileID, "bytes=0-"); resp.StatusCode != 410 {
			t.Fatalf("a play after bytes=1- used the only one: %d, want 410", resp.StatusCode)
		}
		// Played out: purge removes message, blob and key, and tells both.
		waitEvent(t, bconn, "msg-deleted", func(d json.RawMessage) bool { return strings.Contains(string(d), a.Msg.ID) })
		waitEvent(t, aconn, "msg-deleted", func(d json.RawMessage) bool { return strings.Contains(string(d), a.Msg.ID) })
		if blobExists(a.FileID) {
			t.Fatal("the played-out voice message's blob is still on disk")
		}
		if resp, _ := download(t, n, alice.Token, a.FileID, ""); resp.StatusCode != 404 {
			t.Fatalf("the sender's download after purge: %d, want 404", resp.StatusCode)
		}
	})

	t.Run("unannounced uploads expire", func(t *testing.T) {
		t.Parallel()
		eve, _ := newUser(t, n, "eve")
		status, a := upload(t, n, eve.Token, nil, "draft.pdf", pdf(5000))
		if status != 200 || !blobExists(a.FileID) {
			t.Fatalf("upload without to: %d %+v", status, a)
		}
		if !testenv.Poll(30*time.Second, func() bool { return !blobExists(a.FileID) }) {
			t.Fatal("an upload without to was never removed")
		}
		econn := connect(t, eve, nil)
		_, bu := newUser(t, n, "bob")
		_, err := econn.Request(ctxT(t), "send-file", map[string]any{"to": bu.UserID, "file_id": a.FileID})
		apiErr(t, err, 404, "CT_NOT_FOUND")
	})

	t.Run("conversation delete removes its files", func(t *testing.T) {
		t.Parallel()
		alice, _ := newUser(t, n, "alice")
		_, bu := newUser(t, n, "bob")
		_, sent := upload(t, n, alice.Token, map[string]string{"to": bu.UserID}, "a.pdf", pdf(3000))
		_, later := upload(t, n, alice.Token, nil, "b.pdf", pdf(3000))
		aconn := connect(t, alice, nil)
		if _, err := aconn.Request(ctxT(t), "send-file", map[string]any{"to": bu.UserID, "file_id": later.FileID}); err != nil {
			t.Fatal(err)
		}
		if err := alice.DeleteConversation(ctxT(t), bu.UserID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{sent.FileID, later.FileID} {
			if blobExists(id) {
				t.Errorf("blob %s outlived its conversation", id)
			}
		}
	})

	t.Run("upload rate limit per user", func(t *testing.T) {
		t.Parallel()
		mallory, _ := newUser(t, n, "mallory")
		other, _ := newUser(t, n, "other")
		for i := range 20 {
			if status, a := upload(t, n, mallory.Token, nil, "x.pdf", pdf(100)); status != 200 {
				t.Fatalf("upload %d within the limit: %d %+v", i+1, status, a)
			}
		}
		resp, body := rawUpload(t, n, mallory.Token, uploadBody(t, pdf(100)))
		if resp.StatusCode != 429 || !strings.Contains(body, "CT_RATE_LIMITED") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("upload 21: %d %s (Retry-After %q), want 429 CT_RATE_LIMITED", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
		if status, _ := upload(t, n, other.Token, nil, "x.pdf", pdf(100)); status != 200 {
			t.Fatalf("another user was limited too: %d", status)
		}
	})

	// Not parallel: it counts the blobs on disk, which the parallel
	// subtests (paused until the sequential ones are done) would change.
	t.Run("storage quota per user", func(t *testing.T) {
		hoarder, _ := newUser(t, n, "hoarder")
		_, bu := newUser(t, n, "bob")
		for i := range 2 {
			if status, a := upload(t, n, hoarder.Token, map[string]string{"to": bu.UserID}, "x.pdf", pdf(400_000)); status != 200 {
				t.Fatalf("upload %d within the quota: %d %+v", i+1, status, a)
			}
		}
		before := countFiles(t, blobDir)
		status, a := upload(t, n, hoarder.Token, map[string]string{"to": bu.UserID}, "x.pdf", pdf(400_000))
		if status != 413 || a.Errcode != "CT_QUOTA_EXCEEDED" {
			t.Fatalf("upload over the quota: %d %+v, want 413 CT_QUOTA_EXCEEDED", status, a)
		}
		if after := countFiles(t, blobDir); after > before {
			t.Fatalf("a refused upload left %d blobs", after-before)
		}
	})

	t.Run("truncated multipart is 400", func(t *testing.T) {
		t.Parallel()
		alice, _ := newUser(t, n, "alice")
		full := uploadBody(t, pdf(200_000))
		for _, cut := range []int{len(full.data) / 2, len(full.data) - 10, 150, 20} {
			resp, body := rawUpload(t, n, alice.Token, multipartBody{data: full.data[:cut], ctype: full.ctype})
			if resp.StatusCode != 400 || !strings.Contains(body, `"errcode":"CT_`) {
				t.Errorf("body cut at %d of %d: %d %s, want 400", cut, len(full.data), resp.StatusCode, body)
			}
		}
	})
}

type multipartBody struct {
	data  []byte
	ctype string
}

func uploadBody(t *testing.T, file []byte) multipartBody {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	part, err := w.CreateFormFile("file", "x.pdf")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = part.Write(file)
	_ = w.Close()
	return multipartBody{data: b.Bytes(), ctype: w.FormDataContentType()}
}

// rawUpload posts body as it is, with a Content-Length that matches it.
func rawUpload(t *testing.T, n *testenv.Node, token string, body multipartBody) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.URL()+"/api/files/upload", bytes.NewReader(body.data))
	req.Header.Set("Content-Type", body.ctype)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Length", strconv.Itoa(len(body.data)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func head(t *testing.T, n *testenv.Node, token, id string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("HEAD", n.URL()+"/api/files/download/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
