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

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// colorScheme makes the page see prefers-color-scheme as scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// TestWebScreenshots takes the chat at phone and desktop widths, light and
// dark, and checks each has no sideways scroll. The images are test
// artifacts; `make web-screenshots` writes them to docs/screenshots.
func TestWebScreenshots(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	carol, _ := newUser(t, n, "carol")
	dir := os.Getenv("WEB_SCREENSHOTS")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	const me = "@alice:localhost"
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1100, 720), chromedp.Navigate(n.URL()+"/"), webRegister("alice")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Hi Alice! Did the photos from Saturday come out?", "They did — sending the best one now."} {
		c, to := bob, me
		if s[0] == 'T' {
			if err := chromedp.Do(ctx, webOpen(bu.UserID), chromedp.SendKeys(chromedp.CSS("#text"), s+"\r"),
				waitJS(`!document.querySelector('#messages li.pending')`)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := c.AddMsg(ctxT(t), to, s, ""); err != nil {
			t.Fatal(err)
		}
	}
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 240, 140))
	for y := range 140 {
		for x := range 240 {
			img.Set(x, y, color.RGBA{uint8(60 + x/2), uint8(120 + y/2), 200, 255})
		}
	}
	_ = png.Encode(&pic, img)
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me}, "saturday.png", pic.Bytes()); st != 200 {
		t.Fatal(st)
	}
	if st, _ := upload(t, n, bob.Token, map[string]string{"to": me}, "tickets.pdf", pdf(40000)); st != 200 {
		t.Fatal(st)
	}
	if _, err := bob.AddMsg(ctxT(t), me, "Lovely! 🎉", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.AddMsg(ctxT(t), me, "Are we still on for Thursday?", ""); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, waitJS(`document.querySelector('#messages img.preview')?.naturalWidth === 240 && document.querySelector('#people .unread')`)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		w, h int64
	}{{"desktop", 1100, 720}, {"phone", 390, 844}} {
		for _, scheme := range []string{"light", "dark"} {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(v.w, v.h), colorScheme(scheme)); err != nil {
				t.Fatal(err)
			}
			if over := evalJS[int](t, ctx, `document.scrollingElement.scrollWidth - innerWidth`); over > 0 {
				t.Fatalf("%s %s: %d px of sideways scroll", v.name, scheme, over)
			}
			b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "web-"+v.name+"-"+scheme+".png"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
