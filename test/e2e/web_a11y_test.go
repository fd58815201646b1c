package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// interactive are the roles a keyboard or screen reader user operates.
var interactive = map[string]bool{
	"button": true, "textbox": true, "searchbox": true, "combobox": true, "link": true,
	"checkbox": true, "tab": true, "listbox": true, "slider": true, "image": true,
}

// unnamed lists the controls of the page's accessibility tree (Chromium's
// own computation) that have no accessible name.
func unnamed(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var nodes []*accessibility.Node
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		if err == nil {
			nodes = res.Nodes
		}
		return err
	}))
	if err != nil {
		t.Fatalf("accessibility tree: %v", err)
	}
	var out []string
	for _, n := range nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		var role, name string
		_ = json.Unmarshal(n.Role.Value, &role)
		if n.Name != nil {
			_ = json.Unmarshal(n.Name.Value, &name)
		}
		if interactive[role] && strings.TrimSpace(name) == "" {
			out = append(out, fmt.Sprintf("%s (DOM node %d)", role, n.BackendDOMNodeID))
		}
	}
	return out
}

// TestWebAccessibleNames: on the login page, the list and a conversation
// (with a file, an image, a voice message and the emoji panel open) every
// control has an accessible name; the emoji picker inserts into the
// message; a user id of another server can be named in the search box.
func TestWebAccessibleNames(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	const me = "@weba11y:localhost"

	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatal(err)
	}
	if u := unnamed(t, ctx); len(u) > 0 {
		t.Fatalf("login page: controls without a name: %v", u)
	}
	if err := chromedp.Do(ctx, webRegister("weba11y"), chromedp.WaitVisible(chromedp.CSS(`#people li[data-user-id="`+bu.UserID+`"]`))); err != nil {
		t.Fatal(err)
	}
	if u := unnamed(t, ctx); len(u) > 0 {
		t.Fatalf("list: controls without a name: %v", u)
	}
	if _, err := bob.AddMsg(ctxT(t), me, "hello", ""); err != nil {
		t.Fatal(err)
	}
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me}, "doc.pdf", pdf(500)); st != 200 {
		t.Fatal(st)
	}
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me, "kind": "voice"}, "v.wav", wav(300)); st != 200 {
		t.Fatal(st)
	}
	err := chromedp.Do(ctx, webOpen(bu.UserID),
		waitJS(`document.querySelector('#messages a.download') && document.querySelector('#messages button.play')`),
		chromedp.Click(chromedp.CSS("#emoji")),
		chromedp.WaitVisible(chromedp.CSS("#emoji-panel button")),
		chromedp.Click(chromedp.CSS("#emoji-panel button")),
		waitJS(`document.getElementById('text').value === '😀'`),
	)
	if err != nil {
		t.Fatalf("conversation and emoji: %v", err)
	}
	if u := unnamed(t, ctx); len(u) > 0 {
		t.Fatalf("conversation: controls without a name: %v", u)
	}

	// A remote user id is offered even though no search finds it.
	const remote = "@carol:other.example"
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#search"), remote),
		chromedp.WaitVisible(chromedp.CSS(`#people li[data-user-id="`+remote+`"]`))); err != nil {
		t.Fatalf("remote user id: %v", err)
	}
}
