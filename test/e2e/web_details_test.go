package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestWebConversationDetails: the page comes with a strict CSP; a
// conversation shows a day separator and groups a sender's consecutive
// messages; the typing indicator is cleared on a switch of conversation;
// a voice message takes the chosen play limit (the server refuses the
// second play).
func TestWebConversationDetails(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	_, cu := newUser(t, n, "carol")
	bconn := connect(t, bob, nil)
	const me = "@webdetail:localhost"

	resp, err := http.Get(n.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "connect-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "*") {
		t.Errorf("CSP %q is not strict", csp)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webdetail"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`)); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"one", "two"} {
		if _, err := bconn.SendMsg(ctxT(t), me, s, ""); err != nil {
			t.Fatal(err)
		}
	}
	err = chromedp.Do(ctx,
		waitJS(`(() => { const l = [...document.querySelectorAll('#messages li')]; const two = l.find(li => li.querySelector('.text')?.textContent === 'two');
  return two && two.classList.contains('grouped') && l[0].classList.contains('day') && /\d{4}/.test(l[0].textContent); })()`))
	if err != nil {
		t.Fatalf("day separator and grouping: %v (%s)", err, evalJS[string](t, ctx, `document.getElementById('messages').innerText`))
	}
	shot(t, ctx, "grouped")

	if err := bconn.Send(ctxT(t), "typing", map[string]any{"to": me, "typing": true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, waitJS(`document.getElementById('typing').textContent.includes('is typing')`),
		chromedp.SendKeys(chromedp.CSS("#search"), "carol"), webOpen(cu.UserID)); err != nil {
		t.Fatalf("typing, then switch: %v", err)
	}
	if got := evalJS[string](t, ctx, `document.getElementById('typing').textContent`); got != "" {
		t.Errorf("typing indicator %q stays after a switch of conversation", got)
	}

	// A voice note with one play, recorded in the page, to Bob.
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(s => { s.value = ''; s.dispatchEvent(new Event('input')); })(document.getElementById('search'))`), webOpen(bu.UserID),
		chromedp.SetValue(chromedp.CSS("#voice-plays"), "1"),
		chromedp.SetValue(chromedp.CSS("#voice-expiry"), "300"),
		chromedp.Click(chromedp.CSS("#record")),
		waitJS(`/[1-9] s/.test(document.getElementById('recording').textContent)`),
		chromedp.Click(chromedp.CSS("#record")))
	if err != nil {
		t.Fatalf("recording: %v", err)
	}
	var v client.Message
	_ = json.Unmarshal(waitEvent(t, bconn, "voice-recieve", nil), &v)
	if v.File == nil {
		t.Fatalf("voice message without a file: %+v", v)
	}
	if r, _ := download(t, n, bob.Token, v.File.FileID, ""); r.StatusCode != 200 {
		t.Fatalf("first play: %d", r.StatusCode)
	}
	if r, _ := download(t, n, bob.Token, v.File.FileID, ""); r.StatusCode != 410 {
		t.Fatalf("second play of a one-play voice note: %d, want 410", r.StatusCode)
	}
}
