package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestWebRichMessages: times, a PDF as a download that fetches the same
// bytes with the Bearer header, an image preview, a voice player, a voice
// recorded in the page, the timer control and countdown, delivered and
// read ticks, and the notice and unread count of another conversation.
func TestWebRichMessages(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	carol, _ := newUser(t, n, "carol")
	bconn := connect(t, bob, nil)
	const me = "@webrich:localhost"

	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webrich"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`)); err != nil {
		t.Fatalf("browser steps: %v", err)
	}
	if _, err := bconn.SendMsg(ctxT(t), me, "plain text first", ""); err != nil {
		t.Fatal(err)
	}
	doc := pdf(3000)
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me}, "report.pdf", doc); st != 200 {
		t.Fatalf("pdf upload %d", st)
	}
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(2, 2, color.RGBA{0, 200, 0, 255})
	_ = png.Encode(&pic, img)
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me}, "dot.png", pic.Bytes()); st != 200 {
		t.Fatalf("png upload %d", st)
	}
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me, "kind": "voice", "duration_ms": "800"}, "note.wav", wav(800)); st != 200 {
		t.Fatalf("voice upload %d", st)
	}

	dl := t.TempDir()
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
			return err
		}),
		waitJS(`[...document.querySelectorAll('#messages time')].some(t => /\d/.test(t.textContent))`),
		waitJS(`document.querySelector('#messages a.download') && document.querySelector('#messages img.preview') && document.querySelector('#messages img.preview').naturalWidth === 8`),
		chromedp.Click(chromedp.Search(`//ol[@id="messages"]//a[contains(., "report.pdf")]`)),
		waitJS(`[...document.querySelectorAll('#messages a.download')].some(a => a.href.startsWith('blob:'))`),
		chromedp.Click(chromedp.CSS("#messages button.play")),
		waitJS(`document.querySelector('#messages audio') && document.querySelector('#messages audio').src.startsWith('blob:')`),
	)
	if err != nil {
		t.Fatalf("files: %v", err)
	}
	// The click saved the file where the browser keeps downloads.
	var saved []byte
	testenv.Poll(20*time.Second, func() bool {
		saved, _ = os.ReadFile(filepath.Join(dl, "report.pdf"))
		return bytes.Equal(saved, doc)
	})
	if !bytes.Equal(saved, doc) {
		t.Fatalf("downloaded PDF differs: %d bytes, want %d", len(saved), len(doc))
	}
	if h := evalJS[string](t, ctx, `[...document.querySelectorAll('#messages a')].map(a => a.href).join(' ')`); strings.Contains(h, bob.Token) || strings.Contains(h, "token") {
		t.Fatalf("a link carries a token: %s", h)
	}

	// Voice recorded in the page from the fake microphone reaches bob.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#record")),
		waitJS(`document.getElementById('record').getAttribute('aria-pressed') === 'true' && /[1-9] s/.test(document.getElementById('recording').textContent)`),
		chromedp.Click(chromedp.CSS("#record")),
	)
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	waitEvent(t, bconn, "voice-recieve", nil)

	// The timer control sets the conversation's timer; a message under it
	// shows a countdown.
	err = chromedp.Do(ctx,
		// SetValue fires input and change itself, as a user's choice does.
		chromedp.SetValue(chromedp.CSS("#timer"), "300"),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bconn, "timer-changed", nil)
	if _, err := bconn.SendMsg(ctxT(t), me, "this one vanishes", ""); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, waitJS(`[...document.querySelectorAll('#messages li')].some(li => li.textContent.includes('this one vanishes') && /⏱ \d+ min/.test(li.textContent))`)); err != nil {
		t.Fatalf("countdown: %v", err)
	}

	// Typing both ways.
	if err := bconn.Send(ctxT(t), "typing", map[string]any{"to": me, "typing": true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, waitJS(`document.getElementById('typing').textContent.includes('is typing')`),
		chromedp.SendKeys(chromedp.CSS("#text"), "t")); err != nil {
		t.Fatalf("typing shown: %v", err)
	}
	waitEvent(t, bconn, "typing", func(d json.RawMessage) bool { return strings.Contains(string(d), `"typing":true`) })
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('text').value = ''`)); err != nil {
		t.Fatal(err)
	}

	// A 2 s timer: the message vanishes from the page when the server
	// deletes it.
	setTimer(t, bob, me, 2, "after_send")
	waitEvent(t, bconn, "timer-changed", nil)
	if _, err := bconn.SendMsg(ctxT(t), me, "gone in two seconds", ""); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		waitJS(`[...document.querySelectorAll('#messages li .text')].some(e => e.textContent === 'gone in two seconds')`),
		waitJS(`![...document.querySelectorAll('#messages li .text')].some(e => e.textContent === 'gone in two seconds')`),
	)
	if err != nil {
		t.Fatalf("vanishing message: %v", err)
	}
	setTimer(t, bob, me, 0, "")

	// Delivered, then read ticks on a message from the page.
	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#text"), "tick me\r"))
	if err != nil {
		t.Fatal(err)
	}
	var sent client.Message
	raw := waitEvent(t, bconn, "msg-recieve", msgWith("tick me"))
	_ = json.Unmarshal(raw, &sent)
	if err := chromedp.Do(ctx, waitJS(`[...document.querySelectorAll('#messages li.mine[data-id]')].some(li => li.textContent.includes('tick me') && li.querySelector('.tick')?.textContent === '✓✓')`)); err != nil {
		t.Fatalf("delivered tick: %v", err)
	}
	if err := bconn.Send(ctxT(t), "read", map[string]any{"conversation_id": sent.ConversationID, "seq": sent.Seq}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, waitJS(`[...document.querySelectorAll('#messages li.mine[data-id]')].some(li => li.textContent.includes('tick me') && li.querySelector('.tick.read'))`)); err != nil {
		t.Fatalf("read tick: %v", err)
	}

	if v := evalJS[string](t, ctx, `document.documentElement.dataset.cspViolations || ''`); v != "" {
		t.Fatalf("%s CSP violations in the page", v)
	}

	// A message in another conversation: notice, unread badge, title,
	// last message preview in the list.
	if _, err := carol.AddMsg(ctxT(t), me, "psst from carol", ""); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		waitJS(`!document.getElementById('notice').hidden && document.getElementById('notice').textContent.includes('psst from carol')`),
		waitJS(`[...document.querySelectorAll('#people li')].some(li => li.querySelector('.unread') && li.querySelector('.unread').textContent === '1' && li.textContent.includes('psst from carol'))`),
		waitJS(`document.title.startsWith('(1)')`),
	)
	if err != nil {
		t.Fatalf("notice of another conversation: %v", err)
	}
}
