package e2e

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestWebTwoBrowsers: two people, each in their own browser context (own
// storage), chat both ways in real time; each sees the other online, the
// other's typing, and the read tick once the other has the conversation
// open.
func TestWebTwoBrowsers(t *testing.T) {
	t.Parallel()
	actx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	// The browser must run before a second context can be made in it.
	if err := chromedp.Do(actx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	bctx, cancel := chromedp.NewContext(actx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)

	if err := chromedp.Do(actx, chromedp.Navigate(n.URL()+"/"), webRegister("ann")); err != nil {
		t.Fatalf("ann: %v", err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(n.URL()+"/"), webRegister("ben")); err != nil {
		t.Fatalf("ben: %v", err)
	}
	const ann, ben = "@ann:localhost", "@ben:localhost"
	shot(t, actx, "ann-registered")
	// Each picks a generated avatar; the other sees it in the list.
	for _, c := range []context.Context{actx, bctx} {
		err := chromedp.Do(c, chromedp.Click(chromedp.CSS("#avatar-button")),
			chromedp.WaitVisible(chromedp.CSS("#avatar-choices button")),
			chromedp.Click(chromedp.CSS("#avatar-choices button")),
			waitJS(`!document.getElementById('avatar-dialog').open && document.querySelector('#avatar-button img')?.src.startsWith('data:image/svg+xml')`))
		if err != nil {
			t.Fatalf("avatar: %v", err)
		}
	}
	shot(t, bctx, "ben-avatar-picked")
	// Ann's list predates Ben: a search finds him.
	if err := chromedp.Do(actx, chromedp.SendKeys(chromedp.CSS("#search"), "ben"), webOpen(ben),
		waitJS(`document.getElementById('conn').hidden`),
		waitJS(`document.querySelector('#people li[data-user-id="@ben:localhost"] img')?.src.startsWith('data:image/svg+xml')`),
		chromedp.SendKeys(chromedp.CSS("#text"), "hi Ben, it's Ann\r")); err != nil {
		t.Fatalf("ann writes: %v", err)
	}
	shot(t, actx, "ann-sent")
	err := chromedp.Do(bctx,
		waitJS(`document.getElementById('notice').textContent.includes("hi Ben, it's Ann")`),
		webOpen(ann),
		waitJS(`[...document.querySelectorAll('#messages li .text')].some(e => e.textContent === "hi Ben, it's Ann")`),
		chromedp.SendKeys(chromedp.CSS("#text"), "hello Ann"),
	)
	if err != nil {
		t.Fatalf("ben reads: %v", err)
	}
	shot(t, bctx, "ben-received")
	if !evalJS[bool](t, bctx, `document.getElementById('notice').hidden`) {
		t.Errorf("the notice of Ann's message stays on screen once Ben has her conversation open")
	}
	err = chromedp.Do(actx,
		waitJS(`document.getElementById('typing').textContent.includes('ben is typing')`),
		waitJS(`document.querySelector('#people li[data-user-id="@ben:localhost"]').classList.contains('online')`),
		waitJS(`document.querySelector('#messages li.mine[data-id] .tick.read')`),
	)
	if err != nil {
		t.Fatalf("ann sees typing, online and read: %v", err)
	}
	shot(t, actx, "ann-typing-read")
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#text"), "\r")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(actx, waitJS(`[...document.querySelectorAll('#messages li.theirs .text')].some(e => e.textContent === 'hello Ann')`)); err != nil {
		t.Fatalf("ann gets the answer live: %v", err)
	}
	shot(t, actx, "ann-got-answer")

	// Ann attaches an image in the page; Ben sees its preview and opens it
	// full size.
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 20, 10))
	img.Set(1, 1, color.RGBA{0, 0, 255, 255})
	_ = png.Encode(&pic, img)
	file := filepath.Join(t.TempDir(), "holiday.png")
	if err := os.WriteFile(file, pic.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(actx, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}),
		waitJS(`document.querySelector('#messages li.mine img.preview')?.naturalWidth === 20`)); err != nil {
		t.Fatalf("ann attaches: %v (%q)", err, evalJS[string](t, actx, `document.getElementById('chat-error').textContent`))
	}
	err = chromedp.Do(bctx,
		waitJS(`document.querySelector('#messages li.theirs img.preview')?.naturalWidth === 20`),
		chromedp.Click(chromedp.CSS("#messages li.theirs img.preview")),
		waitJS(`document.getElementById('viewer').open && document.getElementById('viewer-img').naturalWidth === 20`),
		chromedp.Func(func(context.Context, *chromedp.Target) error { shot(t, bctx, "ben-image-viewer"); return nil }),
		chromedp.Click(chromedp.CSS("#viewer-close")),
		waitJS(`!document.getElementById('viewer').open`),
	)
	if err != nil {
		t.Fatalf("ben sees the image: %v", err)
	}
	twoBrowsersFilesAndTimer(t, n, actx, bctx)
}

// twoBrowsersFilesAndTimer goes on with Ann and Ben's conversation: a PDF
// sent from the page with an upload progress bar and downloaded by Ben
// byte-identical, a voice message recorded by Ann and played by Ben, and a
// self-destruct timer chosen in the page under which a message vanishes
// on both sides.
func twoBrowsersFilesAndTimer(t *testing.T, n *testenv.Node, actx, bctx context.Context) {
	// The progress bar's states as the page shows them.
	const watchBar = `window.barSeen = []; new MutationObserver(() => { const b = document.getElementById('upload-progress');
  window.barSeen.push({hidden: b.hidden, value: b.value}); }).observe(document.getElementById('upload-progress'), {attributes: true})`
	doc := pdf(3 << 20)
	file := filepath.Join(t.TempDir(), "minutes.pdf")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	dl := t.TempDir()
	if err := chromedp.Do(actx, chromedp.Evaluate[chromedp.Void](watchBar),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file}),
		waitJS(`[...document.querySelectorAll('#messages li.mine a.download')].some(a => a.textContent.includes('minutes.pdf'))`),
		waitJS(`window.barSeen.some(s => !s.hidden && s.value > 0) && document.getElementById('upload-progress').hidden`)); err != nil {
		t.Fatalf("ann sends a PDF: %v (bar %s)", err, evalJS[string](t, actx, `JSON.stringify(window.barSeen)`))
	}
	shot(t, actx, "ann-pdf-sent")
	err := chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl,
				// Ben's own browser context: without it, the default one.
				BrowserContextID: chromedp.FromContext(bctx).BrowserContextID,
			})
			return err
		}),
		chromedp.Click(chromedp.Search(`//ol[@id="messages"]//li[contains(@class,"theirs")]//a[contains(., "minutes.pdf")]`)),
	)
	if err != nil {
		t.Fatalf("ben downloads: %v", err)
	}
	var saved []byte
	testenv.Poll(20*time.Second, func() bool {
		saved, _ = os.ReadFile(filepath.Join(dl, "minutes.pdf"))
		return bytes.Equal(saved, doc)
	})
	if !bytes.Equal(saved, doc) {
		t.Fatalf("Ben's download differs: %d bytes, want %d", len(saved), len(doc))
	}
	shot(t, bctx, "ben-pdf-downloaded")

	// Voice: Ann records from the fake microphone, Ben plays it.
	err = chromedp.Do(actx, chromedp.Click(chromedp.CSS("#record")),
		waitJS(`/[1-9] s/.test(document.getElementById('recording').textContent)`),
		chromedp.Click(chromedp.CSS("#record")),
		waitJS(`document.querySelector('#messages li.mine button.play')`))
	if err != nil {
		t.Fatalf("ann records: %v", err)
	}
	err = chromedp.Do(bctx, waitJS(`document.querySelector('#messages li.theirs button.play')`),
		chromedp.Click(chromedp.CSS("#messages li.theirs button.play")),
		waitJS(`(a => a && a.src.startsWith('blob:') && a.duration > 0)(document.querySelector('#messages li.theirs audio'))`))
	if err != nil {
		t.Fatalf("ben plays: %v", err)
	}
	shot(t, bctx, "ben-voice-played")

	// Ann chooses a timer in the page; Ben's page follows. Then a 2 s
	// timer (the page's shortest choice is 30 s) makes a message vanish on
	// both sides.
	// SetValue fires input and change itself, as a user's choice does.
	err = chromedp.Do(actx, chromedp.SetValue(chromedp.CSS("#timer"), "30"))
	if err != nil {
		t.Fatal(err)
	}
	const once = `[...document.querySelectorAll('#messages li')].filter(li => li.textContent.includes('disappearing messages: 30s')).length === 1`
	if err := chromedp.Do(bctx, waitJS(`document.getElementById('timer').value === '30' && `+once)); err != nil {
		t.Fatalf("ben sees the timer (once): %v", err)
	}
	annAPI := client.New(n.URL())
	if _, err := annAPI.Login(ctxT(t), "ann", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	setTimer(t, annAPI, "@ben:localhost", 2, "after_send")
	if err := chromedp.Do(actx, chromedp.SendKeys(chromedp.CSS("#text"), "this will self-destruct\r")); err != nil {
		t.Fatal(err)
	}
	const has = `[...document.querySelectorAll('#messages li')].some(li => li.querySelector('.text')?.textContent === 'this will self-destruct' && li.textContent.includes('⏱'))`
	const gone = `![...document.querySelectorAll('#messages li .text')].some(e => e.textContent === 'this will self-destruct')`
	for i, c := range []context.Context{actx, bctx} {
		if err := chromedp.Do(c, waitJS(has)); err != nil {
			t.Fatalf("side %d: countdown: %v", i, err)
		}
	}
	shot(t, bctx, "ben-countdown")
	for i, c := range []context.Context{actx, bctx} {
		if err := chromedp.Do(c, waitJS(gone)); err != nil {
			t.Fatalf("side %d: the message did not vanish: %v", i, err)
		}
	}
	shot(t, actx, "ann-vanished")
	shot(t, bctx, "ben-vanished")
}
