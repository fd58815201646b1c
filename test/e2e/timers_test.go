package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

func setTimer(t *testing.T, c *client.Client, peer string, seconds int, mode string) {
	t.Helper()
	body := map[string]any{"seconds": seconds, "mode": mode}
	if err := c.Do(ctxT(t), "PUT", "/api/conversations/"+url.PathEscape(peer)+"/timer", body, nil); err != nil {
		t.Fatalf("set timer: %v", err)
	}
}

// TestSelfDestructAfterSend: a real 2 s timer on the real binary.
func TestSelfDestructAfterSend(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	alice, au := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	bconn := connect(t, bob, nil)
	setTimer(t, alice, bu.UserID, 2, "after_send")
	waitEvent(t, bconn, "timer-changed", func(d json.RawMessage) bool { return strings.Contains(string(d), `"after_send"`) })

	m, err := alice.AddMsg(ctx, bu.UserID, "burn after sending", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.ExpiresAt == nil {
		t.Fatal("a message under a timer has no expiresAt")
	}
	status, f := upload(t, n, alice.Token, map[string]string{"to": bu.UserID}, "x.pdf", pdf(1000))
	if status != 200 {
		t.Fatal(status)
	}
	waitEvent(t, bconn, "msg-deleted", func(d json.RawMessage) bool { return strings.Contains(string(d), m.ID) })
	msgs, _ := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID})
	for _, got := range msgs {
		if got.ID == m.ID || got.ID == f.Msg.ID {
			t.Fatal("expired message still in history")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := download(t, n, bob.Token, f.FileID, "")
		if resp.StatusCode == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired file still served: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestSelfDestructAfterRead(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	alice, au := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	setTimer(t, bob, au.UserID, 2, "after_read")
	m, err := alice.AddMsg(ctx, bu.UserID, "read then burn", "")
	if err != nil {
		t.Fatal(err)
	}
	aconn := connect(t, alice, nil)
	// Unread, it survives well past 2 s, even through getmsg.
	time.Sleep(3 * time.Second) // the contract is about elapsed time; there is no event to wait for
	if msgs, _ := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID}); !hasID(msgs, m.ID) {
		t.Fatal("unread message vanished")
	}
	bconn := connect(t, bob, nil)
	if _, err := bconn.Request(ctx, "read", map[string]any{"conversation_id": m.ConversationID, "seq": m.Seq}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aconn, "msg-deleted", func(d json.RawMessage) bool { return strings.Contains(string(d), m.ID) })
	if msgs, _ := alice.GetMsg(ctx, client.GetMsgRequest{To: bu.UserID}); hasID(msgs, m.ID) {
		t.Fatal("read message survived its timer")
	}
}

func TestSelfDestructIdleAndDelete(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	alice, au := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	carol, cu := newUser(t, n, "carol")
	aconn := connect(t, alice, nil)
	bconn := connect(t, bob, nil)
	setTimer(t, alice, "@"+strings.TrimPrefix(bu.UserID, "@"), 2, "idle")
	if _, err := alice.AddMsg(ctx, bu.UserID, "idle chat", ""); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aconn, "conversation-destroyed", nil)
	waitEvent(t, bconn, "conversation-destroyed", nil)
	if msgs, _ := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID}); len(msgs) != 0 {
		t.Fatalf("idle conversation kept %d messages", len(msgs))
	}

	// Delete for both sides, naming the peer percent-encoded.
	if _, err := carol.AddMsg(ctx, au.UserID, "to be deleted", ""); err != nil {
		t.Fatal(err)
	}
	err := bob.Do(ctx, "DELETE", "/api/conversations/"+url.PathEscape(cu.UserID), nil, nil)
	apiErr(t, err, 404, "CT_NOT_FOUND") // bob has no conversation with carol
	if err := alice.Do(ctx, "DELETE", "/api/conversations/%40"+strings.TrimPrefix(cu.UserID, "@"), nil, nil); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aconn, "conversation-destroyed", nil)
	if msgs, _ := carol.GetMsg(ctx, client.GetMsgRequest{To: au.UserID}); len(msgs) != 0 {
		t.Fatal("delete for both left messages")
	}
	err = alice.Do(ctx, "PUT", "/api/conversations/"+url.PathEscape(bu.UserID)+"/timer", map[string]any{"seconds": 5, "mode": "sometimes"}, nil)
	apiErr(t, err, 400, "")
}

func hasID(ms []client.Message, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}
