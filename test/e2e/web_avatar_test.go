package e2e

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// avatarOf answers the avatar another user sees for name.
func avatarOf(t *testing.T, c *client.Client, self *client.User, name string) string {
	t.Helper()
	users, err := c.AllUsers(ctxT(t), self.UserID, name, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Username == name && u.IsAvatarImageSet {
			return u.AvatarImage
		}
	}
	return ""
}

// TestWebAvatar picks a generated SVG avatar, then uploads a PNG; another
// user sees each one.
func TestWebAvatar(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")

	err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webface"),
		chromedp.Click(chromedp.CSS("#avatar-button")),
		chromedp.WaitVisible(chromedp.CSS("#avatar-choices button")),
		chromedp.Click(chromedp.CSS("#avatar-choices button")),
		waitJS(`!document.getElementById('avatar-dialog').open && document.querySelector('#avatar-button img')`),
	)
	if err != nil {
		t.Fatalf("pick: %v", err)
	}
	var got string
	testenv.Poll(10e9, func() bool { got = avatarOf(t, bob, bu, "webface"); return got != "" })
	if !strings.HasPrefix(got, "data:image/svg+xml") {
		t.Fatalf("bob sees avatar %.60q, want the generated SVG", got)
	}

	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	img.Set(3, 3, color.RGBA{200, 0, 0, 255})
	_ = png.Encode(&pic, img)
	file := filepath.Join(t.TempDir(), "me.png")
	if err := os.WriteFile(file, pic.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#avatar-button")),
		chromedp.WaitVisible(chromedp.CSS("#avatar-choices button")),
		chromedp.SetUploadFiles(chromedp.CSS("#avatar-file"), []string{file}),
		waitJS(`!document.getElementById('avatar-dialog').open && document.querySelector('#avatar-button img').src.startsWith('data:image/png')`),
	)
	if err != nil {
		t.Fatalf("upload: %v (error %q)", err, evalJS[string](t, ctx, `document.getElementById('avatar-error').textContent`))
	}
	testenv.Poll(10e9, func() bool { got = avatarOf(t, bob, bu, "webface"); return strings.HasPrefix(got, "data:image/png") })
	if !strings.HasPrefix(got, "data:image/png") {
		t.Fatalf("bob sees avatar %.60q after the upload, want the PNG", got)
	}
}
