package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/crypttalk/crypttalk/chat"
)

func token(b *testing.B, svc *chat.Service, name string) string {
	b.Helper()
	_, tok, err := svc.Register(context.Background(), chat.Credentials{Username: name, Email: name + "@x.org", Password: "long enough"})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// form builds a multipart upload of data once, outside the timed loop, so
// that allocations measure the server, not the test's client.
func form(data []byte) ([]byte, string) {
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("to", "@bob:bench")
	part, _ := w.CreateFormFile("file", "bench.pdf")
	_, _ = part.Write(data)
	_ = w.Close()
	return body.Bytes(), w.FormDataContentType()
}

// uploadPDF posts a prepared form and returns the file id.
func uploadPDF(b *testing.B, addr, tok string, body []byte, ctype string) string {
	b.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/files/upload", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		FileID string `json:"file_id"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&a) != nil {
		b.Fatalf("upload: %d", resp.StatusCode)
	}
	return a.FileID
}

func pdf10MiB() []byte {
	data := make([]byte, 10<<20)
	copy(data, "%PDF-1.7\n")
	return data
}

// BenchmarkUpload10MiB: a 10 MiB upload, sealed as it streams into a blob.
func BenchmarkUpload10MiB(b *testing.B) {
	addr, svc := startServer(b)
	tok := token(b, svc, "alice")
	token(b, svc, "bob")
	data := pdf10MiB()
	body, ctype := form(data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		uploadPDF(b, addr, tok, body, ctype)
	}
}

// BenchmarkDownload10MiB: a 10 MiB download, opened as it streams out.
func BenchmarkDownload10MiB(b *testing.B) {
	addr, svc := startServer(b)
	tok := token(b, svc, "alice")
	token(b, svc, "bob")
	data := pdf10MiB()
	body, ctype := form(data)
	id := uploadPDF(b, addr, tok, body, ctype)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/files/download/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(len(data)) {
			b.Fatalf("downloaded %d bytes", n)
		}
	}
}
