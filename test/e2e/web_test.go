package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// browser starts headless Chromium (Debian's package) for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		testenv.MissingService(t, "chromium not found (Debian package chromium; `make deps`)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		// A fake microphone that needs no permission prompt, for voice.
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	// The page as the test left it, kept with `go test -artifacts`; and no
	// uncaught error or CSP violation on it.
	t.Cleanup(func() {
		shot(t, ctx, "last")
		bad, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.protocol === 'http:' ? (document.documentElement.dataset.jsErrors || '') + '/' + (document.documentElement.dataset.cspViolations || '') + (document.documentElement.dataset.jsLastError ? ' (last error: ' + document.documentElement.dataset.jsLastError + ')' : '') : '/'`))
		if err == nil && bad != "/" {
			t.Errorf("the page had uncaught errors / CSP violations: %s", bad)
		}
	})
	return ctx
}

var shotDirs sync.Map // test name -> *shotDir

type shotDir struct {
	once sync.Once
	dir  string
	n    atomic.Int32
}

// shot saves a screenshot of the page, numbered in step order, in
// $CRYPTTALK_TEST_ARTIFACTS/<test> (`make test` sets it to test-artifacts/),
// else in the test's artifact directory (kept with `go test -artifacts`);
// the directory is printed in the log.
func shot(t *testing.T, ctx context.Context, name string) {
	v, _ := shotDirs.LoadOrStore(t.Name(), &shotDir{})
	d := v.(*shotDir)
	d.once.Do(func() {
		if root := os.Getenv("CRYPTTALK_TEST_ARTIFACTS"); root != "" {
			d.dir = filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
			if err := os.MkdirAll(d.dir, 0o755); err != nil {
				t.Errorf("artifacts: %v", err)
			}
		} else {
			d.dir = t.ArtifactDir()
		}
		t.Logf("screenshots of each step: %s", d.dir)
	})
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	file := filepath.Join(d.dir, fmt.Sprintf("%02d-%s.png", d.n.Add(1), name))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// webRegister opens the page and creates an account through the register
// form, submitted with Enter (the form it is in decides what Enter does).
func webRegister(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.Click(chromedp.CSS("#tab-register")),
		chromedp.WaitVisible(chromedp.CSS("#register-form")),
		chromedp.SendKeys(chromedp.CSS("#reg-username"), name),
		chromedp.SendKeys(chromedp.CSS("#reg-email"), name+"@example.org"),
		chromedp.SendKeys(chromedp.CSS("#reg-password"), "correct horse battery\r"),
		chromedp.WaitVisible(chromedp.CSS("#chat")),
	)
}

// webOpen opens the conversation with userID from the list.
func webOpen(userID string) chromedp.Action[chromedp.Void] {
	sel := `#people li[data-user-id="` + userID + `"] button`
	// The click happens in the page, on the button there at that moment: a
	// search answer that re-renders the list between finding the node and
	// a CDP click would leave the click a detached node ("Could not find
	// node with given id").
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		waitJS(`(b => b ? (b.click(), true) : false)(document.querySelector('`+sel+`'))`),
		chromedp.WaitEnabled(chromedp.CSS("#text")),
	)
}

// waitJS waits until the JavaScript expression is truthy in the page.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// evalJS runs expr in the page and returns its value.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// TestWebClient drives the embedded web client in Chromium: register, find
// a contact, send over the socket, receive live, and show hostile text as
// text.
func TestWebClient(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	bconn := connect(t, bob, nil)

	err := chromedp.Do(ctx,
		chromedp.Navigate(n.URL()+"/"),
		webRegister("webalice"),
		webOpen(bu.UserID),
		chromedp.SendKeys(chromedp.CSS("#text"), "hello from the browser"),
		chromedp.Click(chromedp.CSS("#send")),
	)
	if err != nil {
		t.Fatalf("browser steps: %v\n%s", err, n.Logs())
	}
	got := waitEvent(t, bconn, "msg-recieve", msgWith("hello from the browser"))
	var m struct {
		From string `json:"from"`
	}
	_ = json.Unmarshal(got, &m)
	if m.From != "@webalice:localhost" {
		t.Fatalf("browser message from %q", m.From)
	}

	const hostile = `<img src=x onerror="document.title='pwned'">hi browser`
	if _, err := bconn.SendMsg(ctxT(t), "@webalice:localhost", hostile, ""); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[contains(., "hi browser")]`))); err != nil {
		t.Fatalf("waiting for the live message: %v", err)
	}
	imgs := evalJS[int](t, ctx, `document.querySelectorAll('#messages img').length`)
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if imgs != 0 || strings.Contains(title, "pwned") {
		t.Fatalf("hostile text was rendered as HTML (imgs=%d, title=%q)", imgs, title)
	}
}
