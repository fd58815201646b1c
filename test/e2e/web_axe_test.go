package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// axeSource is axe-core's axe.min.js from the test-only cache that
// test/e2e/axe/install.sh (`make deps`) fills; the page never serves it.
func axeSource(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CRYPTTALK_AXE_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "crypttalk", "axe-core-4.14.1")
	}
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		testenv.MissingService(t, "axe-core is not in %s (run test/e2e/axe/install.sh or `make deps`): %v", dir, err)
	}
	return string(b)
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axeCheck injects axe-core into the page (through the debugger, so the
// page's CSP does not apply) and fails on any serious or critical violation.
func axeCheck(t *testing.T, ctx context.Context, src, where string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.axe !== undefined || (()=>{`+src+`; return true})()`)); err != nil {
		t.Fatalf("%s: injecting axe: %v", where, err)
	}
	out := evalJS[string](t, ctx, `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations))`)
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("%s: axe result: %v", where, err)
	}
	var bad, minor []string
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			minor = append(minor, v.Impact+" "+v.ID)
			continue
		}
		for _, n := range v.Nodes {
			tg, _ := json.Marshal(n.Target)
			bad = append(bad, v.Impact+" "+v.ID+" ("+v.Help+") at "+string(tg)+": "+strings.ReplaceAll(n.Summary, "\n", " "))
		}
	}
	shot(t, ctx, "axe-"+where)
	if len(bad) > 0 {
		t.Errorf("%s: %d serious/critical accessibility violations:\n%s", where, len(bad), strings.Join(bad, "\n"))
		return
	}
	t.Logf("%s: axe-core found no serious or critical violation (lesser: %v)", where, minor)
}

// TestWebAxe runs axe-core in the page on the login and register forms,
// the contact list and a conversation holding text, a PDF and a voice
// message (light and dark, desktop and phone widths): no serious or
// critical violation.
func TestWebAxe(t *testing.T) {
	t.Parallel()
	src := axeSource(t)
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	const me = "@webaxe:localhost"

	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "login")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#tab-register")), chromedp.WaitVisible(chromedp.CSS("#register-form"))); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "register")
	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webaxe"),
		chromedp.WaitVisible(chromedp.CSS(`#people li[data-user-id="`+bu.UserID+`"]`))); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AddMsg(ctxT(t), me, "hello", ""); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, waitJS(`document.querySelector('#people li .unread')`)); err != nil {
		t.Fatalf("unread count: %v", err)
	}
	axeCheck(t, ctx, src, "list")
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me}, "doc.pdf", pdf(500)); st != 200 {
		t.Fatal(st)
	}
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me, "kind": "voice"}, "v.wav", wav(300)); st != 200 {
		t.Fatal(st)
	}
	if err := chromedp.Do(ctx, webOpen(bu.UserID),
		waitJS(`document.querySelector('#messages a.download') && document.querySelector('#messages button.play')`),
		chromedp.SendKeys(chromedp.CSS("#text"), "a reply\r"),
		waitJS(`document.querySelector('#messages li.mine[data-seq]')`),
	); err != nil {
		t.Fatalf("conversation: %v", err)
	}
	axeCheck(t, ctx, src, "conversation")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#emoji")), chromedp.WaitVisible(chromedp.CSS("#emoji-panel button"))); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "emoji-panel")
	if err := chromedp.Do(ctx, colorScheme("dark")); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "conversation-dark")
	// The phone layout: one column, the conversation with Back, then the list.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "phone-conversation-dark")
	if err := chromedp.Do(ctx, colorScheme("light"), chromedp.Click(chromedp.CSS("#back")), chromedp.WaitVisible(chromedp.CSS("#people"))); err != nil {
		t.Fatal(err)
	}
	axeCheck(t, ctx, src, "phone-list")
}
