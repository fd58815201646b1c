package e2e

import (
	"encoding/json"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// tickJS is the tick of the page's own message with text, as
// "sent", "delivered" or "read" (its aria-label).
func tickJS(text string) string {
	return `(() => { const li = [...document.querySelectorAll('#messages li.mine[data-seq]')].find(l => l.querySelector('.text')?.textContent === ` + jsString(text) + `);
  return li ? li.querySelector('.tick').getAttribute('aria-label') : ''; })()`
}

// TestWebTicksAfterReload: the delivered and read ticks come back after a
// reload, from GET /api/conversations' peer_delivered_seq and
// peer_read_seq, not only from live receipt events.
func TestWebTicksAfterReload(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	bconn := connect(t, bob, nil)

	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webticks"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`),
		chromedp.SendKeys(chromedp.CSS("#text"), "read by bob\r"),
		chromedp.SendKeys(chromedp.CSS("#text"), "only delivered\r")); err != nil {
		t.Fatalf("browser steps: %v", err)
	}
	var first client.Message
	_ = json.Unmarshal(waitEvent(t, bconn, "msg-recieve", msgWith("read by bob")), &first)
	waitEvent(t, bconn, "msg-recieve", msgWith("only delivered"))
	if _, err := bconn.Request(ctxT(t), "read", map[string]any{"conversation_id": first.ConversationID, "seq": first.Seq}); err != nil {
		t.Fatalf("bob reads: %v", err)
	}
	check := func(when string) {
		t.Helper()
		if err := chromedp.Do(ctx, waitJS(tickJS("read by bob")+` === 'read' && `+tickJS("only delivered")+` === 'delivered'`)); err != nil {
			t.Fatalf("%s: ticks %q / %q, want read / delivered", when, evalJS[string](t, ctx, tickJS("read by bob")), evalJS[string](t, ctx, tickJS("only delivered")))
		}
		shot(t, ctx, "ticks-"+when)
	}
	check("live")
	// The API itself: the sender's view of the conversation carries the
	// peer's positions; the reader's view carries the sender's (none read).
	me := client.New(n.URL())
	if _, err := me.Login(ctxT(t), "webticks", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	convs, err := me.Conversations(ctxT(t))
	if err != nil || len(convs) != 1 {
		t.Fatalf("conversations: %v %v", convs, err)
	}
	if c := convs[0]; c.PeerReadSeq != first.Seq || c.PeerDeliveredSeq != c.LastSeq {
		t.Fatalf("sender's view: peer_read_seq %d peer_delivered_seq %d (last_seq %d), want %d and last_seq", c.PeerReadSeq, c.PeerDeliveredSeq, c.LastSeq, first.Seq)
	}
	if bc, err := bob.Conversations(ctxT(t)); err != nil || len(bc) != 1 || bc[0].PeerReadSeq != 0 || bc[0].ReadSeq != first.Seq {
		t.Fatalf("reader's view: %+v %v", bc, err)
	}
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#chat")), webOpen(bu.UserID)); err != nil {
		t.Fatalf("reload: %v", err)
	}
	check("after-reload")
}
