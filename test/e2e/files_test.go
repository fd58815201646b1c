package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

type uploadAnswer struct {
	Status   bool            `json:"status"`
	FileID   string          `json:"file_id"`
	Filename string          `json:"filename"`
	Mime     string          `json:"mime"`
	Size     int64           `json:"size"`
	Msg      *client.Message `json:"msg"`
	Errcode  string          `json:"errcode"`
}

// upload posts a multipart form; fields go before the file part.
func upload(t *testing.T, n *testenv.Node, token string, fields map[string]string, name string, data []byte) (int, uploadAnswer) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	part, _ := w.CreateFormFile("file", name)
	_, _ = part.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest("POST", n.URL()+"/api/files/upload", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a uploadAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a
}

func download(t *testing.T, n *testenv.Node, token, id, rng string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", n.URL()+"/api/files/download/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func pdf(size int) []byte {
	b := make([]byte, size)
	_, _ = rand.Read(b)
	copy(b, "%PDF-1.7\n")
	return b
}

// wav builds a PCM WAV of the given length in milliseconds.
func wav(ms int) []byte {
	const rate, channels, bits = 8000, 1, 16
	data := rate * channels * bits / 8 * ms / 1000
	var b bytes.Buffer
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(36+data))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(channels), uint32(rate), uint32(rate * channels * bits / 8), uint16(channels * bits / 8), uint16(bits)} {
		_ = binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data))
	b.Write(make([]byte, data))
	return b.Bytes()
}

func TestFiles(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	alice, au := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	eve, _ := newUser(t, n, "eve")
	bconn := connect(t, bob, nil)

	for _, size := range []int{1000, 10 << 20} {
		data := pdf(size)
		status, a := upload(t, n, alice.Token, map[string]string{"to": bu.UserID}, "report.pdf", data)
		if status != 200 || a.Mime != "application/pdf" || a.Size != int64(size) || a.Msg == nil || a.Msg.Type != "file" {
			t.Fatalf("upload %d: %d %+v", size, status, a)
		}
		waitEvent(t, bconn, "file-recieve", func(d json.RawMessage) bool { return strings.Contains(string(d), a.FileID) })
		resp, got := download(t, n, bob.Token, a.FileID, "")
		if resp.StatusCode != 200 || !bytes.Equal(got, data) {
			t.Fatalf("download %d: %d, %d bytes, equal=%v", size, resp.StatusCode, len(got), bytes.Equal(got, data))
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("headers %v", resp.Header)
		}
		if size > 1000 {
			resp, part := download(t, n, bob.Token, a.FileID, "bytes=5000000-5000099")
			if resp.StatusCode != 206 || !bytes.Equal(part, data[5000000:5000100]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 5000000-5000099/%d", size) {
				t.Fatalf("range: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
			}
			resp, tail := download(t, n, alice.Token, a.FileID, "bytes=-10")
			if resp.StatusCode != 206 || !bytes.Equal(tail, data[size-10:]) {
				t.Fatal("suffix range")
			}
			if resp, _ := download(t, n, bob.Token, a.FileID, fmt.Sprintf("bytes=%d-", size)); resp.StatusCode != 416 {
				t.Fatalf("unsatisfiable range: %d", resp.StatusCode)
			}
		}
		if resp, _ := download(t, n, eve.Token, a.FileID, ""); resp.StatusCode != 404 {
			t.Fatalf("a stranger downloaded: %d", resp.StatusCode)
		}
	}
	if resp, _ := download(t, n, alice.Token, "0123456789abcdef0123456789abcdef", ""); resp.StatusCode != 404 {
		t.Fatal("unknown file id")
	}

	t.Run("refused uploads leave nothing", func(t *testing.T) {
		before := countFiles(t, filepath.Join(n.DataDir, "blobs"))
		mz := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 100)...)
		if status, a := upload(t, n, alice.Token, map[string]string{"to": bu.UserID}, "cute.png", mz); status != 415 {
			t.Fatalf("executable named .png: %d %+v", status, a)
		}
		if status, _ := upload(t, n, alice.Token, map[string]string{"to": bu.UserID}, "big.pdf", pdf(10<<20+1)); status != 413 {
			t.Fatalf("10 MiB + 1: %d", status)
		}
		if status, _ := upload(t, n, eve.Token, map[string]string{"to": "@nobody:localhost"}, "x.pdf", pdf(100)); status != 404 {
			t.Fatalf("unknown recipient: %d", status)
		}
		if after := countFiles(t, filepath.Join(n.DataDir, "blobs")); after != before {
			t.Fatalf("refused uploads left %d blobs behind", after-before)
		}
	})

	t.Run("send-file of someone else's upload", func(t *testing.T) {
		_, a := upload(t, n, alice.Token, nil, "draft.pdf", pdf(500)) // not announced
		econn := connect(t, eve, nil)
		_, err := econn.Request(ctxT(t), "send-file", map[string]any{"to": au.UserID, "file_id": a.FileID})
		apiErr(t, err, 404, "CT_NOT_FOUND")
		aconn := connect(t, alice, nil)
		raw, err := aconn.Request(ctxT(t), "send-file", map[string]any{"to": bu.UserID, "file_id": a.FileID})
		if err != nil {
			t.Fatal(err)
		}
		raw2, err := aconn.Request(ctxT(t), "send-file", map[string]any{"to": bu.UserID, "file_id": a.FileID})
		if err != nil || !sameID(raw, raw2) {
			t.Fatalf("second send-file made another message: %s %s %v", raw, raw2, err)
		}
	})

	t.Run("voice with max_plays and a tampered blob", func(t *testing.T) {
		status, a := upload(t, n, alice.Token, map[string]string{"to": bu.UserID, "kind": "voice", "duration_ms": "999999", "max_plays": "2", "expires_in": "300"}, "note.wav", wav(1500))
		if status != 200 || a.Msg == nil || a.Msg.Type != "voice" || a.Msg.File == nil || a.Msg.File.DurationMS != 1500 {
			t.Fatalf("voice upload %d %+v", status, a)
		}
		waitEvent(t, bconn, "voice-recieve", nil)
		for i := 0; i < 2; i++ {
			if resp, _ := download(t, n, bob.Token, a.FileID, ""); resp.StatusCode != 200 {
				t.Fatalf("play %d: %d", i+1, resp.StatusCode)
			}
		}
		if resp, _ := download(t, n, bob.Token, a.FileID, ""); resp.StatusCode != 410 {
			t.Fatalf("third play: %d, want 410", resp.StatusCode)
		}
		if status, _ := upload(t, n, alice.Token, map[string]string{"to": bu.UserID, "kind": "voice", "expires_in": "10"}, "n.wav", wav(100)); status != 400 {
			t.Fatalf("expires_in below 5 minutes: %d", status)
		}
		_, f := upload(t, n, alice.Token, map[string]string{"to": bu.UserID}, "t.pdf", pdf(200000))
		blob := filepath.Join(n.DataDir, "blobs", f.FileID)
		b, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		b[100] ^= 0xff
		if err := os.WriteFile(blob, b, 0o600); err != nil {
			t.Fatal(err)
		}
		resp, body := download(t, n, bob.Token, f.FileID, "")
		if resp.StatusCode == 200 && bytes.HasPrefix(body, []byte("%PDF")) {
			t.Fatal("a tampered blob was served as a success")
		}
		if resp.StatusCode != 500 || !strings.Contains(string(body), "CT_") {
			t.Fatalf("tampered blob: %d %s", resp.StatusCode, body)
		}
	})
}

func sameID(a, b json.RawMessage) bool {
	var x, y struct {
		ID string `json:"_id"`
	}
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && x.ID != "" && x.ID == y.ID
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// TestNoFilePlaintextAtRest uploads a file with a marker and searches the
// data dir for it.
func TestNoFilePlaintextAtRest(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	alice, _ := newUser(t, n, "alice")
	_, bu := newUser(t, n, "bob")
	const marker = "FILE-PLAINTEXT-MARKER-c0ffee"
	data := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte(marker), 5000)...)
	if status, _ := upload(t, n, alice.Token, map[string]string{"to": bu.UserID}, "secret-name-"+marker+".pdf", data); status != 200 {
		t.Fatal(status)
	}
	n.Stop()
	_ = filepath.WalkDir(n.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds the file's plaintext or name", p)
		}
		return nil
	})
}
