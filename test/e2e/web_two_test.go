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

	"github.com/chromedp/chromedp"

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
	// Ann's list predates Ben: a search finds him.
	if err := chromedp.Do(actx, chromedp.SendKeys(chromedp.CSS("#search"), "ben"), webOpen(ben),
		waitJS(`document.getElementById('conn').hidden`),
		chromedp.SendKeys(chromedp.CSS("#text"), "hi Ben, it's Ann\r")); err != nil {
		t.Fatalf("ann writes: %v", err)
	}
	err := chromedp.Do(bctx,
		waitJS(`document.getElementById('notice').textContent.includes("hi Ben, it's Ann")`),
		webOpen(ann),
		waitJS(`[...document.querySelectorAll('#messages li .text')].some(e => e.textContent === "hi Ben, it's Ann")`),
		chromedp.SendKeys(chromedp.CSS("#text"), "hello Ann"),
	)
	if err != nil {
		t.Fatalf("ben reads: %v", err)
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
}
