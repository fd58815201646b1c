package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// countText counts the stored messages with text between c and peer.
func countText(t *testing.T, c *client.Client, peer, text string) int {
	t.Helper()
	msgs, err := c.GetMsg(ctxT(t), client.GetMsgRequest{To: peer, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, m := range msgs {
		if m.Message == text {
			k++
		}
	}
	return k
}

// TestWebOutboxOffline types a message while the server is stopped: it
// shows as pending (and sits in localStorage), the banner says offline,
// and once the server is back the page reconnects and the message is
// stored exactly once. A reload afterwards shows it once too.
func TestWebOutboxOffline(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")

	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("weboff"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`)); err != nil {
		t.Fatalf("browser steps: %v", err)
	}
	n.Stop()
	const text = "typed while the server was down"
	err := chromedp.Do(ctx,
		waitJS(`document.getElementById('conn').dataset.state === 'offline' && !document.getElementById('conn').hidden`),
		chromedp.SendKeys(chromedp.CSS("#text"), text+"\r"),
		waitJS(`[...document.querySelectorAll('#messages li.pending')].some(li => li.textContent.includes('`+text+`'))`),
	)
	if err != nil {
		t.Fatalf("offline steps: %v", err)
	}
	shot(t, ctx, "offline-pending")
	stored := evalJS[string](t, ctx, `Object.keys(localStorage).filter(k => k.startsWith('ct_outbox:')).map(k => localStorage.getItem(k)).join('')`)
	if !strings.Contains(stored, text) {
		t.Fatalf("the pending message is not in the outbox in localStorage: %q", stored)
	}

	n.Start()
	err = chromedp.Do(ctx,
		waitJS(`document.getElementById('conn').hidden && !document.querySelector('#messages li.pending') &&
			[...document.querySelectorAll('#messages li[data-id]')].some(li => li.textContent.includes('`+text+`'))`),
	)
	if err != nil {
		t.Fatalf("after restart: %v\n%s", err, n.Logs())
	}
	shot(t, ctx, "reconnected-sent")
	if k := countText(t, bob, "@weboff:localhost", text); k != 1 {
		t.Fatalf("the offline message is stored %d times, want 1", k)
	}
	if left := evalJS[string](t, ctx, `Object.keys(localStorage).filter(k => k.startsWith('ct_outbox:')).map(k => localStorage.getItem(k)).join('')`); strings.Contains(left, text) {
		t.Fatalf("the outbox still holds the stored message: %q", left)
	}

	// A reload shows the history with the message once and nothing pending.
	err = chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#chat")), webOpen(bu.UserID),
		waitJS(`[...document.querySelectorAll('#messages li[data-id]')].some(li => li.textContent.includes('`+text+`'))`))
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if k := evalJS[int](t, ctx, `[...document.querySelectorAll('#messages li')].filter(li => li.textContent.includes('`+text+`')).length`); k != 1 {
		t.Fatalf("after a reload the page shows the message %d times, want 1", k)
	}
}

// TestWebRefusedMessage sends a text over the size limit: the server
// refuses it, the page keeps it with the server's reason and Retry/Edit
// buttons; Edit brings it back to the composer, and a shortened text is
// stored.
func TestWebRefusedMessage(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")

	err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webrefused"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('text').value = 'long'.repeat(4200)`),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`document.querySelector('#messages li.failed .reason')`),
	)
	if err != nil {
		t.Fatalf("browser steps: %v", err)
	}
	shot(t, ctx, "refused")
	reason := evalJS[string](t, ctx, `document.querySelector('#messages li.failed .reason').textContent`)
	if !strings.Contains(reason, "CT_TOO_LARGE") {
		t.Fatalf("failed message shows %q, want the server's reason (CT_TOO_LARGE)", reason)
	}
	if evalJS[int](t, ctx, `document.querySelectorAll('#messages li.failed button.retry, #messages li.failed button.edit').length`) != 2 {
		t.Fatal("the failed message has no Retry and Edit buttons")
	}
	// Retry sends the same text again; it is refused again and stays.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#messages li.failed button.retry")),
		waitJS(`document.querySelector('#messages li.failed .reason')`),
		chromedp.Click(chromedp.CSS("#messages li.failed button.edit")),
		waitJS(`!document.querySelector('#messages li.failed') && document.getElementById('text').value.length === 16800`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('text').value = document.getElementById('text').value.slice(0, 20)`),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`!document.querySelector('#messages li.pending, #messages li.failed') && document.querySelector('#messages li[data-id]')`),
	)
	if err != nil {
		t.Fatalf("edit and resend: %v", err)
	}
	if k := countText(t, bob, "@webrefused:localhost", strings.Repeat("long", 5)); k != 1 {
		t.Fatalf("the edited message is stored %d times, want 1", k)
	}
}

// TestWebOutboxBurst: 120 messages written while the server is down are
// all stored, once each, in order, when it is back, without the page
// spending its socket's frame budget (20 a second, bursts of 100: sending
// the outbox at once would be cut with 4003).
func TestWebOutboxBurst(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webburst"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`)); err != nil {
		t.Fatal(err)
	}
	n.Stop()
	err := chromedp.Do(ctx,
		waitJS(`document.getElementById('conn').dataset.state === 'offline'`),
		chromedp.Evaluate[chromedp.Void](`(() => { const t = document.getElementById('text'), f = document.getElementById('send-form');
			for (let i = 0; i < 120; i++) { t.value = 'burst ' + String(i).padStart(3, '0'); f.requestSubmit(); } })()`),
		waitJS(`document.querySelectorAll('#messages li.pending').length === 120`),
	)
	if err != nil {
		t.Fatalf("offline: %v", err)
	}
	n.Start()
	if err := chromedp.Do(ctx, waitJS(`!document.querySelector('#messages li.pending') && document.querySelectorAll('#messages li[data-id]').length === 120`)); err != nil {
		t.Fatalf("after restart: %v (pending %d)", err, evalJS[int](t, ctx, `document.querySelectorAll('#messages li.pending').length`))
	}
	msgs, err := bob.GetMsg(ctxT(t), client.GetMsgRequest{To: "@webburst:localhost", Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 120 {
		t.Fatalf("%d messages stored, want 120", len(msgs))
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("burst %03d", i); m.Message != want {
			t.Fatalf("message %d is %q, want %q (order kept)", i, m.Message, want)
		}
	}
	if strings.Contains(n.Logs(), "frame budget spent") {
		t.Fatal("the page spent its socket's frame budget flushing the outbox")
	}
}

// TestWebFrameBudget4003: on a server with a tiny frame budget (1 a
// second, bursts of 4) the page's sends get its socket closed with 4003;
// the banner says so, the page waits, reconnects with a smaller budget of
// its own, and every message is stored exactly once.
func TestWebFrameBudget4003(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_LIMITS_WS_FRAME_RATE=1", "CRYPTTALK_LIMITS_WS_FRAME_BURST=4"}})
	bob, bu := newUser(t, n, "bob")
	err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webbudget"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`),
		chromedp.Evaluate[chromedp.Void](`(() => { const t = document.getElementById('text'), f = document.getElementById('send-form');
			for (let i = 0; i < 8; i++) { t.value = 'budget ' + i; f.requestSubmit(); } })()`),
		waitJS(`document.getElementById('conn').textContent.includes('too many')`),
	)
	if err != nil {
		t.Fatalf("no 4003 banner: %v", err)
	}
	shot(t, ctx, "4003-banner")
	if err := chromedp.Do(ctx, waitJS(`!document.querySelector('#messages li.pending') && document.querySelectorAll('#messages li[data-id]').length === 8`)); err != nil {
		t.Fatalf("after 4003: %v", err)
	}
	for i := range 8 {
		if k := countText(t, bob, "@webbudget:localhost", fmt.Sprintf("budget %d", i)); k != 1 {
			t.Fatalf("budget %d stored %d times, want 1", i, k)
		}
	}
}
