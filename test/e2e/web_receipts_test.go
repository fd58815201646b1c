package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// readReceipts collects bob's read receipts until one reaches seq.
func readReceipts(t *testing.T, conn *client.Conn, seq int64) int {
	t.Helper()
	k := 0
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-conn.Events():
			if !ok {
				t.Fatalf("socket closed (%d)", conn.CloseCode())
			}
			if ev.Name != "receipt" {
				continue
			}
			var r struct {
				Kind string `json:"kind"`
				Seq  int64  `json:"seq"`
			}
			_ = json.Unmarshal(ev.Data, &r)
			if r.Kind == "read" {
				k++
				if r.Seq >= seq {
					return k
				}
			}
		case <-timeout:
			t.Fatalf("no read receipt for seq %d within 20s (%d read receipts)", seq, k)
		}
	}
}

// TestWebReadsCoalesced: 150 messages arriving live in the open
// conversation cost the page a few `read` frames, not 150 (the socket's
// budget is 20 a second, bursts of 100: one per message would be cut with
// 4003); after a reload the replayed messages are counted unread once.
func TestWebReadsCoalesced(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	n := testenv.StartNode(t, testenv.NodeConfig{})
	bob, bu := newUser(t, n, "bob")
	bconn := connect(t, bob, nil)
	const me = "@webreads:localhost"
	if err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), webRegister("webreads"), webOpen(bu.UserID),
		waitJS(`document.getElementById('conn').hidden`)); err != nil {
		t.Fatal(err)
	}
	var last *client.Message
	start := time.Now()
	for i := range 150 {
		m, err := bob.AddMsg(ctxT(t), me, fmt.Sprintf("live %03d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		last = m
	}
	reads := readReceipts(t, bconn, last.Seq)
	// The page sends at most one read per conversation per 250 ms window:
	// the bound follows from the windows the messages spanned, whatever
	// the machine's speed.
	windows := int(time.Since(start)/(250*time.Millisecond)) + 2
	t.Logf("150 live messages over %d windows of 250 ms: %d read receipts", windows, reads)
	if reads > windows || reads >= 150 {
		t.Fatalf("%d read receipts for 150 messages in %d windows: reads are not coalesced", reads, windows)
	}
	if err := chromedp.Do(ctx, waitJS(`document.querySelectorAll('#messages li[data-id]').length === 150`)); err != nil {
		t.Fatal(err)
	}

	// Away from the page, 30 more arrive; back on it, the list counts 30
	// unread (the list's count plus the socket's replay, once), and opening
	// the conversation shows each once and reads them with one frame.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		m, err := bob.AddMsg(ctxT(t), me, fmt.Sprintf("away %02d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		last = m
	}
	sel := `#people li[data-user-id="` + bu.UserID + `"] .unread`
	err := chromedp.Do(ctx, chromedp.Navigate(n.URL()+"/"), chromedp.WaitVisible(chromedp.CSS("#chat")),
		waitJS(`document.getElementById('conn').hidden && document.querySelector('`+sel+`')`))
	if err != nil {
		t.Fatal(err)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('`+sel+`').textContent`); got != "30" {
		t.Fatalf("unread after reload %q, want 30", got)
	}
	if err := chromedp.Do(ctx, webOpen(bu.UserID), waitJS(`[...document.querySelectorAll('#messages li .text')].some(e => e.textContent === 'away 29')`)); err != nil {
		t.Fatal(err)
	}
	if reads := readReceipts(t, bconn, last.Seq); reads != 1 {
		t.Fatalf("opening the conversation sent %d reads, want 1", reads)
	}
	if k := evalJS[int](t, ctx, `[...document.querySelectorAll('#messages li .text')].filter(e => e.textContent.startsWith('away ')).length`); k != 30 {
		t.Fatalf("the conversation shows %d of the 30 messages", k)
	}
	if strings.Contains(n.Logs(), "frame budget spent") {
		t.Fatal("the page spent its socket's frame budget")
	}
}
