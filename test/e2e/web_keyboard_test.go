package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// focusedJS names the focused element (id, else tag and text).
const focusedJS = `(() => { const e = document.activeElement; if (!e || e === document.body) return '';
  return e.id ? '#' + e.id : e.tagName.toLowerCase() + ':' + (e.getAttribute('aria-label') || e.textContent.trim()).slice(0, 40); })()`

// tabTo presses Tab (Shift+Tab with back) until the element matching sel
// has the focus, at most 80 times.
func tabTo(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	for range 80 {
		if evalJS[bool](t, ctx, `document.activeElement === document.querySelector(`+jsString(sel)+`)`) {
			return
		}
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("Tab never reached %s (focus on %q)", sel, evalJS[string](t, ctx, focusedJS))
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// tabCycle presses Tab n times and returns every element that got the focus.
func tabCycle(t *testing.T, ctx context.Context, n int) []string {
	t.Helper()
	var seen []string
	for range n {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatal(err)
		}
		if f := evalJS[string](t, ctx, focusedJS); f != "" && !slices.Contains(seen, f) {
			seen = append(seen, f)
		}
	}
	return seen
}

// controlsJS lists the controls a user sees and can operate, named as
// focusedJS names them.
const controlsJS = `[...document.querySelectorAll('button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])')]
  .filter(e => !e.disabled && !e.closest('[hidden], dialog:not([open])') && (e.getClientRects().length > 0) && getComputedStyle(e).visibility !== 'hidden')
  .map(e => e.id ? '#' + e.id : e.tagName.toLowerCase() + ':' + (e.getAttribute('aria-label') || e.textContent.trim()).slice(0, 40))`

// TestWebKeyboardOnly: a person without a mouse creates an account, opens
// a conversation and sends a message with key presses alone, and Tab
// reaches every control of the login page and of a conversation.
func TestWebKeyboardOnly(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	bconn := connect(t, bob, nil)

	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatal(err)
	}
	checkTabReachesAll(t, ctx, "login page")
	tabTo(t, ctx, "#tab-register")
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#register-form"))); err != nil {
		t.Fatalf("Enter on the register tab: %v", err)
	}
	tabTo(t, ctx, "#reg-username")
	type step struct{ key, text string }
	for _, s := range []step{{"", "webkeys"}, {kb.Tab, "webkeys@example.org"}, {kb.Tab, "correct horse battery" + kb.Enter}} {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(s.key+s.text)); err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#chat"))); err != nil {
		t.Fatalf("register by keyboard: %v", err)
	}
	shot(t, ctx, "keyboard-registered")
	tabTo(t, ctx, `#people li[data-user-id="`+bu.UserID+`"] button`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter), waitJS(`!document.getElementById('text').disabled`)); err != nil {
		t.Fatalf("open by keyboard: %v", err)
	}
	tabTo(t, ctx, "#text")
	if err := chromedp.Do(ctx, chromedp.KeyEvent("typed, never clicked"+kb.Enter)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bconn, "msg-recieve", msgWith("typed, never clicked"))
	if err := chromedp.Do(ctx, waitJS(`document.querySelector('#messages li.mine[data-seq]')`)); err != nil {
		t.Fatalf("stored message in the page: %v", err)
	}
	shot(t, ctx, "keyboard-sent")
	checkTabReachesAll(t, ctx, "conversation")
}

func checkTabReachesAll(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	all := evalJS[[]string](t, ctx, controlsJS)
	seen := tabCycle(t, ctx, len(all)+10)
	var missing []string
	for _, c := range all {
		if !slices.Contains(seen, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%s: Tab never reaches %s (reached: %s)", where, strings.Join(missing, ", "), strings.Join(seen, ", "))
	}
	t.Log(fmt.Sprintf("%s: Tab reaches all %d controls", where, len(all)))
}
