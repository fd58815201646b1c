package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/federation"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/vault"
)

// fedPair starts two homeservers, a.test and b.test, each with its own
// embedded store, that know each other through CRYPTTALK_FEDERATION_PEERS.
// A is started twice: b's address is only known once b runs.
func fedPair(t *testing.T) (a, b *testenv.Node) {
	t.Helper()
	common := []string{"CRYPTTALK_FEDERATION_RETRY_MIN=100ms", "CRYPTTALK_FEDERATION_RETRY_MAX=1s"}
	a = testenv.StartNode(t, testenv.NodeConfig{Env: append([]string{"CRYPTTALK_SERVER_NAME=a.test"}, common...)})
	b = testenv.StartNode(t, testenv.NodeConfig{Env: append([]string{"CRYPTTALK_SERVER_NAME=b.test",
		"CRYPTTALK_FEDERATION_PEERS=a.test=http://" + a.Addr}, common...)})
	a.Stop()
	a.Env = append(a.Env, "CRYPTTALK_FEDERATION_PEERS=b.test=http://"+b.Addr)
	a.Start()
	return a, b
}

// texts is the text messages of c's conversation with peer, oldest first.
func texts(t *testing.T, c *client.Client, peer string) []string {
	t.Helper()
	ms, err := c.GetMsg(ctxT(t), client.GetMsgRequest{To: peer, Limit: 200})
	if err != nil {
		t.Fatalf("history with %s: %v", peer, err)
	}
	var out []string
	for _, m := range ms {
		if m.Type == "text" {
			out = append(out, m.Message)
		}
	}
	return out
}

// waitTexts polls until c's history with peer is want, and fails with what
// it is otherwise.
func waitTexts(t *testing.T, c *client.Client, peer string, want []string) {
	t.Helper()
	var got []string
	if !testenv.Poll(30*time.Second, func() bool {
		got = texts(t, c, peer)
		return strings.Join(got, "\n") == strings.Join(want, "\n")
	}) {
		t.Fatalf("history with %s:\n got %q\nwant %q", peer, got, want)
	}
}

func TestFederation(t *testing.T) {
	t.Parallel()
	a, b := fedPair(t)
	ac, alice := newUser(t, a, "alice")
	bc, bob := newUser(t, b, "bob")
	if !strings.HasSuffix(alice.UserID, ":a.test") || !strings.HasSuffix(bob.UserID, ":b.test") {
		t.Fatalf("user ids %s, %s", alice.UserID, bob.UserID)
	}
	var history []string

	t.Run("DMBothWaysOverWebSocket", func(t *testing.T) {
		aconn, bconn := connect(t, ac, nil), connect(t, bc, nil)
		if _, err := aconn.SendMsg(ctxT(t), bob.UserID, "hello bob", "ws-1"); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, bconn, "msg-recieve", msgWith("hello bob"))
		if _, err := bconn.SendMsg(ctxT(t), alice.UserID, "hello alice", "ws-2"); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, aconn, "msg-recieve", msgWith("hello alice"))
		history = append(history, "hello bob", "hello alice")
		waitTexts(t, ac, bob.UserID, history)
		waitTexts(t, bc, alice.UserID, history)
		convs, err := bc.Conversations(ctxT(t))
		if err != nil || len(convs) != 1 || convs[0].Peer.UserID != alice.UserID {
			t.Fatalf("bob's conversations: %+v, %v", convs, err)
		}
	})

	t.Run("ReceiverDownThenBack", func(t *testing.T) {
		b.Stop()
		for i := range 5 {
			text := fmt.Sprintf("while b is down %d", i)
			if _, err := ac.AddMsg(ctxT(t), bob.UserID, text, fmt.Sprintf("down-%d", i)); err != nil {
				t.Fatalf("send while b is down: %v", err)
			}
			history = append(history, text)
		}
		b.Start()
		waitTexts(t, bc, alice.UserID, history)
	})

	t.Run("SenderKilledAfterAcks", func(t *testing.T) {
		for i := range 5 {
			text := fmt.Sprintf("before the kill %d", i)
			if _, err := ac.AddMsg(ctxT(t), bob.UserID, text, fmt.Sprintf("kill-%d", i)); err != nil {
				t.Fatal(err)
			}
			history = append(history, text)
		}
		a.Kill()
		a.Start()
		waitTexts(t, bc, alice.UserID, history)
		// Nothing more arrives once the outbox has drained after the restart.
		if _, err := ac.AddMsg(ctxT(t), bob.UserID, "after the restart", "after"); err != nil {
			t.Fatal(err)
		}
		history = append(history, "after the restart")
		waitTexts(t, bc, alice.UserID, history)
		waitTexts(t, ac, bob.UserID, history)
	})

	t.Run("ReplayedTransactionStoredOnce", func(t *testing.T) {
		// a.test's own key, as a server replaying captured traffic or
		// retransmitting after a lost answer would hold it.
		keys, err := vault.LoadSigningKeysFile(filepath.Join(a.DataDir, "signing.key"))
		if err != nil {
			t.Fatal(err)
		}
		fc := federation.NewClient("a.test", keys, &federation.Resolver{Static: map[string]string{"b.test": b.URL()}})
		ev, err := federation.SignEvent(keys.Active(), federation.NewEvent{Type: "ct.message", Sender: alice.UserID, Recipient: bob.UserID,
			Time: time.Now(), Content: map[string]any{"msgtype": "text", "body": "replayed", "message_id": "replay-1"}})
		if err != nil {
			t.Fatal(err)
		}
		first, err := fc.SendTransaction(ctxT(t), "b.test", "replay-txn", []*federation.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := first[ev.EventID]; !ok || r != nil {
			t.Fatalf("first answer: %+v", first)
		}
		for _, txn := range []string{"replay-txn", "another-txn"} {
			again, err := fc.SendTransaction(ctxT(t), "b.test", txn, []*federation.Event{ev})
			if err != nil {
				t.Fatalf("replay as %s: %v", txn, err)
			}
			if r, ok := again[ev.EventID]; !ok || r != nil {
				t.Fatalf("replay as %s answered %+v, want the original success", txn, again)
			}
		}
		history = append(history, "replayed")
		waitTexts(t, bc, alice.UserID, history)
	})

	t.Run("FileAndVoiceAcross", func(t *testing.T) {
		doc, voice := pdf(3000), wav(400)
		for _, up := range []struct {
			name   string
			fields map[string]string
			data   []byte
		}{
			{"report.pdf", map[string]string{"to": bob.UserID}, doc},
			{"note.wav", map[string]string{"to": bob.UserID, "kind": "voice", "max_plays": "2"}, voice},
		} {
			if code, a := upload(t, a, ac.Token, up.fields, up.name, up.data); code != 200 {
				t.Fatalf("upload %s on a.test: %d %+v", up.name, code, a)
			}
		}
		var files []client.Message
		if !testenv.Poll(30*time.Second, func() bool {
			ms, err := bc.GetMsg(ctxT(t), client.GetMsgRequest{To: alice.UserID, Limit: 200})
			if err != nil {
				return false
			}
			files = files[:0]
			for _, m := range ms {
				if m.File != nil {
					files = append(files, m)
				}
			}
			return len(files) == 2
		}) {
			t.Fatalf("bob's file messages on b.test: %+v", files)
		}
		for i, want := range [][]byte{doc, voice} {
			m := files[i]
			if (i == 0) != (m.Type == "file") {
				t.Fatalf("message %d has type %s", i, m.Type)
			}
			resp, got := download(t, b, bc.Token, m.File.FileID, "")
			if resp.StatusCode != 200 || !bytes.Equal(got, want) {
				t.Fatalf("bob's download of %s from b.test: %d, %d bytes, want %d", m.File.Filename, resp.StatusCode, len(got), len(want))
			}
		}
	})

	t.Run("TypingReceiptsTimerDelete", func(t *testing.T) {
		ctx := ctxT(t)
		aconn, bconn := connect(t, ac, nil), connect(t, bc, nil)
		if _, err := aconn.SendMsg(ctx, bob.UserID, "read me", "rr"); err != nil {
			t.Fatal(err)
		}
		var got client.Message
		if err := json.Unmarshal(waitEvent(t, bconn, "msg-recieve", msgWith("read me")), &got); err != nil {
			t.Fatal(err)
		}
		has := func(parts ...string) func(json.RawMessage) bool {
			return func(d json.RawMessage) bool {
				for _, p := range parts {
					if !strings.Contains(string(d), p) {
						return false
					}
				}
				return true
			}
		}
		// b's gateway delivered it to bob: a learns and tells alice.
		waitEvent(t, aconn, "receipt", has(`"delivered"`, bob.UserID))
		if _, err := bconn.Request(ctx, "read", map[string]any{"conversation_id": got.ConversationID, "seq": got.Seq}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, aconn, "receipt", has(`"read"`, bob.UserID))
		if err := bconn.Send(ctx, "typing", map[string]any{"to": alice.UserID, "typing": true}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, aconn, "typing", has(bob.UserID))
		if _, err := ac.SetTimer(ctx, bob.UserID, client.Timer{Seconds: 3600, Mode: "after_send"}); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, bconn, "timer-changed", has(`3600`))
		convs, err := bc.Conversations(ctx)
		if err != nil || len(convs) != 1 || convs[0].Timer.Seconds != 3600 || convs[0].Timer.Mode != "after_send" {
			t.Fatalf("bob's conversation after the timer: %+v, %v", convs, err)
		}
		if err := ac.DeleteConversation(ctx, bob.UserID); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, bconn, "conversation-destroyed", has(got.ConversationID))
		if h := texts(t, bc, alice.UserID); len(h) != 0 {
			t.Fatalf("bob's history after alice destroyed the conversation: %q", h)
		}
	})
}
