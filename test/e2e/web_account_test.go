package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestWebAccounts: Enter submits the form it is in; errors show next to
// their field and go when the field is edited; logout returns to the login
// form; the token never appears in the URL.
func TestWebAccounts(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	text := func(id string) string { return evalJS[string](t, ctx, `document.getElementById('`+id+`').textContent`) }

	// Enter in the login form logs in (and fails for an unknown user): it
	// must not create the account.
	err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-username"), "webacct"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "correct horse battery\r"),
		waitJS(`document.getElementById('login-error').textContent !== ''`),
	)
	if err != nil {
		t.Fatalf("login of an unknown user: %v", err)
	}
	if !evalJS[bool](t, ctx, `document.getElementById('chat').hidden`) {
		t.Fatal("Enter in the login form got a user in")
	}

	// A short password is refused next to the password field; editing the
	// field clears it.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#tab-register")),
		chromedp.WaitVisible(chromedp.CSS("#register-form")),
		chromedp.SendKeys(chromedp.CSS("#reg-username"), "webacct"),
		chromedp.SendKeys(chromedp.CSS("#reg-email"), "webacct@example.org"),
		chromedp.SendKeys(chromedp.CSS("#reg-password"), "short\r"),
		waitJS(`document.getElementById('reg-password-error').textContent !== ''`),
	)
	if err != nil {
		t.Fatalf("short password: %v", err)
	}
	if got := text("reg-password-error"); !strings.Contains(got, "8 characters") {
		t.Fatalf("password error %q", got)
	}
	if got := text("reg-username-error") + text("register-error"); got != "" {
		t.Fatalf("errors elsewhere than the password field: %q", got)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#reg-password"), " and now long enough"),
		waitJS(`document.getElementById('reg-password-error').textContent === ''`),
		chromedp.SendKeys(chromedp.CSS("#reg-password"), "\r"),
		chromedp.WaitVisible(chromedp.CSS("#chat")),
	)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	url := evalJS[string](t, ctx, `location.href`)
	tok := evalJS[string](t, ctx, `sessionStorage.getItem('ct_token') || ''`)
	if tok == "" || strings.Contains(url, tok) || strings.Contains(url, "token") {
		t.Fatalf("token %q, URL %q: want a token kept out of the URL", tok, url)
	}

	// A conversation with an unread message, to be gone after logout.
	bob, _ := newUser(t, n, "bob")
	if _, err := bob.AddMsg(ctxT(t), "@webacct:localhost", "for webacct only", ""); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, waitJS(`document.querySelector('#people .unread') && document.title.startsWith('(1)')`)); err != nil {
		t.Fatalf("unread before logout: %v", err)
	}

	// Logout, then the same name again: the error is next to the username.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.Click(chromedp.CSS("#tab-register")),
		chromedp.SendKeys(chromedp.CSS("#reg-username"), "webacct"),
		chromedp.SendKeys(chromedp.CSS("#reg-email"), "other@example.org"),
		chromedp.SendKeys(chromedp.CSS("#reg-password"), "correct horse battery\r"),
		waitJS(`document.getElementById('reg-username-error').textContent !== ''`),
	)
	if err != nil {
		t.Fatalf("logout and register a taken name: %v", err)
	}
	if evalJS[string](t, ctx, `sessionStorage.getItem('ct_token') || ''`) != "" {
		t.Fatal("logout left the token in sessionStorage")
	}
	if kept := evalJS[string](t, ctx, `Object.keys(localStorage).filter(k => k.startsWith('ct_')).join(' ')`); kept != "" {
		t.Fatalf("logout left the account's data in localStorage: %s", kept)
	}
	if got := text("reg-username-error"); !strings.Contains(got, "already") {
		t.Fatalf("taken name error %q", got)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#reg-username"), "2"),
		waitJS(`document.getElementById('reg-username').value === 'webacct2'`),
		waitJS(`document.getElementById('reg-username-error').textContent === ''`),
		chromedp.SendKeys(chromedp.CSS("#reg-password"), "\r"),
		waitJS(`!document.getElementById('chat').hidden && document.getElementById('me').textContent === 'webacct2'`),
	)
	if err != nil {
		t.Fatalf("register webacct2: %v", err)
	}
	// Nothing of the previous account is on screen.
	if left := evalJS[string](t, ctx, `document.title + ' ' + [...document.querySelectorAll('#people .unread, #people .last')].map(e => e.textContent).join(' ')`); strings.TrimSpace(left) != "Crypt-Talk" {
		t.Fatalf("after switching accounts the page still shows %q", left)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#logout")),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		// Log in with the right password, by Enter.
		chromedp.Click(chromedp.CSS("#tab-login")),
		chromedp.SendKeys(chromedp.CSS("#login-username"), "webacct"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "short and now long enough\r"),
		waitJS(`!document.getElementById('chat').hidden`),
	)
	if err != nil {
		t.Fatalf("login: %v (login error %q)", err, text("login-error")+text("login-username-error")+text("login-password-error"))
	}
	if got := text("me"); got != "webacct" {
		t.Fatalf("logged in as %q", got)
	}
}
