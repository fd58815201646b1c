package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// mxClient is a mautrix-go client whose sync loop records every message it
// sees, by room.
type mxClient struct {
	*mautrix.Client
	mu       sync.Mutex
	texts    []string
	invites  []id.RoomID
	receipts []id.EventID // events the peer read (m.receipt m.read)
	syncDone chan error
}

func mxLogin(t *testing.T, n *testenv.Node, user string) *mxClient {
	t.Helper()
	return mxLoginAt(t, n.URL(), user)
}

func mxLoginAt(t *testing.T, base, user string) *mxClient {
	t.Helper()
	cli, err := mautrix.NewClient(base, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Login(ctxT(t), &mautrix.ReqLogin{
		Type: mautrix.AuthTypePassword, Password: "correct horse battery", StoreCredentials: true,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user},
	}); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return &mxClient{Client: cli, syncDone: make(chan error, 1)}
}

// startSync runs mautrix's own sync loop until it fails.
func (m *mxClient) startSync(t *testing.T) {
	syncer := m.Syncer.(*mautrix.DefaultSyncer)
	syncer.OnEventType(event.EventMessage, func(_ context.Context, ev *event.Event) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.texts = append(m.texts, ev.Content.AsMessage().Body)
	})
	syncer.OnEventType(event.StateMember, func(_ context.Context, ev *event.Event) {
		if ev.GetStateKey() == m.UserID.String() && ev.Content.AsMember().Membership == event.MembershipInvite {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.invites = append(m.invites, ev.RoomID)
		}
	})
	syncer.OnEventType(event.EphemeralEventReceipt, func(_ context.Context, ev *event.Event) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for evID, byType := range *ev.Content.AsReceipt() {
			for uid := range byType[event.ReceiptTypeRead] {
				if uid != m.UserID {
					m.receipts = append(m.receipts, evID)
				}
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { m.syncDone <- m.SyncWithContext(ctx) }()
}

func (m *mxClient) saw(text string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.texts {
		if s == text {
			return true
		}
	}
	return false
}

func (m *mxClient) sawReceipt(ev id.EventID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.receipts {
		if r == ev {
			return true
		}
	}
	return false
}

func (m *mxClient) invitedTo() []id.RoomID {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]id.RoomID(nil), m.invites...)
}

func waitSaw(t *testing.T, m *mxClient, text string) {
	t.Helper()
	if !testenv.Poll(15*time.Second, func() bool { return m.saw(text) }) {
		t.Fatalf("%s never saw %q through /sync", m.UserID, text)
	}
}

// TestMatrixMautrixStory drives mautrix-go v0.32.0 through the whole DM
// story against the real binary, with a Crypt-Talk WebSocket client in the
// same conversation.
func TestMatrixMautrixStory(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	_, alice := newUser(t, n, "mxalice")
	bobWeb, bob := newUser(t, n, "mxbob")

	// Localpart for one, full user id for the other.
	a := mxLogin(t, n, alice.Username)
	b := mxLogin(t, n, bob.UserID)
	if who, err := a.Whoami(ctx); err != nil || who.UserID.String() != alice.UserID || who.DeviceID == "" {
		t.Fatalf("whoami: %+v %v", who, err)
	}
	a.startSync(t)
	b.startSync(t)

	created, err := a.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Invite: []id.UserID{id.UserID(bob.UserID)}, IsDirect: true, Preset: "trusted_private_chat",
	})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	if !strings.HasPrefix(room.String(), "!") || !strings.HasSuffix(room.String(), ":localhost") {
		t.Fatalf("room id %q", room)
	}
	if !testenv.Poll(15*time.Second, func() bool { r := b.invitedTo(); return len(r) > 0 && r[0] == room }) {
		t.Fatal("bob never saw the invite through /sync")
	}
	if _, err := b.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}

	first, err := a.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "hello bob"}, mautrix.ReqSendEvent{TransactionID: "txn-1"})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := a.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "hello bob"}, mautrix.ReqSendEvent{TransactionID: "txn-1"})
	if err != nil || retry.EventID != first.EventID {
		t.Fatalf("retry with the same txnId: %v %v, want %v", retry, err, first.EventID)
	}
	waitSaw(t, b, "hello bob")
	if _, err := b.SendText(ctx, room, "hi alice"); err != nil {
		t.Fatal(err)
	}
	waitSaw(t, a, "hi alice")

	t.Run("a Crypt-Talk WebSocket client in the same conversation, both ways", func(t *testing.T) {
		conn := connect(t, bobWeb, nil)
		toSocket, err := a.SendText(ctx, room, "to bob's socket")
		if err != nil {
			t.Fatal(err)
		}
		var got client.Message
		_ = json.Unmarshal(waitEvent(t, conn, "msg-recieve", msgWith("to bob's socket")), &got)
		// Bob reads it on the socket; alice's Matrix client gets m.receipt.
		if _, err := conn.Request(ctx, "read", map[string]any{"conversation_id": got.ConversationID, "seq": got.Seq}); err != nil {
			t.Fatal(err)
		}
		if !testenv.Poll(15*time.Second, func() bool { return a.sawReceipt(toSocket.EventID) }) {
			t.Fatalf("alice never got bob's read receipt for %s", toSocket.EventID)
		}
		sent, err := bobWeb.AddMsg(ctx, alice.UserID, "from bob's web client", "")
		if err != nil {
			t.Fatal(err)
		}
		waitSaw(t, a, "from bob's web client")
		// Typing and a read receipt from the Matrix side reach the socket.
		if _, err := a.UserTyping(ctx, room, true, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, conn, "typing", func(d json.RawMessage) bool { return strings.Contains(string(d), `"typing":true`) })
		if err := a.MarkRead(ctx, room, id.EventID("$"+sent.ID)); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, conn, "receipt", func(d json.RawMessage) bool {
			var r struct {
				Kind string `json:"kind"`
				Seq  int64  `json:"seq"`
			}
			return json.Unmarshal(d, &r) == nil && r.Kind == "read" && r.Seq == sent.Seq
		})
	})

	t.Run("/messages pages the history back to the start", func(t *testing.T) {
		for i := range 12 {
			if _, err := a.SendText(ctx, room, fmt.Sprintf("bulk %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		from := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatal("paging did not end")
			}
			resp, err := b.Messages(ctx, room, from, "", mautrix.DirectionBackward, nil, 5)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range resp.Chunk {
				if ev.RoomID != room {
					t.Fatalf("chunk event without its room: %+v", ev)
				}
				body, _ := ev.Content.Raw["body"].(string)
				got = append(got, body)
			}
			if resp.End == "" {
				break
			}
			from = resp.End
		}
		if len(got) != 16 || got[0] != "bulk 11" || got[len(got)-1] != "hello bob" {
			t.Fatalf("history newest first: %d events %q", len(got), got)
		}
	})

	t.Run("m.direct account data", func(t *testing.T) {
		var d map[string][]string
		if err := a.SetAccountData(ctx, "m.direct", map[string][]string{bob.UserID: {room.String()}}); err != nil {
			t.Fatal(err)
		}
		if err := a.GetAccountData(ctx, "m.direct", &d); err != nil || d[bob.UserID][0] != room.String() {
			t.Fatalf("m.direct %v %v", d, err)
		}
	})

	t.Run("logout stops the sync with M_UNKNOWN_TOKEN", func(t *testing.T) {
		if _, err := a.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-a.syncDone:
			if !errors.Is(err, mautrix.MUnknownToken) {
				t.Fatalf("sync ended with %v, want M_UNKNOWN_TOKEN", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the sync loop kept running after logout")
		}
	})
}

// TestMatrixRawRequests covers what the libraries do not exercise: CORS,
// unknown routes, error bodies, encoded path parameters, inline filters.
func TestMatrixRawRequests(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	_, alice := newUser(t, n, "mxraw")
	do := func(method, path, tok, body string) (int, map[string]any, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, n.URL()+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
	want := func(status int, out map[string]any, wantStatus int, code string) {
		t.Helper()
		if status != wantStatus || (code != "" && out["errcode"] != code) {
			t.Fatalf("got %d %v, want %d %s", status, out, wantStatus, code)
		}
	}
	st, out, h := do("OPTIONS", "/_matrix/client/v3/sync", "", "")
	if st != 200 || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight %d %v %v", st, out, h)
	}
	st, out, _ = do("GET", "/_matrix/client/v3/nothing/here", "", "")
	want(st, out, 404, "M_UNRECOGNIZED")
	st, out, _ = do("GET", "/_matrix/client/v3/sync", "not-a-token", "")
	want(st, out, 401, "M_UNKNOWN_TOKEN")
	st, out, _ = do("GET", "/_matrix/client/v3/sync", "", "")
	want(st, out, 401, "M_MISSING_TOKEN")
	st, out, _ = do("POST", "/_matrix/client/v3/login", "", "not json")
	want(st, out, 400, "M_NOT_JSON")
	st, out, _ = do("POST", "/_matrix/client/v3/login", "", `{"type":"m.login.password","user":7}`)
	want(st, out, 400, "M_BAD_JSON")
	st, out, _ = do("POST", "/_matrix/client/v3/login", "", `{"type":"m.login.password","user":"`+alice.Username+`","password":"wrong password!"}`)
	want(st, out, 403, "M_FORBIDDEN")
	// js-sdk's form: the deprecated top-level user, as a full id.
	st, out, _ = do("POST", "/_matrix/client/v3/login", "", `{"type":"m.login.password","user":"`+alice.UserID+`","password":"correct horse battery"}`)
	want(st, out, 200, "")
	tok, _ := out["access_token"].(string)
	st, out, _ = do("GET", "/_matrix/client/versions", tok, "")
	want(st, out, 200, "")
	st, out, _ = do("GET", "/_matrix/client/v3/pushrules/", tok, "")
	want(st, out, 200, "")
	// js-sdk encodes the user id in the path.
	enc := strings.NewReplacer("@", "%40", ":", "%3A").Replace(alice.UserID)
	st, out, _ = do("POST", "/_matrix/client/v3/user/"+enc+"/filter", tok, `{"room":{"timeline":{"limit":3}}}`)
	want(st, out, 200, "")
	fid, _ := out["filter_id"].(string)
	st, out, _ = do("GET", "/_matrix/client/v3/user/"+enc+"/filter/"+fid, tok, "")
	if st != 200 || out["room"] == nil {
		t.Fatalf("stored filter: %d %v", st, out)
	}
	st, out, _ = do("GET", "/_matrix/client/v3/user/"+enc+"/filter/nope", tok, "")
	want(st, out, 404, "M_NOT_FOUND")
	st, out, _ = do("POST", "/_matrix/client/v3/user/%40someone%3Alocalhost/filter", tok, `{}`)
	want(st, out, 403, "M_FORBIDDEN")
	st, out, _ = do("GET", `/_matrix/client/v3/sync?filter=%7B%22room%22%3A%7B%22timeline%22%3A%7B%22limit%22%3A30%7D%7D%7D&timeout=0`, tok, "")
	if st != 200 || out["next_batch"] == "" {
		t.Fatalf("sync with an inline filter: %d %v", st, out)
	}
	st, out, _ = do("GET", "/_matrix/client/v3/sync?since=garbage", tok, "")
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("POST", "/_matrix/client/v3/createRoom", tok, `{"invite":[]}`)
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("PUT", "/_matrix/client/v3/rooms/%21nope%3Alocalhost/send/m.room.message/t1", tok, `{"msgtype":"m.text","body":"x"}`)
	want(st, out, 403, "M_FORBIDDEN")

	// Bad input inside a real DM.
	_, bob := newUser(t, n, "mxrawb")
	st, out, _ = do("POST", "/_matrix/client/v3/login", "", `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"`+bob.Username+`"},"password":"correct horse battery"}`)
	want(st, out, 200, "")
	btok, _ := out["access_token"].(string)
	st, out, _ = do("POST", "/_matrix/client/v3/createRoom", tok, `{"invite":["`+bob.UserID+`"],"is_direct":true}`)
	want(st, out, 200, "")
	room := strings.NewReplacer("!", "%21", ":", "%3A").Replace(out["room_id"].(string))
	rp := "/_matrix/client/v3/rooms/" + room
	st, out, _ = do("PUT", rp+"/send/m.room.message/b1", btok, `{"msgtype":"m.text","body":"before joining"}`)
	want(st, out, 403, "M_FORBIDDEN")
	st, out, _ = do("PUT", rp+"/send/m.room.message/i1", tok, `{"msgtype":"m.image","body":"x.png","url":"mxc://x/y"}`)
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("PUT", rp+"/send/m.reaction/r1", tok, `{}`)
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("PUT", rp+"/send/m.room.message/"+strings.Repeat("x", 101), tok, `{"msgtype":"m.text","body":"x"}`)
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("PUT", rp+"/send/m.room.message/big", tok, `{"msgtype":"m.text","body":"`+strings.Repeat("a", 16385)+`"}`)
	want(st, out, 413, "M_TOO_LARGE")
	st, out, _ = do("PUT", rp+"/send/m.room.message/num", tok, `{"msgtype":"m.text","body":5}`)
	want(st, out, 400, "M_BAD_JSON")
	st, out, _ = do("GET", rp+"/messages", tok, "")
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("GET", rp+"/messages?dir=b&limit=-1", tok, "")
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("POST", rp+"/receipt/m.read/$nope", tok, `{}`)
	want(st, out, 404, "M_NOT_FOUND")
	st, out, _ = do("PUT", rp+"/typing/"+strings.NewReplacer("@", "%40", ":", "%3A").Replace(bob.UserID), tok, `{"typing":true}`)
	want(st, out, 403, "M_FORBIDDEN")
	st, out, _ = do("PUT", "/_matrix/client/v3/user/"+enc+"/account_data/m.push_rules", tok, `{}`)
	want(st, out, 400, "M_INVALID_PARAM")
	st, out, _ = do("GET", "/_matrix/client/v3/user/"+enc+"/account_data/m.direct", tok, "")
	want(st, out, 404, "M_NOT_FOUND")
	st, out, _ = do("POST", "/_matrix/client/v3/join/%23alias%3Alocalhost", btok, `{}`)
	want(st, out, 404, "M_NOT_FOUND")
	st, out, _ = do("POST", "/_matrix/client/v3/join/"+room, btok, "")
	want(st, out, 200, "")
	st, out, _ = do("PUT", rp+"/send/m.room.message/b1", btok, `{"msgtype":"m.text","body":"after joining"}`)
	want(st, out, 200, "")

	st, out, _ = do("GET", "/.well-known/matrix/client", "", "")
	if st != 200 || out["m.homeserver"] == nil {
		t.Fatalf("well-known %d %v", st, out)
	}
}

// TestMatrixCluster is the story on two nodes sharing redis-server and the
// MongoDB wire server, alice on one and bob on the other: sync positions,
// long-poll wake-ups, txnId retries and logout all hold across nodes.
func TestMatrixCluster(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := ctxT(t)
	_, alice := newUser(t, n1, "mxca")
	_, bob := newUser(t, n2, "mxcb")
	a := mxLoginAt(t, n1.URL(), alice.Username)
	b := mxLoginAt(t, n2.URL(), bob.Username)
	a.startSync(t)
	b.startSync(t)

	created, err := a.CreateRoom(ctx, &mautrix.ReqCreateRoom{Invite: []id.UserID{id.UserID(bob.UserID)}, IsDirect: true, Preset: "trusted_private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	if !testenv.Poll(15*time.Second, func() bool { r := b.invitedTo(); return len(r) > 0 && r[0] == room }) {
		t.Fatal("bob (node 2) never saw the invite made on node 1")
	}
	if _, err := b.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	first, err := a.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "n1 -> n2"}, mautrix.ReqSendEvent{TransactionID: "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	waitSaw(t, b, "n1 -> n2")
	if _, err := b.SendText(ctx, room, "n2 -> n1"); err != nil {
		t.Fatal(err)
	}
	waitSaw(t, a, "n2 -> n1")

	// Alice's token on the other node: the same device, so the same txnId
	// names the same event there too.
	a2, err := mautrix.NewClient(n2.URL(), a.UserID, a.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := a2.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "n1 -> n2"}, mautrix.ReqSendEvent{TransactionID: "c-1"})
	if err != nil || retry.EventID != first.EventID {
		t.Fatalf("retry on node 2: %v %v, want %v", retry, err, first.EventID)
	}
	if _, err := a2.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.syncDone:
		if !errors.Is(err, mautrix.MUnknownToken) {
			t.Fatalf("node 1 sync ended with %v, want M_UNKNOWN_TOKEN", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a logout on node 2 did not stop the sync on node 1")
	}
}

// TestMatrixJSSDK runs matrix/jstest/story.mjs (matrix-js-sdk 43 from npm,
// installed by `make deps` into a cache dir) against the real binary.
func TestMatrixJSSDK(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.MissingService(t, "node is not installed")
	}
	dir := os.Getenv("CRYPTTALK_MATRIX_JS_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "crypttalk", "matrix-js-sdk-43.0.0")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "matrix-js-sdk", "lib", "index.js")); err != nil {
		testenv.MissingService(t, "matrix-js-sdk is not in %s (run matrix/jstest/install.sh)", dir)
	}
	n := testenv.StartNode(t, testenv.NodeConfig{})
	_, alice := newUser(t, n, "jsalice")
	_, bob := newUser(t, n, "jsbob")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "../../matrix/jstest/story.mjs")
	cmd.Env = append(os.Environ(), "MX_BASE="+n.URL(), "MX_DIR="+dir, "MX_A="+alice.Username, "MX_B="+bob.UserID, "MX_PASS=correct horse battery")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "matrix-js-sdk story: ok") {
		t.Fatalf("js-sdk story: %v\n%s", err, out)
	}
}

// TestMatrixRateLimits: Crypt-Talk's limits answer a Matrix client with
// 429 M_LIMIT_EXCEEDED and retry_after_ms: logins per IP, and opening DMs,
// which counts like sending (else one client could invite everyone).
func TestMatrixRateLimits(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{
		"CRYPTTALK_RATELIMIT_LOGIN_PER_IP_COUNT=3", "CRYPTTALK_RATELIMIT_SEND_PER_USER_COUNT=2",
	}})
	_, u := newUser(t, n, "mxrl")
	var peers []string
	for range 3 {
		_, p := newUser(t, n, "mxrlp")
		peers = append(peers, p.UserID)
	}
	post := func(path, tok, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", n.URL()+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		return resp.StatusCode, out
	}
	limited := func(status int, out map[string]any) bool {
		ms, _ := out["retry_after_ms"].(float64)
		return status == 429 && out["errcode"] == "M_LIMIT_EXCEEDED" && ms > 0
	}
	login := `{"type":"m.login.password","identifier":{"type":"m.id.user","user":"` + u.Username + `"},"password":"correct horse battery"}`
	st, out := post("/_matrix/client/v3/login", "", login)
	tok, _ := out["access_token"].(string)
	if st != 200 || tok == "" {
		t.Fatalf("login: %d %v", st, out)
	}
	for i, p := range peers {
		st, out = post("/_matrix/client/v3/createRoom", tok, `{"invite":["`+p+`"],"is_direct":true}`)
		if i < 2 && st != 200 {
			t.Fatalf("createRoom %d: %d %v", i, st, out)
		}
	}
	if !limited(st, out) {
		t.Fatalf("third createRoom: %d %v", st, out)
	}
	for range 3 {
		st, out = post("/_matrix/client/v3/login", "", login)
	}
	if !limited(st, out) {
		t.Fatalf("fourth login: %d %v", st, out)
	}
}
