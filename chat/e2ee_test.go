package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
)

func deviceKeys(p *chat.Principal, ed string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"user_id":%q,"device_id":%q,"algorithms":["m.olm.v1.curve25519-aes-sha2"],"keys":{"ed25519:%s":%q,"curve25519:%s":"c-%s"}}`,
		p.User.UserID, p.DeviceID, p.DeviceID, ed, p.DeviceID, ed))
}

func wantErrcode(t *testing.T, err error, code string, what string) {
	t.Helper()
	if err == nil || chat.AsError(err).Code != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func TestE2EEKeysUploadQueryClaim(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.users["alice"], e.users["bob"]
	e.send(t, "alice", "bob", "hi") // they share a conversation
	bobEvents := e.events(t, "bob")
	counts, err := e.svc.UploadKeys(ctx, a, chat.UploadKeysRequest{
		DeviceKeys:   deviceKeys(a, "ed-a"),
		OneTimeKeys:  map[string]json.RawMessage{"signed_curve25519:1": json.RawMessage(`{"key":"k1"}`), "signed_curve25519:2": json.RawMessage(`{"key":"k2"}`)},
		FallbackKeys: map[string]json.RawMessage{"signed_curve25519:F": json.RawMessage(`{"key":"f","fallback":true}`)},
	})
	if err != nil || counts["signed_curve25519"] != 2 {
		t.Fatalf("upload: %v %v", counts, err)
	}
	if !eventually(bobEvents, chat.EventDeviceList) {
		t.Fatal("bob was not told that alice's device list changed")
	}
	_, err = e.svc.UploadKeys(ctx, a, chat.UploadKeysRequest{DeviceKeys: deviceKeys(a, "ed-evil")})
	wantErrcode(t, err, chat.CodeInvalid, "changed identity key")
	_, err = e.svc.UploadKeys(ctx, a, chat.UploadKeysRequest{DeviceKeys: deviceKeys(b, "ed-b")})
	wantErrcode(t, err, chat.CodeInvalid, "keys of another user's device")
	_, err = e.svc.UploadKeys(ctx, a, chat.UploadKeysRequest{OneTimeKeys: map[string]json.RawMessage{"no colon": json.RawMessage(`"x"`)}})
	wantErrcode(t, err, chat.CodeInvalid, "bad key id")

	q, err := e.svc.QueryKeys(ctx, b, map[string][]string{a.User.UserID: nil, "@x:elsewhere": nil})
	if err != nil || q.DeviceKeys[a.User.UserID][a.DeviceID] == nil || q.Failures["elsewhere"] == nil {
		t.Fatalf("query: %+v, %v", q, err)
	}
	got := map[string]bool{}
	for range 3 {
		c, _, err := e.svc.ClaimKeys(ctx, b, map[string]map[string]string{a.User.UserID: {a.DeviceID: "signed_curve25519"}})
		if err != nil {
			t.Fatal(err)
		}
		for id := range c[a.User.UserID][a.DeviceID] {
			got[id] = true
		}
	}
	if !got["signed_curve25519:1"] || !got["signed_curve25519:2"] || !got["signed_curve25519:F"] || len(got) != 3 {
		t.Fatalf("claims handed out %v: two one-time keys, then the fallback", got)
	}
	_, fb, err := e.svc.KeyCounts(ctx, a)
	if err != nil || len(fb) != 0 {
		t.Fatalf("fallback still unused after a claim: %v %v", fb, err)
	}
	changed, fresh, err := e.svc.DeviceListChanges(ctx, b, e.clk.Now().Add(-time.Minute), time.Time{})
	if err != nil || !fresh || !contains(changed, a.User.UserID) {
		t.Fatalf("bob's device list changes: %v %v %v", changed, fresh, err)
	}
	// Logout deletes the device, and with it its keys.
	if err := e.svc.Logout(ctx, a); err != nil {
		t.Fatal(err)
	}
	q, err = e.svc.QueryKeys(ctx, b, map[string][]string{a.User.UserID: nil})
	if err != nil || len(q.DeviceKeys[a.User.UserID]) != 0 {
		t.Fatalf("keys of a logged-out device still served: %+v %v", q.DeviceKeys, err)
	}
}

func TestE2EEToDevice(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.users["alice"], e.users["bob"]
	if _, err := e.svc.UploadKeys(ctx, b, chat.UploadKeysRequest{DeviceKeys: deviceKeys(b, "ed-b")}); err != nil {
		t.Fatal(err)
	}
	msg := map[string]map[string]json.RawMessage{b.User.UserID: {"*": json.RawMessage(`{"ciphertext":"x"}`)}}
	for range 2 { // a retried transaction is stored once
		if err := e.svc.SendToDevice(ctx, a, "m.room.encrypted", "txn1", msg); err != nil {
			t.Fatal(err)
		}
	}
	evs, batch, err := e.svc.TakeToDevice(ctx, b, 0)
	if err != nil || len(evs) != 1 || evs[0].Sender != a.User.UserID || string(evs[0].Content) != `{"ciphertext":"x"}` {
		t.Fatalf("take: %+v %v", evs, err)
	}
	// Not acknowledged (the client came back with the old token): again.
	if evs, _, _ := e.svc.TakeToDevice(ctx, b, 0); len(evs) != 1 {
		t.Fatalf("unacknowledged message not handed out again: %+v", evs)
	}
	evs, next, err := e.svc.TakeToDevice(ctx, b, batch)
	if err != nil || len(evs) != 0 || next != batch {
		t.Fatalf("after the ack: %+v %d %v", evs, next, err)
	}
	err = e.svc.SendToDevice(ctx, a, "", "t", msg)
	wantErrcode(t, err, chat.CodeInvalid, "no event type")
	// At rest the content is sealed, as message bodies are.
	secret := map[string]map[string]json.RawMessage{b.User.UserID: {b.DeviceID: json.RawMessage(`{"code":"TODEVICE-SECRET"}`)}}
	if err := e.svc.SendToDevice(ctx, a, "m.key.verification.start", "txn2", secret); err != nil {
		t.Fatal(err)
	}
	raw, err := e.st.TakeToDevice(ctx, b.User.UserID, b.DeviceID, 0, 1, 10)
	if err != nil || len(raw) != 1 || bytes.Contains(raw[0].Content, []byte("TODEVICE-SECRET")) {
		t.Fatalf("stored to-device content %+v %v", raw, err)
	}
	if evs, _, err := e.svc.TakeToDevice(ctx, b, 0); err != nil || len(evs) != 1 || string(evs[0].Content) != `{"code":"TODEVICE-SECRET"}` {
		t.Fatalf("opened to-device content %+v %v", evs, err)
	}
}

func TestE2EEConversationRefusesPlaintext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.users["alice"], e.users["bob"]
	first := e.send(t, "alice", "bob", "before")
	if err := e.svc.EnableE2EE(ctx, a, first.ConversationID, "m.olm.v1"); chat.AsError(err).Code != chat.CodeInvalid {
		t.Fatalf("unknown algorithm: %v", err)
	}
	if err := e.svc.EnableE2EE(ctx, e.users["eve"], first.ConversationID, chat.MegolmAlgorithm); err == nil {
		t.Fatal("a stranger turned encryption on")
	}
	for range 2 {
		if err := e.svc.EnableE2EE(ctx, b, first.ConversationID, chat.MegolmAlgorithm); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.Send(ctx, a, chat.SendRequest{To: b.User.UserID, Text: "plain"})
	wantErrcode(t, err, chat.CodeE2EERequired, "plaintext into an E2EE conversation")
	_, err = e.svc.Send(ctx, b, chat.SendRequest{To: a.User.UserID, Text: "plain", TxnID: "t1"})
	wantErrcode(t, err, chat.CodeE2EERequired, "plaintext with a txn id")
	_, err = e.svc.SendEncrypted(ctx, a, chat.EncryptedRequest{To: b.User.UserID, Content: json.RawMessage(`{"body":"no ciphertext"}`)})
	wantErrcode(t, err, chat.CodeInvalid, "encrypted event without ciphertext")
	_, err = e.svc.SendEncrypted(ctx, a, chat.EncryptedRequest{To: b.User.UserID, Content: json.RawMessage("{\"algorithm\":\"x\",\"ciphertext\":\"\xff\"}")})
	wantErrcode(t, err, chat.CodeInvalid, "encrypted event that is not UTF-8")
	big := json.RawMessage(fmt.Sprintf(`{"algorithm":%q,"ciphertext":%q}`, chat.MegolmAlgorithm, make([]byte, chat.EncryptedBytes)))
	_, err = e.svc.SendEncrypted(ctx, a, chat.EncryptedRequest{To: b.User.UserID, Content: big})
	wantErrcode(t, err, chat.CodeTooLarge, "ciphertext over the limit")
	content := json.RawMessage(`{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"AwgAEn","session_id":"s","sender_key":"k","device_id":"D"}`)
	v, err := e.svc.SendEncrypted(ctx, a, chat.EncryptedRequest{To: b.User.UserID, Content: content, TxnID: "e1"})
	if err != nil || v.Type != store.TypeEncrypted || v.Message != string(content) {
		t.Fatalf("encrypted send: %+v %v", v, err)
	}
	again, err := e.svc.SendEncrypted(ctx, a, chat.EncryptedRequest{To: b.User.UserID, Content: content, TxnID: "e1"})
	if err != nil || again.ID != v.ID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	h := e.history(t, "bob", "alice")
	var got []string
	for _, m := range h {
		got = append(got, m.Type+":"+m.Message)
	}
	if len(got) != 3 || got[0] != "text:before" || got[1] != "system:"+chat.E2EEOnText || got[2] != "encrypted:"+string(content) {
		t.Fatalf("history %q", got)
	}
	conv, err := e.svc.RoomOf(ctx, b, first.ConversationID)
	if err != nil || !conv.E2EE {
		t.Fatalf("flag not kept: %+v %v", conv, err)
	}
	// Files and voice messages are plaintext to the server: refused too.
	pf, err := e.svc.ReceiveFile(ctx, a, "voice", "n.wav", bytes.NewReader(wavBytes(100)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.CompleteUpload(ctx, a, pf, chat.UploadFields{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.AnnounceFile(ctx, a, b.User.UserID, res.FileID)
	wantErrcode(t, err, chat.CodeE2EERequired, "a voice message into an E2EE conversation")
}

func TestE2EEDeviceWithoutKeysIsNoListChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a, eve := e.users["alice"], e.users["eve"]
	e.send(t, "alice", "eve", "hi")
	if err := e.svc.Logout(ctx, eve); err != nil {
		t.Fatal(err)
	}
	changed, _, err := e.svc.DeviceListChanges(ctx, a, e.clk.Now().Add(-time.Hour), time.Time{})
	if err != nil || len(changed) != 0 {
		t.Fatalf("a device that never had keys changed the lists: %v %v", changed, err)
	}
}

// TestE2EEClaimRateLimit: claim requests count against the send limit in
// their own bucket, so messages are not what runs it out.
func TestE2EEClaimRateLimit(t *testing.T) {
	t.Parallel()
	opts := chat.Options{ServerName: "x", BcryptCost: 4, SendPerUser: 3, SendWindow: time.Hour}
	e := newEnvWith(t, opts, local.NewLimiter(nil))
	ctx := context.Background()
	a, b := e.users["alice"], e.users["bob"]
	e.send(t, "bob", "alice", "a message does not use up claims")
	want := map[string]map[string]string{a.User.UserID: {a.DeviceID: "signed_curve25519"}}
	for range 3 {
		if _, _, err := e.svc.ClaimKeys(ctx, b, want); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := e.svc.ClaimKeys(ctx, b, want)
	if e := chat.AsError(err); e.Status != 429 || e.RetryAfter <= 0 {
		t.Fatalf("fourth claim: %v, want 429", err)
	}
	if _, _, err := e.svc.ClaimKeys(ctx, a, want); err != nil {
		t.Fatalf("another user's claim: %v", err)
	}
}
