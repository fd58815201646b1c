package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestWebHistoryPaging: a conversation opens on its newest 50 messages;
// scrolling to the top pages in the older ones (getmsg before_seq), each
// shown once, in order.
func TestWebHistoryPaging(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webpages")); err != nil {
		t.Fatal(err)
	}
	for i := range 70 {
		if _, err := bob.AddMsg(ctxT(t), "@webpages:localhost", fmt.Sprintf("history %02d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	err := chromedp.Do(ctx, webOpen(bu.UserID),
		waitJS(`document.querySelectorAll('#messages li[data-id]').length === 50`),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('messages').scrollTop = 0`),
		waitJS(`document.querySelectorAll('#messages li[data-id]').length === 70`),
	)
	if err != nil {
		t.Fatalf("paging: %v (shown %d)", err, evalJS[int](t, ctx, `document.querySelectorAll('#messages li[data-id]').length`))
	}
	got := evalJS[string](t, ctx, `[...document.querySelectorAll('#messages li[data-id] .text')].map(e => e.textContent.slice(-2)).join(',')`)
	want := ""
	for i := range 70 {
		if i > 0 {
			want += ","
		}
		want += fmt.Sprintf("%02d", i)
	}
	if got != want {
		t.Fatalf("history after paging:\n got %s\nwant %s", got, want)
	}
}
