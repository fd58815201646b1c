package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

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

// TestWebE2EEDirectMessage: two people in two browser contexts write an
// end-to-end encrypted DM both ways. The conversation is end-to-end
// because the one who starts it chose so and the other has a device with
// keys; both pages say so; each reads the other's words, after a reload
// too (keys in IndexedDB); and the server's data dir and log hold neither
// text.
func TestWebE2EEDirectMessage(t *testing.T) {
	t.Parallel()
	const ann, ben = "@eann:localhost", "@eben:localhost"
	const fromAnn, fromBen = "e2ee-marker-ann-7f3a9c", "e2ee-marker-ben-41d2e8"
	// Ben's /sync is blocked at first: he gets Ann's message over the
	// socket before its key, sees the placeholder, and the message once
	// the key arrives.
	n, actx, bctx := twoE2EEBrowsers(t, "eann", "eben", true)
	t.Logf("end-to-end ready after login in %s ms (wasm fetched and compiled, keys made and uploaded)", evalJS[string](t, bctx, `document.documentElement.dataset.e2eeMs`))
	// A second machine for the same device (a duplicated tab has the same
	// token) is refused while the first runs.
	if got := evalJS[string](t, actx, `import('/e2ee.js').then(m => m.Crypto.start('`+ann+`', {})).then(() => 'started', e => e.message)`); got != "another tab runs this device" {
		t.Errorf("a second machine on one device: %q", got)
	}
	// Ann chooses end-to-end for new conversations in her device list,
	// which shows this browser's device and its signing key.
	err := chromedp.Do(actx,
		chromedp.Click(chromedp.CSS("#devices-button")),
		waitJS(`document.querySelector('#devices-list li.current') && document.getElementById('e2ee-identity').textContent.includes('signs with key')`),
		chromedp.Click(chromedp.CSS("#e2ee-new")),
		chromedp.Click(chromedp.CSS("#devices-close")),
		chromedp.SendKeys(chromedp.CSS("#search"), "eben"), webOpen(ben),
		waitJS(`document.getElementById('e2ee-badge').dataset.kind === 'e2ee'`),
		chromedp.SendKeys(chromedp.CSS("#text"), fromAnn+"\r"),
		waitJS(`[...document.querySelectorAll('#messages li.mine[data-decrypted] .text')].some(e => e.textContent === '`+fromAnn+`')`),
	)
	if err != nil {
		t.Fatalf("ann writes: %v\n%s", err, n.Logs())
	}
	shot(t, actx, "ann-sent")
	err = chromedp.Do(bctx,
		webOpen(ann),
		waitJS(`document.querySelector('#messages li.theirs.utd .text')?.textContent.includes('Waiting for the key')`),
	)
	if err != nil {
		t.Fatalf("ben's placeholder: %v", err)
	}
	shot(t, bctx, "ben-waits-for-key")
	err = chromedp.Do(bctx,
		blockSync(false),
		waitJS(`[...document.querySelectorAll('#messages li.theirs[data-decrypted] .text')].some(e => e.textContent === '`+fromAnn+`')`),
		waitJS(`document.getElementById('e2ee-badge').dataset.kind === 'e2ee'`),
		chromedp.SendKeys(chromedp.CSS("#text"), fromBen+"\r"),
	)
	if err != nil {
		t.Fatalf("ben reads and answers: %v\n%s", err, n.Logs())
	}
	shot(t, bctx, "ben-answered")
	if err := chromedp.Do(actx, waitJS(`[...document.querySelectorAll('#messages li.theirs[data-decrypted] .text')].some(e => e.textContent === '`+fromBen+`')`)); err != nil {
		t.Fatalf("ann reads: %v\n%s", err, n.Logs())
	}
	// What the server hands out is ciphertext: the stored messages as the
	// API returns them hold no marker.
	stored := evalJS[string](t, actx, `fetch('/api/messages/getmsg', {method: 'POST', headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + sessionStorage.getItem('ct_token')}, body: JSON.stringify({to: '`+ben+`'})}).then(r => r.text())`)
	if strings.Contains(stored, fromAnn) || strings.Contains(stored, fromBen) || !strings.Contains(stored, `"type":"encrypted"`) {
		t.Errorf("the server's copy is not ciphertext only: %s", stored)
	}
	// A reload opens the same device's keys from IndexedDB.
	err = chromedp.Do(bctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#chat")), cryptoReady, webOpen(ann),
		waitJS(`[...document.querySelectorAll('#messages li[data-decrypted] .text')].filter(e => e.textContent === '`+fromAnn+`' || e.textContent === '`+fromBen+`').length === 2`))
	if err != nil {
		t.Fatalf("ben after a reload: %v", err)
	}
	shot(t, bctx, "ben-reloaded")

	// Bad input: markup inside an encrypted message stays text, and an
	// encrypted event with a forged session (sent past the page) is a
	// placeholder, not an error.
	const hostile = `<img src=x onerror="document.title='pwned'">e2ee-hostile`
	forged := `fetch('/_matrix/client/v3/rooms/' + encodeURIComponent(document.querySelector('#messages li[data-decrypted]').message.conversation_id + ':localhost') + '/send/m.room.encrypted/forged1', {method: 'PUT', headers: {'Content-Type': 'application/json', Authorization: 'Bearer ' + sessionStorage.getItem('ct_token')}, body: JSON.stringify({algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'AwgAEpAB-not-megolm', sender_key: 'x', session_id: 'forged-session', device_id: 'NOPE'})}).then(r => r.status)`
	if err := chromedp.Do(actx, chromedp.SendKeys(chromedp.CSS("#text"), hostile+"\r")); err != nil {
		t.Fatal(err)
	}
	if st := evalJS[int](t, actx, forged); st != 200 {
		t.Fatalf("forged event: HTTP %d", st)
	}
	err = chromedp.Do(bctx,
		waitJS(`[...document.querySelectorAll('#messages li[data-decrypted] .text')].some(e => e.textContent === '`+strings.ReplaceAll(hostile, `'`, `\'`)+`')`),
		waitJS(`[...document.querySelectorAll('#messages li.theirs.utd')].length === 1`))
	if err != nil {
		t.Fatalf("hostile and forged messages: %v (%s)", err, evalJS[string](t, bctx, `document.getElementById('messages').innerText`))
	}
	if imgs := evalJS[int](t, bctx, `document.querySelectorAll('#messages img').length`); imgs != 0 || strings.Contains(evalJS[string](t, bctx, `document.title`), "pwned") {
		t.Fatalf("decrypted markup was rendered as HTML (%d img)", imgs)
	}

	noPlaintext(t, n, fromAnn, fromBen, "e2ee-hostile")
}

// TestWebE2EEVerification: emoji verification in the web client. Ann
// verifies Ben's device from their end-to-end conversation (both screens
// show the same seven emoji, both confirm); her badge then says verified,
// and warns when Ben logs in on a new device; Ben verifies that new
// device of his own from his device list.
func TestWebE2EEVerification(t *testing.T) {
	t.Parallel()
	const ann, ben = "@vann:localhost", "@vben:localhost"
	n, actx, bctx := twoE2EEBrowsers(t, "vann", "vben", false)
	err := chromedp.Do(actx, chromedp.Click(chromedp.CSS("#devices-button")), chromedp.Click(chromedp.CSS("#e2ee-new")), chromedp.Click(chromedp.CSS("#devices-close")),
		chromedp.SendKeys(chromedp.CSS("#search"), "vben"), webOpen(ben),
		waitJS(`document.getElementById('e2ee-badge').dataset.kind === 'e2ee'`),
		chromedp.SendKeys(chromedp.CSS("#text"), "shall we verify?\r"))
	if err != nil {
		t.Fatalf("ann writes: %v", err)
	}
	if err := chromedp.Do(bctx, webOpen(ann), waitJS(`[...document.querySelectorAll('#messages li[data-decrypted] .text')].some(e => e.textContent === 'shall we verify?')`)); err != nil {
		t.Fatalf("ben reads: %v", err)
	}

	// Emoji verification of each other's device: Ann asks, Ben accepts,
	// both see the same seven emoji, both confirm, both are done.
	if err := chromedp.Do(actx, chromedp.Click(chromedp.CSS("#verify-button")), waitJS(`document.getElementById('verify-dialog').open`)); err != nil {
		t.Fatalf("ann asks to verify: %v", err)
	}
	if err := chromedp.Do(bctx, waitJS(`document.getElementById('verify-dialog').dataset.state === 'incoming'`), chromedp.Click(chromedp.CSS("#verify-accept"))); err != nil {
		t.Fatalf("ben gets the request: %v", err)
	}
	emojiShown := waitJS(`document.getElementById('verify-dialog').dataset.state === 'emoji'`)
	const emojiText = `[...document.querySelectorAll('#verify-emoji li')].map(li => li.textContent).join(' ')`
	if err := chromedp.Do(actx, emojiShown); err != nil {
		t.Fatalf("ann's emoji: %v (%s)", err, evalJS[string](t, actx, `document.getElementById('verify-status').textContent`))
	}
	if err := chromedp.Do(bctx, emojiShown); err != nil {
		t.Fatalf("ben's emoji: %v (%s)", err, evalJS[string](t, bctx, `document.getElementById('verify-status').textContent`))
	}
	ae, be := evalJS[string](t, actx, emojiText), evalJS[string](t, bctx, emojiText)
	if ae != be || evalJS[int](t, actx, `document.querySelectorAll('#verify-emoji li').length`) != 7 {
		t.Fatalf("the two screens show different emoji: %q / %q", ae, be)
	}
	shot(t, actx, "ann-emoji")
	for _, c := range []context.Context{actx, bctx} {
		if err := chromedp.Do(c, chromedp.Click(chromedp.CSS("#verify-match"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []context.Context{actx, bctx} {
		if err := chromedp.Do(c, waitJS(`document.getElementById('verify-dialog').dataset.state === 'done'`)); err != nil {
			t.Fatalf("verification not done: %v (%s)", err, evalJS[string](t, c, `document.getElementById('verify-status').textContent`))
		}
	}
	shot(t, bctx, "ben-verified")
	if err := chromedp.Do(actx, chromedp.Click(chromedp.CSS("#verify-close")), waitJS(`document.getElementById('e2ee-badge').dataset.trust === 'verified' && document.getElementById('e2ee-badge').textContent.includes('verified')`)); err != nil {
		t.Fatalf("ann's badge after verifying: %v", err)
	}
	// Ben logs in on a new device (its keys uploaded): Ann, who verified
	// his other one, is warned about it.
	cctx, cancelC := chromedp.NewContext(actx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelC)
	err = chromedp.Do(cctx, chromedp.Navigate(n.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-username"), "vben"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "correct horse battery\r"),
		chromedp.WaitVisible(chromedp.CSS("#chat")), cryptoReady)
	if err != nil {
		t.Fatalf("ben's second device: %v", err)
	}
	newDevice := evalJS[string](t, cctx, `fetch('/_matrix/client/v3/account/whoami', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('ct_token')}}).then(r => r.json()).then(j => j.device_id)`)
	if err := chromedp.Do(actx, waitJS(`document.getElementById('e2ee-badge').dataset.trust === 'warning' && document.getElementById('e2ee-badge').textContent.includes('new device') && document.getElementById('e2ee-warning').textContent.includes('`+newDevice+`')`)); err != nil {
		t.Fatalf("no warning about Ben's new device %s: %v", newDevice, err)
	}
	shot(t, actx, "ann-warned")

	// Ben verifies his new device from his first one, in the device list.
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#verify-close")), chromedp.Click(chromedp.CSS("#devices-button")),
		chromedp.Click(chromedp.CSS(`#devices-list li[data-device-id="`+newDevice+`"] .verify-own`))); err != nil {
		t.Fatalf("ben verifies his new device: %v", err)
	}
	if err := chromedp.Do(cctx, waitJS(`document.getElementById('verify-dialog').dataset.state === 'incoming'`), chromedp.Click(chromedp.CSS("#verify-accept"))); err != nil {
		t.Fatalf("the new device gets the request: %v", err)
	}
	for _, c := range []context.Context{bctx, cctx} {
		if err := chromedp.Do(c, emojiShown); err != nil {
			t.Fatalf("own-device emoji: %v (%s)", err, evalJS[string](t, c, `document.getElementById('verify-status').textContent`))
		}
	}
	if be, ce := evalJS[string](t, bctx, emojiText), evalJS[string](t, cctx, emojiText); be != ce {
		t.Fatalf("own devices show different emoji: %q / %q", be, ce)
	}
	for _, c := range []context.Context{bctx, cctx} {
		if err := chromedp.Do(c, chromedp.Click(chromedp.CSS("#verify-match"))); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []context.Context{bctx, cctx} {
		if err := chromedp.Do(c, waitJS(`document.getElementById('verify-dialog').dataset.state === 'done'`)); err != nil {
			t.Fatalf("own-device verification not done: %v", err)
		}
	}
}

var cryptoReady = waitJS(`document.documentElement.dataset.e2ee === 'ready'`)

// twoE2EEBrowsers starts a node and two browser contexts in which a and b
// register and wait for their end-to-end keys; holdB blocks b's /sync
// first (blockSync).
func twoE2EEBrowsers(t *testing.T, a, b string, holdB bool) (*testenv.Node, context.Context, context.Context) {
	t.Helper()
	actx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	if err := chromedp.Do(actx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx, blockSync(holdB)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		ctx  context.Context
		name string
	}{{actx, a}, {bctx, b}} {
		if err := chromedp.Do(s.ctx, chromedp.Navigate(n.URL()+"/"), webRegister(s.name), cryptoReady); err != nil {
			t.Fatalf("%s: %v\n%s", s.name, err, n.Logs())
		}
	}
	return n, actx, bctx
}

// blockSync makes the page's /sync requests fail (or lets them through).
func blockSync(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		pats := []*network.BlockPattern{}
		if on {
			pats = append(pats, &network.BlockPattern{URLPattern: "*://*:*/_matrix/client/v3/sync*", Block: true})
		}
		_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: pats})
		return err
	})
}
