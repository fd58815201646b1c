//go:build goolm

package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"maunium.net/go/mautrix/id"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestWebE2EEWithGoClient: the web client and a mautrix-go (goolm) device
// in one end-to-end conversation, both ways: the page turns a conversation
// encrypted on the server end-to-end (Turn on, confirmed), the page's
// vodozemac and mautrix's Olm/Megolm read each other through the server's
// key API, and the server keeps no end-to-end plaintext.
func TestWebE2EEWithGoClient(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	_, gu := newUser(t, n, "gomx")
	g := newE2EEDevice(t, n, gu.Username)
	const web = "@webmx:localhost"
	const fromWeb, fromGo = "e2ee-marker-web-to-go-93b1", "e2ee-marker-go-to-web-c07e"

	// A conversation that starts encrypted on the server (the default),
	// turned end-to-end in the page with a confirmed second press.
	err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webmx"),
		cryptoReady,
		chromedp.SendKeys(chromedp.CSS("#search"), gu.Username), webOpen(gu.UserID),
		waitJS(`document.getElementById('e2ee-badge').dataset.kind === 'server'`),
		chromedp.SendKeys(chromedp.CSS("#text"), "plain before\r"),
		chromedp.WaitVisible(chromedp.CSS("#e2ee-on")),
		chromedp.Click(chromedp.CSS("#e2ee-on")),
		waitJS(`document.getElementById('e2ee-on').textContent.includes('cannot be turned off') && document.getElementById('e2ee-badge').dataset.kind === 'server'`),
		chromedp.Click(chromedp.CSS("#e2ee-on")),
		waitJS(`document.getElementById('e2ee-badge').dataset.kind === 'e2ee' && document.getElementById('e2ee-on').hidden`),
		chromedp.SendKeys(chromedp.CSS("#text"), fromWeb+"\r"),
		waitJS(`[...document.querySelectorAll('#messages li.mine[data-decrypted] .text')].some(e => e.textContent === '`+fromWeb+`')`))
	if err != nil {
		t.Fatalf("the page writes: %v\n%s", err, n.Logs())
	}
	conv := evalJS[string](t, ctx, `document.querySelector('#messages li[data-decrypted]').message.conversation_id`)
	if got := evalJS[string](t, ctx, `[...document.querySelectorAll('#messages li.system')].map(li => li.textContent).join()`); !strings.Contains(got, "end-to-end encryption turned on") {
		t.Errorf("no system message says end-to-end was turned on: %q", got)
	}
	room := id.RoomID(conv + ":localhost")
	if _, err := g.cli.JoinRoomByID(ctxT(t), room); err != nil {
		t.Fatal(err)
	}
	g.knowRoom(t, room, id.UserID(web), id.UserID(gu.UserID))
	g.waitPlain(t, fromWeb)

	g.sendEncrypted(t, room, fromGo, id.UserID(web), id.UserID(gu.UserID))
	if err := chromedp.Do(ctx, waitJS(`[...document.querySelectorAll('#messages li.theirs[data-decrypted] .text')].some(e => e.textContent === '`+fromGo+`')`)); err != nil {
		t.Fatalf("the page reads the Go device: %v (%s)", err, evalJS[string](t, ctx, `[...document.querySelectorAll('#messages li .text')].map(e => e.textContent + ' ' + e.title).join(' | ')`))
	}
	shot(t, ctx, "web-and-go")
	noPlaintext(t, n, fromWeb, fromGo)
}
