package e2e

import (
	"testing"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// TestNoPlaintextAtRest stops the server, searches every byte of the data
// dir for a message's plaintext, then restarts on the same dir.
func TestNoPlaintextAtRest(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	alice, au := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	const marker = "PLAINTEXT-MARKER-7f3a9c"
	for i := 0; i < 20; i++ {
		if _, err := alice.AddMsg(ctx, bu.UserID, marker+" from alice", ""); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, bob, nil)
	if _, err := conn.SendMsg(ctx, au.UserID, marker+" from bob", ""); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	n.Stop()

	noPlaintext(t, n, marker, alice.Token, bob.Token)

	n.Start()
	msgs, err := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 21 || msgs[20].Message != marker+" from bob" || msgs[0].Message != marker+" from alice" {
		t.Fatalf("history after restart: %d messages", len(msgs))
	}
}
