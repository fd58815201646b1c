package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// fits reports the page's sideways overflow and whether every element
// matching sel is inside the viewport.
const fitsJS = `(() => {
  const over = document.scrollingElement.scrollWidth - innerWidth;
  const out = [...document.querySelectorAll(%q)].filter(e => e.offsetParent !== null)
    .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth || r.width === 0; })
    .map(e => e.id || e.className);
  return JSON.stringify({over, out});
})()`

// TestWebPhoneWidth: at 390 px the login page, the list and a
// conversation (with a long word, a file card and a failed message) have
// no sideways scroll and their controls are inside the screen; Back
// returns to the list.
func TestWebPhoneWidth(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	bconn := connect(t, bob, nil)
	shots := t.ArtifactDir()
	if d := os.Getenv("WEB_SCREENSHOTS"); d != "" {
		shots = d
	}
	check := func(step, sel string) {
		t.Helper()
		// A screenshot per step, kept when WEB_SCREENSHOTS names a directory.
		if b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(filepath.Join(shots, "phone-"+step+".png"), b, 0o644)
		}
		got := evalJS[string](t, ctx, fmt.Sprintf(fitsJS, sel))
		if got != `{"over":0,"out":[]}` {
			t.Fatalf("%s at 390 px: %s (want no overflow, every control on screen)", step, got)
		}
	}

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844), chromedp.Navigate(n.URL()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatal(err)
	}
	check("login", "#login-form input, #login-form button, .tabs button")
	if err := chromedp.Do(ctx, webRegister("webphone"), chromedp.WaitVisible(chromedp.CSS(`#people li[data-user-id="`+bu.UserID+`"]`))); err != nil {
		t.Fatal(err)
	}
	check("list", "#logout, #search, #people button")
	if err := chromedp.Do(ctx, webOpen(bu.UserID), waitJS(`document.getElementById('conn').hidden`)); err != nil {
		t.Fatal(err)
	}
	if _, err := bconn.SendMsg(ctxT(t), "@webphone:localhost", "Supercalifragilisticexpialidocious-averyveryveryveryveryveryveryveryveryverylongwordwithoutanyspaces", ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": "@webphone:localhost"}, "a-long-file-name-for-a-small-screen.pdf", pdf(2000)); st != 200 {
		t.Fatalf("upload %d", st)
	}
	err := chromedp.Do(ctx,
		waitJS(`document.querySelector('#messages a.download')`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('text').value = 'x'.repeat(17000)`),
		chromedp.Click(chromedp.CSS("#send")),
		waitJS(`document.querySelector('#messages li.failed button.retry')`),
	)
	if err != nil {
		t.Fatal(err)
	}
	check("conversation", "#back, #timer, #timer-mode, #text, #send, #record, .attach, #messages li, #messages li.failed button")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#back")), chromedp.WaitVisible(chromedp.CSS("#people"))); err != nil {
		t.Fatalf("back to the list: %v", err)
	}
	check("back", "#logout, #search, #people button")
}
