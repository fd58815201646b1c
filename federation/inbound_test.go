package federation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/vault"
)

// inbound is b.example receiving from a.example, whose key it knows.
type inbound struct {
	b    *testServer
	aKey *vault.SigningKey
}

func newInbound(t *testing.T, tune func(*Options)) *inbound {
	t.Helper()
	b := startServer(t, "b.example", map[string]string{}, tune)
	aKey := newKey(t, "a1")
	ks := &StaticKeys{}
	ks.Add("a.example", aKey.ID(), VerifyKey{Key: aKey.Public()})
	b.node.verifier.Keys = ks
	return &inbound{b: b, aKey: aKey}
}

type answer struct {
	status int
	body   map[string]any
	header http.Header
}

// do sends a request signed as origin for destination with key.
func (in *inbound) do(t *testing.T, key *vault.SigningKey, origin, dest, method, uri string, body []byte) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, in.b.url+uri, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		h, err := SignRequest(key, Request{Method: method, URI: uri, Origin: origin, Destination: dest, Content: body})
		if err != nil {
			// Bodies the signer refuses (not canonical) are signed without content.
			h, _ = SignRequest(key, Request{Method: method, URI: uri, Origin: origin, Destination: dest})
		}
		req.Header.Set("Authorization", h)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %s", method, uri, b)
	}
	return a
}

func (in *inbound) send(t *testing.T, txnID string, body []byte) answer {
	return in.do(t, in.aKey, "a.example", "b.example", http.MethodPut, "/_crypttalk/federation/v1/send/"+txnID, body)
}

func (in *inbound) event(t *testing.T, body string) *Event {
	t.Helper()
	e, err := SignEvent(in.aKey, NewEvent{Type: "ct.message", Sender: "@alice:a.example", Recipient: "@bob:b.example",
		Time: time.Now(), Content: json.RawMessage(body)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func txn(t *testing.T, origin string, events ...*Event) []byte {
	t.Helper()
	b, err := BuildTransaction(origin, time.Now(), events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawTxn wraps raw event JSON in an envelope of a.example.
func rawTxn(events ...string) []byte {
	return []byte(`{"origin":"a.example","origin_server_ts":` + itoa(int(time.Now().UnixMilli())) + `,"events":[` + strings.Join(events, ",") + `]}`)
}

func TestInboundTransaction(t *testing.T) {
	t.Parallel()
	in := newInbound(t, nil)
	e1, e2 := in.event(t, `{"n":1}`), in.event(t, `{"n":2}`)
	a := in.send(t, "t1", txn(t, "a.example", e1, e2))
	if a.status != 200 {
		t.Fatalf("status %d %v", a.status, a.body)
	}
	res := a.body["results"].(map[string]any)
	if len(res) != 2 || res[e1.EventID] == nil || len(res[e1.EventID].(map[string]any)) != 0 {
		t.Fatalf("results %v", a.body)
	}
	got := in.b.chat.events()
	if len(got) != 2 || got[0].EventID != e1.EventID || got[1].EventID != e2.EventID || got[0].Sender != "@alice:a.example" ||
		got[0].Origin != "a.example" || string(got[0].Content) != `{"n":1}` || got[0].ConversationID != DMConversationID("@alice:a.example", "@bob:b.example") {
		t.Fatalf("chat got %+v", got)
	}

	// A retransmission (here even with other content) gets the original
	// result; nothing reaches chat again; the result is stored once.
	e3 := in.event(t, `{"n":3}`)
	again := in.send(t, "t1", txn(t, "a.example", e3))
	if again.status != 200 || len(again.body["results"].(map[string]any)) != 2 {
		t.Fatalf("replay answered %d %v", again.status, again.body)
	}
	if n := in.b.chat.receiveCalls(); n != 2 {
		t.Fatalf("chat called %d times, want 2", n)
	}
	if n := in.b.queue.storedTxns(); n != 1 {
		t.Fatalf("%d transaction results stored, want 1", n)
	}
	// The same events in a new transaction: chat's idempotency by event id.
	if a := in.send(t, "t2", txn(t, "a.example", e1, e2)); a.status != 200 || len(in.b.chat.events()) != 2 {
		t.Fatalf("re-sent events: %d, chat has %d", a.status, len(in.b.chat.events()))
	}
}

func TestInboundChatRefusalsArePerEvent(t *testing.T) {
	t.Parallel()
	in := newInbound(t, nil)
	in.b.chat.setRefuse(chat.NotFound("unknown user"))
	e := in.event(t, `{"n":1}`)
	a := in.send(t, "t1", txn(t, "a.example", e))
	r, _ := a.body["results"].(map[string]any)[e.EventID].(map[string]any)
	if a.status != 200 || r["errcode"] != chat.CodeNotFound {
		t.Fatalf("answered %d %v", a.status, a.body)
	}
	// A limit of chat's is not the event's fault: 429 for the whole
	// transaction, not recorded, so the sender comes back.
	in.b.chat.setRefuse(chat.RateLimited(3 * time.Second))
	if a := in.send(t, "t3", txn(t, "a.example", e)); a.status != 429 || a.header.Get("Retry-After") != "3" {
		t.Fatalf("chat rate limit answered %d %v", a.status, a.body)
	}
	// Our own trouble (store down) is a 503, not recorded: the sender retries.
	in.b.chat.setRefuse(errors.New("store: connection refused"))
	if a := in.send(t, "t2", txn(t, "a.example", e)); a.status != 503 || a.body["errcode"] != chat.CodeUnavailable {
		t.Fatalf("store failure answered %d %v", a.status, a.body)
	}
	if n := in.b.queue.storedTxns(); n != 1 {
		t.Fatalf("%d results stored, want 1 (t1 only)", n)
	}
}

// TestInboundRefusals: each refusal has its status and errcode, and
// nothing reaches chat or the transaction store.
func TestInboundRefusals(t *testing.T) {
	t.Parallel()
	in := newInbound(t, nil)
	stranger := newKey(t, "a1") // same key id, another key: a forgery
	now := time.Now()
	good := in.event(t, `{"n":1}`)
	forged, err := SignEvent(stranger, NewEvent{Type: "ct.message", Sender: "@alice:a.example", Recipient: "@bob:b.example", Time: now, Content: map[string]any{"n": 1}})
	if err != nil {
		t.Fatal(err)
	}
	notOfOrigin := forge(t, with(with(baseFields(now), "sender", "@carol:c.example"), "conversation_id",
		DMConversationID("@carol:c.example", "@bob:b.example")), in.aKey, "a.example")
	notLocal := forge(t, with(with(baseFields(now), "recipient", "@dave:d.example"), "conversation_id",
		DMConversationID("@alice:a.example", "@dave:d.example")), in.aKey, "a.example")
	huge := forge(t, with(baseFields(now), "content", map[string]any{"body": strings.Repeat("x", MaxEventSize)}), in.aKey, "a.example")
	otherOrigin := []byte(`{"origin":"c.example","origin_server_ts":1,"events":[]}`)

	cases := []struct {
		name              string
		key               *vault.SigningKey
		origin, dest, txn string
		body              []byte
		status            int
		code              string
	}{
		{"forged event signature", in.aKey, "a.example", "b.example", "f1", txn(t, "a.example", forged), 403, "CT_FORBIDDEN"},
		{"forged request signature", stranger, "a.example", "b.example", "f2", txn(t, "a.example", good), 401, "CT_UNAUTHORIZED"},
		{"no authorization", nil, "", "", "f3", txn(t, "a.example", good), 401, "CT_UNAUTHORIZED"},
		{"wrong origin (envelope)", in.aKey, "a.example", "b.example", "f4", otherOrigin, 403, "CT_FORBIDDEN"},
		{"wrong origin (unknown server)", in.aKey, "c.example", "b.example", "f5", txn(t, "a.example", good), 401, "CT_UNAUTHORIZED"},
		{"wrong destination", in.aKey, "a.example", "c.example", "f6", txn(t, "a.example", good), 401, "CT_UNAUTHORIZED"},
		{"oversized event", in.aKey, "a.example", "b.example", "f7", rawTxn(string(huge)), 413, "CT_TOO_LARGE"},
		{"sender not of the origin", in.aKey, "a.example", "b.example", "f8", rawTxn(string(notOfOrigin)), 403, "CT_FORBIDDEN"},
		{"recipient not local", in.aKey, "a.example", "b.example", "f9", rawTxn(string(notLocal)), 403, "CT_FORBIDDEN"},
		{"float", in.aKey, "a.example", "b.example", "f10", []byte(`{"origin":"a.example","origin_server_ts":1.5,"events":[]}`), 400, "CT_BAD_JSON"},
		{"2^53", in.aKey, "a.example", "b.example", "f11", []byte(`{"origin":"a.example","origin_server_ts":9007199254740992,"events":[]}`), 400, "CT_BAD_JSON"},
		{"duplicate key", in.aKey, "a.example", "b.example", "f12", []byte(`{"origin":"a.example","origin":"a.example","origin_server_ts":1,"events":[]}`), 400, "CT_BAD_JSON"},
		{"not JSON", in.aKey, "a.example", "b.example", "f13", []byte(`{"origin":`), 400, "CT_BAD_JSON"},
		{"bad event in good envelope", in.aKey, "a.example", "b.example", "f14", rawTxn(string(good.Raw), `{"type":1}`), 400, "CT_INVALID"},
		{"bad txn id", in.aKey, "a.example", "b.example", "a%20b", txn(t, "a.example", good), 400, "CT_INVALID"},
	}
	for _, c := range cases {
		a := in.do(t, c.key, c.origin, c.dest, http.MethodPut, "/_crypttalk/federation/v1/send/"+c.txn, c.body)
		if a.status != c.status || a.body["errcode"] != c.code || a.body["status"] != false || a.body["msg"] == "" {
			t.Errorf("%s: answered %d %v, want %d %s", c.name, a.status, a.body, c.status, c.code)
		}
	}
	// A body announced over the limit is refused before it is read (the
	// server does not wait for megabytes it will not use).
	conn, err := net.Dial("tcp", strings.TrimPrefix(in.b.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitLimit))
	_, _ = io.WriteString(conn, "PUT /_crypttalk/federation/v1/send/f15 HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: "+
		itoa(MaxTransactionBody+1)+"\r\n\r\n"+strings.Repeat(" ", 16<<10)) // past what fasthttp reads before the handler
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 413 {
		t.Fatalf("body over the limit: %v %v", resp, err)
	}
	if n := in.b.chat.receiveCalls(); n != 0 {
		t.Fatalf("chat called %d times by refused transactions", n)
	}
	if n := in.b.queue.storedTxns(); n != 0 {
		t.Fatalf("%d refused transactions stored", n)
	}
}

func TestInboundRateLimitAndLists(t *testing.T) {
	t.Parallel()
	lim := &fakeLimiter{}
	in := newInbound(t, func(o *Options) { o.Limiter = lim; o.Config.DenyServers = []string{"*.evil.example"} })
	a := in.send(t, "t1", txn(t, "a.example", in.event(t, `{}`)))
	if a.status != 429 || a.body["errcode"] != chat.CodeRateLimited || a.header.Get("Retry-After") != "7" {
		t.Fatalf("limited: %d %v %v", a.status, a.body, a.header)
	}
	lim.ok = true
	if a := in.send(t, "t1", txn(t, "a.example", in.event(t, `{}`))); a.status != 200 {
		t.Fatalf("allowed: %d %v", a.status, a.body)
	}

	evilKey := newKey(t, "e")
	in.b.node.verifier.Keys.(*StaticKeys).Add("x.evil.example", evilKey.ID(), VerifyKey{Key: evilKey.Public()})
	ev, _ := SignEvent(evilKey, NewEvent{Type: "ct.message", Sender: "@e:x.evil.example", Recipient: "@bob:b.example", Time: time.Now(), Content: map[string]any{}})
	if a := in.do(t, evilKey, "x.evil.example", "b.example", http.MethodPut, "/_crypttalk/federation/v1/send/t1", txn(t, "x.evil.example", ev)); a.status != 403 {
		t.Fatalf("denied server answered %d %v", a.status, a.body)
	}
}

func TestInboundProfileAndKeys(t *testing.T) {
	t.Parallel()
	in := newInbound(t, nil)
	in.b.chat.profiles["@bob:b.example"] = chat.ProfileView{UserID: "@bob:b.example", Username: "bob"}
	uri := "/_crypttalk/federation/v1/query/profile?user_id=%40bob%3Ab.example"
	if a := in.do(t, in.aKey, "a.example", "b.example", http.MethodGet, uri, nil); a.status != 200 || a.body["username"] != "bob" {
		t.Fatalf("profile: %d %v", a.status, a.body)
	}
	for name, c := range map[string]struct {
		uri    string
		key    *vault.SigningKey
		status int
	}{
		"unknown":     {"/_crypttalk/federation/v1/query/profile?user_id=%40nobody%3Ab.example", in.aKey, 404},
		"not local":   {"/_crypttalk/federation/v1/query/profile?user_id=%40x%3Ac.example", in.aKey, 404},
		"missing":     {"/_crypttalk/federation/v1/query/profile", in.aKey, 404},
		"unsigned":    {uri, nil, 401},
		"query moved": {uri + "&x=1", nil, 401},
	} {
		if a := in.do(t, c.key, "a.example", "b.example", http.MethodGet, c.uri, nil); a.status != c.status {
			t.Errorf("%s: %d %v, want %d", name, a.status, a.body, c.status)
		}
	}
	// The signature covers the query: a request re-pointed at another user fails.
	req, _ := http.NewRequest(http.MethodGet, in.b.url+uri+"x", nil)
	h, _ := SignRequest(in.aKey, Request{Method: "GET", URI: uri, Origin: "a.example", Destination: "b.example"})
	req.Header.Set("Authorization", h)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("re-pointed request: %v %v", resp, err)
	}

	resp, err := http.Get(in.b.url + PathKeys)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	doc, err := ParseServerKeys(raw, "b.example")
	if err != nil || doc.VerifyKeys[in.b.key.ID()] == nil || time.Until(time.UnixMilli(doc.ValidUntilTS)) < time.Hour {
		t.Fatalf("key document %s: %v", raw, err)
	}
}
