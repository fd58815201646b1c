package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/vault"
)

// TestFederationClusterSenderFailover: a.test is a two-node cluster (real
// redis-server, the MongoDB wire server of the tests, one signing key
// file), b.test one embedded node. Each A node is SIGKILLed in turn while
// alice writes to bob through the other, so one of the kills hits the node
// that held the sender lease for b.test: delivery goes on from the other
// node, every message once, in order.
func TestFederationClusterSenderFailover(t *testing.T) {
	t.Parallel()
	redis, mongo := testenv.StartRedis(t), testenv.StartMongo(t)
	key, err := vault.GenerateSigningKey("")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "signing.key")
	if err := os.WriteFile(keyFile, []byte(vault.NewSigningKeys(key).Text()), 0o600); err != nil {
		t.Fatal(err)
	}
	fast := []string{"CRYPTTALK_FEDERATION_RETRY_MIN=100ms", "CRYPTTALK_FEDERATION_RETRY_MAX=1s", "CRYPTTALK_FEDERATION_SENDER_LEASE=2s"}
	aEnv := append([]string{
		"CRYPTTALK_SERVER_NAME=a.test", "MONGO_URL=" + mongo.URL(), "REDIS_URL=" + redis.URL(),
		"CRYPTTALK_MASTER_KEYS=v1:" + base64.StdEncoding.EncodeToString(vault.NewDataKey()),
		"CRYPTTALK_STORE_OP_TIMEOUT=3s", "CRYPTTALK_BUS_PREFIX=" + fmt.Sprintf("fed%d:", time.Now().UnixNano()),
		"CRYPTTALK_FEDERATION_SIGNING_KEY_FILE=" + keyFile, "CRYPTTALK_ADMIN_TOKEN=" + e2eAdminToken,
	}, fast...)
	a1 := testenv.StartNode(t, testenv.NodeConfig{Env: aEnv})
	b := testenv.StartNode(t, testenv.NodeConfig{Env: append([]string{"CRYPTTALK_SERVER_NAME=b.test",
		"CRYPTTALK_FEDERATION_PEERS=a.test=http://" + a1.Addr}, fast...)})
	a1.Stop()
	aEnv = append(aEnv, "CRYPTTALK_FEDERATION_PEERS=b.test=http://"+b.Addr)
	a1.Env = aEnv
	a1.Start()
	a2 := testenv.StartNode(t, testenv.NodeConfig{Env: aEnv})

	ac, alice := newUser(t, a1, "alice")
	bc, bob := newUser(t, b, "bob")
	var history []string
	send := func(via *testenv.Node, text string) {
		t.Helper()
		if _, err := client.WithBase(ac, via.URL()).AddMsg(ctxT(t), bob.UserID, text, "txn-"+text); err != nil {
			t.Fatalf("send %q via %s: %v", text, via.Addr, err)
		}
		history = append(history, text)
	}
	for i := range 3 {
		send([]*testenv.Node{a1, a2}[i%2], fmt.Sprintf("warm-up %d", i))
	}
	waitTexts(t, bc, alice.UserID, history)

	for round, victim := range []*testenv.Node{a1, a2} {
		other := a2
		if victim == a2 {
			other = a1
		}
		// Messages are queued on both nodes right before the kill, so the
		// victim may die holding the lease with its batch in flight.
		send(victim, fmt.Sprintf("round %d before the kill", round))
		send(other, fmt.Sprintf("round %d beside the kill", round))
		victim.Kill()
		for i := range 4 {
			send(other, fmt.Sprintf("round %d after the kill %d", round, i))
		}
		waitTexts(t, bc, alice.UserID, history)
		victim.Start()
	}
	waitTexts(t, bc, alice.UserID, history)

	// A signing key rotation on one node reaches the other at once (over
	// the bus, from the shared key file): both serve the new key and what
	// either signs next is taken by b.
	out, msg, code := runCtl(t, "--server", a1.URL(), "--token", e2eAdminToken, "keys", "rotate-signing", "-o", "json")
	var r client.SigningRotation
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("rotate-signing: exit %d %s %s", code, out, msg)
	}
	if !testenv.Poll(10*time.Second, func() bool { v, _ := keyDoc(t, a2); return onlyKey(t, v) == r.Active }) {
		t.Fatalf("the other node does not serve the rotated key %s", r.Active)
	}
	send(a2, "signed with the rotated key on the other node")
	send(a1, "signed with the rotated key on the rotating node")
	waitTexts(t, bc, alice.UserID, history)
}
