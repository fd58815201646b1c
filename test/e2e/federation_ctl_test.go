package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// keyDoc is the key ids of n's GET /_crypttalk/key/v1/server.
func keyDoc(t *testing.T, n *testenv.Node) (verify, old map[string]json.RawMessage) {
	t.Helper()
	resp, err := http.Get(n.URL() + "/_crypttalk/key/v1/server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct {
		VerifyKeys    map[string]json.RawMessage `json:"verify_keys"`
		OldVerifyKeys map[string]json.RawMessage `json:"old_verify_keys"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("key document: %d %s", resp.StatusCode, body)
	}
	return doc.VerifyKeys, doc.OldVerifyKeys
}

func onlyKey(t *testing.T, m map[string]json.RawMessage) string {
	t.Helper()
	if len(m) != 1 {
		t.Fatalf("want one key, got %v", m)
	}
	for id := range m {
		return id
	}
	return ""
}

// queueOf is DEST's row of `ctl federation queue DEST -o json`.
func queueOf(t *testing.T, a *testenv.Node, dest string) client.FederationDestination {
	t.Helper()
	out, msg, code := runCtl(t, "--server", a.URL(), "--token", e2eAdminToken, "federation", "queue", dest, "-o", "json")
	var ds []client.FederationDestination
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 {
		t.Fatalf("ctl federation queue %s: exit %d, %s %s", dest, code, out, msg)
	}
	return ds[0]
}

// TestFederationCtl: ctl keys rotate-signing publishes the old key under
// old_verify_keys and the peer still takes what the new key signs; ctl
// federation queue shows the outbox of a peer that is down, and ctl
// federation retry sends it at once when the peer is back, long before
// its backoff (a minute at least) would.
func TestFederationCtl(t *testing.T) {
	t.Parallel()
	common := []string{"CRYPTTALK_FEDERATION_RETRY_MIN=2m", "CRYPTTALK_FEDERATION_RETRY_MAX=10m"}
	b := testenv.StartNode(t, testenv.NodeConfig{Env: append([]string{"CRYPTTALK_SERVER_NAME=b.test"}, common...)})
	a := testenv.StartNode(t, testenv.NodeConfig{Env: append([]string{"CRYPTTALK_SERVER_NAME=a.test",
		"CRYPTTALK_ADMIN_TOKEN=" + e2eAdminToken, "CRYPTTALK_FEDERATION_PEERS=b.test=http://" + b.Addr}, common...)})
	b.Stop()
	b.Env = append(b.Env, "CRYPTTALK_FEDERATION_PEERS=a.test=http://"+a.Addr)
	b.Start()
	ctl := func(args ...string) (string, string, int) {
		return runCtl(t, append([]string{"--server", a.URL(), "--token", e2eAdminToken}, args...)...)
	}
	ac, alice := newUser(t, a, "alice")
	bc, bob := newUser(t, b, "bob")
	var history []string
	send := func(text string) {
		t.Helper()
		if _, err := ac.AddMsg(ctxT(t), bob.UserID, text, "txn-"+strings.ReplaceAll(text, " ", "-")); err != nil {
			t.Fatal(err)
		}
		history = append(history, text)
	}

	send("before rotation")
	waitTexts(t, bc, alice.UserID, history) // b now caches a's first key

	t.Run("RotateSigning", func(t *testing.T) {
		verify, old := keyDoc(t, a)
		first := onlyKey(t, verify)
		if len(old) != 0 {
			t.Fatalf("old keys before rotation: %v", old)
		}
		out, msg, code := ctl("keys", "rotate-signing", "-o", "json")
		var r client.SigningRotation
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("rotate-signing: exit %d %s %s", code, out, msg)
		}
		verify, old = keyDoc(t, a)
		if got := onlyKey(t, verify); got != r.Active || got == first {
			t.Fatalf("active key %s after rotation (was %s, ctl said %s)", got, first, r.Active)
		}
		var o struct {
			Key       string `json:"key"`
			ExpiredTS int64  `json:"expired_ts"`
		}
		if raw, ok := old[first]; !ok || json.Unmarshal(raw, &o) != nil || o.Key == "" || o.ExpiredTS == 0 {
			t.Fatalf("old_verify_keys %v: want %s with its key and expired_ts", old, first)
		}
		// b knows only the first key and refetches a's document on the
		// unknown key id at once: the message needs no retry (a failed
		// attempt would back off for minutes here).
		send("after rotation")
		waitTexts(t, bc, alice.UserID, history)
		// The rotation survives a restart (it was persisted).
		a.Stop()
		a.Start()
		if got := onlyKey(t, func() map[string]json.RawMessage { v, _ := keyDoc(t, a); return v }()); got != r.Active {
			t.Fatalf("after restart the active key is %s, want %s", got, r.Active)
		}
		_, _, code = ctl("audit", "--action", "keys.rotate-signing")
		if code != 0 {
			t.Fatalf("audit exit %d", code)
		}
	})

	t.Run("QueueAndRetry", func(t *testing.T) {
		b.Stop()
		send("while b is down")
		var d client.FederationDestination
		if !testenv.Poll(30*time.Second, func() bool {
			d = queueOf(t, a, "b.test")
			return d.Depth >= 1 && d.LastError != "" && !d.NextAttempt.IsZero()
		}) {
			t.Fatalf("queue of b.test: %+v", d)
		}
		out, msg, code := ctl("federation", "peers")
		if code != 0 || !strings.Contains(out, "b.test") || !strings.Contains(out, "NEXT_RETRY") {
			t.Fatalf("peers: exit %d\n%s%s", code, out, msg)
		}
		b.Start()
		if out, msg, code := ctl("federation", "retry", "b.test"); code != 0 {
			t.Fatalf("retry: exit %d %s %s", code, out, msg)
		}
		if !testenv.Poll(30*time.Second, func() bool { return queueOf(t, a, "b.test").Depth == 0 }) {
			t.Fatalf("queue of b.test did not drain: %+v", queueOf(t, a, "b.test"))
		}
		waitTexts(t, bc, alice.UserID, history)
	})

	t.Run("BadInput", func(t *testing.T) {
		for _, args := range [][]string{{"federation", "retry", "nope.test"}, {"federation", "queue", "nope.test"}} {
			_, msg, code := ctl(args...)
			if code != 1 || !strings.Contains(msg, "nope.test") {
				t.Errorf("ctl %v: exit %d, %q; want 1 naming the server", args, code, msg)
			}
		}
		for _, args := range [][]string{{"federation", "retry"}, {"federation", "queue", "x", "y"}, {"keys", "rotate-signing", "extra"}} {
			if _, _, code := ctl(args...); code != 2 {
				t.Errorf("ctl %v: exit %d, want 2", args, code)
			}
		}
		// b has no admin token configured on this test: the API refuses.
		if _, _, code := runCtl(t, "--server", b.URL(), "--token", e2eAdminToken, "federation", "peers"); code != 1 {
			t.Errorf("peers on a node without the token: exit %d, want 1", code)
		}
	})
}
