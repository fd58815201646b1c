package e2e

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/web"
)

const cryptoWasm = "/vendor/matrix-sdk-crypto-wasm/pkg/matrix_sdk_crypto_wasm_bg.wasm"

// TestWebCryptoVendored: the end-to-end library the page loads is served
// from the binary as application/wasm, precompressed when the browser
// takes brotli or gzip (and plain otherwise), and only the page's CSP
// allows compiling wasm.
func TestWebCryptoVendored(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	files := web.FS()
	raw, err := fs.ReadFile(files, strings.TrimPrefix(cryptoWasm, "/"))
	if err != nil {
		t.Fatalf("the vendored wasm is not embedded (make web-crypto-vendor): %v", err)
	}
	br, err := fs.ReadFile(files, strings.TrimPrefix(cryptoWasm, "/")+".br")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, accept string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, n.URL()+path, nil)
		// Set by hand, so Go's transport does not decompress behind our back.
		req.Header.Set("Accept-Encoding", accept)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return res, b
	}
	for _, tc := range []struct{ accept, encoding string }{
		{"gzip, deflate, br, zstd", "br"}, // Chromium's
		{"br;q=0, gzip", "gzip"},
		{"gzip;q=0.5", "gzip"},
		{"identity", ""},
		{"", ""},
	} {
		res, body := get(cryptoWasm, tc.accept)
		if ct := res.Header.Get("Content-Type"); ct != "application/wasm" {
			t.Errorf("Accept-Encoding %q: Content-Type %q, want application/wasm (instantiateStreaming needs it)", tc.accept, ct)
		}
		if got := res.Header.Get("Content-Encoding"); got != tc.encoding {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tc.accept, got, tc.encoding)
		}
		if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: no Vary: Accept-Encoding (a cache would hand brotli to anyone)", tc.accept)
		}
		switch tc.encoding {
		case "br":
			if !bytes.Equal(body, br) {
				t.Errorf("brotli answer is not the vendored .br (%d bytes, want %d)", len(body), len(br))
			}
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(plain, raw) {
				t.Errorf("gzip answer does not inflate to the wasm (%d bytes, %v)", len(plain), err)
			}
		default:
			if !bytes.Equal(body, raw) {
				t.Errorf("plain answer is %d bytes, want the wasm's %d", len(body), len(raw))
			}
		}
	}
	res, _ := get("/vendor/matrix-sdk-crypto-wasm/index.mjs", "br")
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("index.mjs served as %q, want text/javascript (module scripts need it)", ct)
	}
	res, _ = get("/", "gzip")
	page := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(page, "script-src 'self' 'wasm-unsafe-eval';") || strings.Contains(page, "'unsafe-eval'") || strings.Contains(page, "'unsafe-inline'") {
		t.Errorf("page CSP %q: want script-src 'self' 'wasm-unsafe-eval' and nothing looser", page)
	}
	for _, path := range []string{"/app.js", cryptoWasm} {
		res, _ := get(path, "")
		if csp := res.Header.Get("Content-Security-Policy"); strings.Contains(csp, "wasm") || !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s CSP %q: only the page may allow wasm", path, csp)
		}
	}
}
