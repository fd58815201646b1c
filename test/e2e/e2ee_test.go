//go:build goolm

package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/crypto/goolm/account"
	"maunium.net/go/mautrix/crypto/signatures"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/crypttalk/crypttalk/internal/testenv"
)

// This file needs -tags goolm: mautrix-go's crypto is then pure Go
// (goolm) instead of libolm over cgo. `make test` passes the tag.

// e2eeDevice is one Matrix device with mautrix-go's OlmMachine (memory
// stores): it uploads keys, syncs by hand and decrypts what it sees.
type e2eeDevice struct {
	cli   *mautrix.Client
	mach  *crypto.OlmMachine
	state *mautrix.MemoryStateStore
	since string

	mu        sync.Mutex
	plain     []string // decrypted bodies
	undecrypt int      // encrypted events it could not decrypt
	toDevice  int      // test to-device events (testToDeviceType) received
	// fallbackTypes is the last sync's device_unused_fallback_key_types.
	fallbackTypes []id.KeyAlgorithm
}

func newE2EEDevice(t *testing.T, n *testenv.Node, user string) *e2eeDevice {
	t.Helper()
	m := mxLogin(t, n, user)
	d := &e2eeDevice{cli: m.Client, state: mautrix.NewMemoryStateStore().(*mautrix.MemoryStateStore)}
	log := zerolog.Nop()
	d.mach = crypto.NewOlmMachine(d.cli, &log, crypto.NewMemoryStore(nil), d.state)
	ctx := ctxT(t)
	if err := d.mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("%s uploads keys: %v", user, err)
	}
	return d
}

// knowRoom tells the device's state store about the encrypted DM (what
// mautrix's sync loop would record from state events).
func (d *e2eeDevice) knowRoom(t *testing.T, room id.RoomID, members ...id.UserID) {
	ctx := ctxT(t)
	if err := d.state.SetEncryptionEvent(ctx, room, &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}); err != nil {
		t.Fatal(err)
	}
	for _, u := range members {
		if err := d.state.SetMembership(ctx, room, u, event.MembershipJoin); err != nil {
			t.Fatal(err)
		}
	}
}

// sync runs one /sync, hands it to the OlmMachine and decrypts the
// encrypted timeline events. It reports whether the room was encrypted in
// the sync's state or timeline.
func (d *e2eeDevice) sync(t *testing.T) (sawEncryptionState bool) {
	t.Helper()
	ctx := ctxT(t)
	resp, err := d.cli.SyncRequest(ctx, 0, d.since, "", false, "")
	if err != nil {
		t.Fatalf("%s sync: %v", d.cli.DeviceID, err)
	}
	d.mach.ProcessSyncResponse(ctx, resp, d.since)
	d.since = resp.NextBatch
	d.mu.Lock()
	d.toDevice += testToDevice(resp)
	d.fallbackTypes = resp.FallbackKeys
	d.mu.Unlock()
	for room, jr := range resp.Rooms.Join {
		for _, evs := range [][]*event.Event{jr.State.Events, jr.Timeline.Events} {
			for _, ev := range evs {
				ev.RoomID = room
				switch ev.Type {
				case event.StateEncryption:
					sawEncryptionState = true
				case event.EventEncrypted:
					if err := ev.Content.ParseRaw(ev.Type); err != nil {
						t.Fatalf("encrypted event content: %v", err)
					}
					dec, err := d.mach.DecryptMegolmEvent(ctx, ev)
					d.mu.Lock()
					if err != nil {
						d.undecrypt++
					} else {
						_ = dec.Content.ParseRaw(dec.Type)
						d.plain = append(d.plain, dec.Content.AsMessage().Body)
					}
					d.mu.Unlock()
				}
			}
		}
	}
	return sawEncryptionState
}

func (d *e2eeDevice) has(text string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.plain {
		if p == text {
			return true
		}
	}
	return false
}

// waitPlain syncs until the device decrypted text.
func (d *e2eeDevice) waitPlain(t *testing.T, text string) {
	t.Helper()
	if !testenv.Poll(20*time.Second, func() bool { d.sync(t); return d.has(text) }) {
		t.Fatalf("%s never decrypted %q (undecryptable: %d)", d.cli.DeviceID, text, d.undecrypt)
	}
}

// sendEncrypted shares the room key with users' devices and sends text.
func (d *e2eeDevice) sendEncrypted(t *testing.T, room id.RoomID, text string, users ...id.UserID) id.EventID {
	t.Helper()
	ctx := ctxT(t)
	if err := d.mach.ShareGroupSession(ctx, room, users); err != nil {
		t.Fatalf("share group session: %v", err)
	}
	content, err := d.mach.EncryptMegolmEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: text})
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	resp, err := d.cli.SendMessageEvent(ctx, room, event.EventEncrypted, content)
	if err != nil {
		t.Fatalf("send encrypted: %v", err)
	}
	return resp.EventID
}

const testToDeviceType = "org.crypttalk.test"

func testToDevice(resp *mautrix.RespSync) int {
	n := 0
	for _, ev := range resp.ToDevice.Events {
		if ev.Type.Type == testToDeviceType {
			n++
		}
	}
	return n
}

// openE2EERoom has from open an encrypted DM with to's user (to joins)
// and gives every device its state and a first sync, which must show the
// room as encrypted.
func openE2EERoom(t *testing.T, from, to *e2eeDevice, all ...*e2eeDevice) id.RoomID {
	t.Helper()
	ctx := ctxT(t)
	created, err := from.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Invite: []id.UserID{to.cli.UserID}, IsDirect: true, Preset: "trusted_private_chat",
		InitialState: []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	room := created.RoomID
	if _, err := to.cli.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		d.knowRoom(t, room, from.cli.UserID, to.cli.UserID)
		if !d.sync(t) {
			t.Fatalf("%s: the room's first sync has no m.room.encryption", d.cli.DeviceID)
		}
	}
	return room
}

func mxErrcode(err error) string {
	var he mautrix.HTTPError
	if errors.As(err, &he) && he.RespError != nil {
		return he.RespError.ErrCode
	}
	return ""
}

// TestE2EEMautrixCrypto: two users with three devices of mautrix-go's
// crypto (goolm) against the real binary exchange Megolm messages both
// ways; plaintext into the E2EE room is refused over Matrix and REST; a
// device added later reads new messages but not old ones; a logged-out
// device's keys are gone; the data dir and the log hold no plaintext.
func TestE2EEMautrixCrypto(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	aliceREST, alice := newUser(t, n, "e2alice")
	bobREST, bob := newUser(t, n, "e2bob")
	const marker = "E2EE-PLAINTEXT-MARKER-51c2"

	a1 := newE2EEDevice(t, n, alice.Username)
	b1 := newE2EEDevice(t, n, bob.Username)
	b2 := newE2EEDevice(t, n, bob.Username)
	aliceID, bobID := id.UserID(alice.UserID), id.UserID(bob.UserID)

	room := openE2EERoom(t, a1, b1, a1, b1, b2)

	// Alice to both of Bob's devices, and Bob back to Alice (and his
	// other device).
	a1.sendEncrypted(t, room, marker+" one", aliceID, bobID)
	b1.waitPlain(t, marker+" one")
	b2.waitPlain(t, marker+" one")
	b1.sendEncrypted(t, room, marker+" two", aliceID, bobID)
	a1.waitPlain(t, marker+" two")
	b2.waitPlain(t, marker+" two")

	// No plaintext into the E2EE room: Matrix and REST alike.
	_, err := a1.cli.SendText(ctx, room, marker+" plain")
	if code := mxErrcode(err); code != "CT_E2EE_REQUIRED" {
		t.Fatalf("plaintext over Matrix: %v (errcode %q), want CT_E2EE_REQUIRED", err, code)
	}
	_, err = aliceREST.AddMsg(ctx, bob.UserID, marker+" plain", "")
	apiErr(t, err, 403, "CT_E2EE_REQUIRED")
	conn := connect(t, aliceREST, nil)
	_, err = conn.SendMsg(ctx, bob.UserID, marker+" plain", "")
	apiErr(t, err, 403, "CT_E2EE_REQUIRED")
	conn.Close()
	members, err := a1.cli.Members(ctx, room)
	if err != nil || len(members.Chunk) != 2 {
		t.Fatalf("members: %+v %v", members, err)
	}
	// The flag is one way: state can only be m.room.encryption.
	if _, err := a1.cli.SendStateEvent(ctx, room, event.StateTopic, "", map[string]any{"topic": "x"}); mxErrcode(err) != "M_FORBIDDEN" {
		t.Fatalf("other state: %v", err)
	}

	// A device added later gets what is sent after it, not before.
	b3 := newE2EEDevice(t, n, bob.Username)
	b3.knowRoom(t, room, aliceID, bobID)
	b3.sync(t)
	a1.sync(t) // device_lists.changed names bob: alice's next session includes b3
	a1.sendEncrypted(t, room, marker+" three", aliceID, bobID)
	b3.waitPlain(t, marker+" three")
	b1.waitPlain(t, marker+" three")
	if b3.has(marker+" one") || b3.has(marker+" two") {
		t.Fatal("a device added later decrypted messages sent before it existed")
	}
	if b3.undecrypt == 0 {
		t.Fatal("b3 saw no earlier encrypted events at all")
	}

	// Logout deletes a device's keys: nobody can claim or share to it.
	if _, err := b2.cli.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	q, err := a1.cli.QueryKeys(ctx, &mautrix.ReqQueryKeys{DeviceKeys: mautrix.DeviceKeysRequest{bobID: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := q.DeviceKeys[bobID][b2.cli.DeviceID]; ok || len(q.DeviceKeys[bobID]) != 2 {
		t.Fatalf("bob's devices after b2's logout: %v", keysOf(q.DeviceKeys[bobID]))
	}
	claim, err := a1.cli.ClaimKeys(ctx, &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{bobID: {b2.cli.DeviceID: id.KeyAlgorithmSignedCurve25519}}})
	if err != nil || len(claim.OneTimeKeys[bobID][b2.cli.DeviceID]) != 0 {
		t.Fatalf("claim on a logged-out device: %+v %v", claim, err)
	}

	// A to-device retry with the same transaction id is delivered once.
	msg := &mautrix.ReqSendToDevice{Messages: map[id.UserID]map[id.DeviceID]*event.Content{bobID: {b1.cli.DeviceID: {Raw: map[string]any{"n": 1, "note": marker + " to-device"}}}}}
	for range 2 {
		if _, err := a1.cli.SendToDevice(ctx, event.Type{Type: testToDeviceType, Class: event.ToDeviceEventType}, msg); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := a1.cli.MakeRequest(ctx, "PUT", a1.cli.BuildClientURL("v3", "sendToDevice", testToDeviceType, "fixed-txn"), msg, nil); err != nil {
			t.Fatal(err)
		}
	}
	b1.mu.Lock()
	before := b1.toDevice
	b1.mu.Unlock()
	b1.sync(t)
	b1.sync(t)
	b1.mu.Lock()
	got := b1.toDevice - before
	b1.mu.Unlock()
	if got != 3 {
		t.Fatalf("b1 got %d test to-device messages, want 3 (two sends with fresh txn ids, one retried)", got)
	}
	// An answer lost on the way: the device comes back with the same
	// since and gets the message again; the sync after that acknowledges it.
	if _, err := a1.cli.SendToDevice(ctx, event.Type{Type: testToDeviceType, Class: event.ToDeviceEventType}, msg); err != nil {
		t.Fatal(err)
	}
	lost, err := b1.cli.SyncRequest(ctx, 0, b1.since, "", false, "")
	if err != nil || testToDevice(lost) != 1 {
		t.Fatalf("first delivery: %v", err)
	}
	b1.sync(t)
	b1.sync(t)
	b1.mu.Lock()
	got = b1.toDevice - before
	b1.mu.Unlock()
	if got != 4 {
		t.Fatalf("after a lost answer b1 got %d test to-device messages in all, want 4 (redelivered once, then acknowledged)", got)
	}

	// One-time keys run out (claimed by someone while b1 is offline): the
	// fallback key keeps new Olm sessions coming.
	b1.uploadFallbackKey(t)
	b1.sync(t)
	if !slices.Contains(b1.fallbackTypes, id.KeyAlgorithmSignedCurve25519) {
		t.Fatalf("unused fallback key types after upload: %v", b1.fallbackTypes)
	}
	exhausted := false
	for i := 0; i < 120 && !exhausted; i++ {
		c, err := a1.cli.ClaimKeys(ctx, &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{bobID: {b1.cli.DeviceID: id.KeyAlgorithmSignedCurve25519}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range c.OneTimeKeys[bobID][b1.cli.DeviceID] {
			exhausted = k.Fallback
		}
	}
	if !exhausted {
		t.Fatal("120 claims never reached the fallback key")
	}
	bobSocket := connect(t, bobREST, nil)
	a2 := newE2EEDevice(t, n, alice.Username) // a new device needs new Olm sessions
	waitEvent(t, bobSocket, "device-list-changed", func(d json.RawMessage) bool { return strings.Contains(string(d), alice.UserID) })
	bobSocket.Close()
	a2.knowRoom(t, room, aliceID, bobID)
	a2.sync(t)
	a2.sendEncrypted(t, room, marker+" four", aliceID, bobID)
	b1.waitPlain(t, marker+" four")
	b3.waitPlain(t, marker+" four")
	if slices.Contains(b1.fallbackTypes, id.KeyAlgorithmSignedCurve25519) {
		t.Fatalf("the fallback key was handed out but is still listed unused: %v", b1.fallbackTypes)
	}

	// A self-destruct timer deletes the server's ciphertext on time.
	setTimer(t, aliceREST, bob.UserID, 2, "after_send")
	burn := a2.sendEncrypted(t, room, marker+" five", aliceID, bobID)
	if !testenv.Poll(20*time.Second, func() bool {
		page, err := b1.cli.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page.Chunk {
			if ev.ID == burn {
				return false
			}
		}
		return true
	}) {
		t.Fatal("the ciphertext under a 2 s after_send timer is still served")
	}

	n.Stop()
	noPlaintext(t, n, marker)
}

// uploadFallbackKey makes the device's goolm account generate a fallback
// key and uploads it signed (mautrix-go v0.32.0 does not upload one).
func (d *e2eeDevice) uploadFallbackKey(t *testing.T) {
	t.Helper()
	ctx := ctxT(t)
	acc, err := d.mach.CryptoStore.GetAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ga, ok := acc.Internal.(*account.Account)
	if !ok {
		t.Fatalf("account is %T, not goolm's", acc.Internal)
	}
	if err := ga.GenFallbackKey(); err != nil {
		t.Fatal(err)
	}
	keys := map[id.KeyID]mautrix.OneTimeKey{}
	for keyID, pub := range ga.FallbackKeyUnpublished() {
		k := mautrix.OneTimeKey{Key: pub, Fallback: true, IsSigned: true}
		sig, err := acc.SignJSON(&k)
		if err != nil {
			t.Fatal(err)
		}
		k.Signatures = signatures.NewSingleSignature(d.cli.UserID, id.KeyAlgorithmEd25519, d.cli.DeviceID.String(), sig)
		keys[id.NewKeyID(id.KeyAlgorithmSignedCurve25519, keyID)] = k
	}
	body := map[string]any{"fallback_keys": keys}
	if _, err := d.cli.MakeRequest(ctx, "POST", d.cli.BuildClientURL("v3", "keys", "upload"), body, nil); err != nil {
		t.Fatal(err)
	}
	ga.MarkKeysAsPublished()
	if err := d.mach.CryptoStore.PutAccount(ctx, acc); err != nil {
		t.Fatal(err)
	}
}

func keysOf[V any](m map[id.DeviceID]V) []id.DeviceID {
	var out []id.DeviceID
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestE2EECluster: two nodes on one MongoDB-wire store and Redis. Bob's
// one-time keys, claimed at once through both nodes, go to one claimer
// each; Megolm messages cross the nodes both ways.
func TestE2EECluster(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := ctxT(t)
	_, alice := newUser(t, n1, "e2ca")
	_, bob := newUser(t, n2, "e2cb")
	aliceID, bobID := id.UserID(alice.UserID), id.UserID(bob.UserID)
	a1 := newE2EEDevice(t, n1, alice.Username)
	b1 := newE2EEDevice(t, n2, bob.Username)
	b2 := newE2EEDevice(t, n1, bob.Username)

	// Claims through both nodes at once: every key goes to one claimer.
	claimers := []*mautrix.Client{mxLogin(t, n1, alice.Username).Client, mxLogin(t, n2, alice.Username).Client}
	// Twelve at once: more makes FerretDB (SQLite, one writer) under -race
	// exceed the cluster's 3 s store timeout, a limit of the test server.
	const claims = 12
	got := make([]id.KeyID, claims)
	var wg sync.WaitGroup
	for i := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := claimers[i%2].ClaimKeys(ctx, &mautrix.ReqClaimKeys{OneTimeKeys: mautrix.OneTimeKeysRequest{bobID: {b1.cli.DeviceID: id.KeyAlgorithmSignedCurve25519}}})
			if err != nil {
				t.Error(err)
				return
			}
			for kid := range r.OneTimeKeys[bobID][b1.cli.DeviceID] {
				got[i] = kid
			}
		}()
	}
	wg.Wait()
	seen := map[id.KeyID]bool{}
	for _, k := range got {
		if k == "" || seen[k] {
			t.Fatalf("claims through two nodes: %v (a key twice, or none while keys were left)", got)
		}
		seen[k] = true
	}

	room := openE2EERoom(t, a1, b1, a1, b1, b2)
	a1.sendEncrypted(t, room, "E2EE-CLUSTER n1 -> n2", aliceID, bobID)
	b1.waitPlain(t, "E2EE-CLUSTER n1 -> n2")
	b2.waitPlain(t, "E2EE-CLUSTER n1 -> n2")
	b1.sendEncrypted(t, room, "E2EE-CLUSTER n2 -> n1", aliceID, bobID)
	a1.waitPlain(t, "E2EE-CLUSTER n2 -> n1")
	if _, err := b1.cli.SendText(ctx, room, "plain"); mxErrcode(err) != "CT_E2EE_REQUIRED" {
		t.Fatalf("plaintext on node 2 into a room made encrypted on node 1: %v", err)
	}
}

// TestE2EERawRequests: bad input to the key and to-device routes gets a
// clear Matrix error with the right status, never a 500.
func TestE2EERawRequests(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	_, alice := newUser(t, n, "e2raw")
	_, bob := newUser(t, n, "e2rawb")
	a := mxLogin(t, n, alice.Username)
	tok, dev := a.AccessToken, string(a.DeviceID)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, n.URL()+"/_matrix/client/v3"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Errcode string `json:"errcode"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out.Errcode
	}
	devKeys := func(user, device, ed string) string {
		return `{"device_keys":{"user_id":"` + user + `","device_id":"` + device + `","algorithms":[],"keys":{"ed25519:` + device + `":"` + ed + `","curve25519:` + device + `":"c"}}}`
	}
	manyOTKs := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"one_time_keys":{`)
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"signed_curve25519:k` + strconv.Itoa(i) + `":{"key":"x"}`)
		}
		b.WriteString("}}")
		return b.String()
	}
	big := `{"messages":{"` + bob.UserID + `":{"D":{"x":"` + strings.Repeat("a", 50<<10) + `"}}}}`
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/keys/upload", "not json", 400, "M_NOT_JSON"},
		{"POST", "/keys/upload", `{"device_keys":7}`, 400, "M_BAD_JSON"},
		{"POST", "/keys/upload", devKeys(bob.UserID, dev, "e"), 400, "M_INVALID_PARAM"},
		{"POST", "/keys/upload", devKeys(alice.UserID, "OTHERDEV", "e"), 400, "M_INVALID_PARAM"},
		{"POST", "/keys/upload", `{"device_keys":{"user_id":"` + alice.UserID + `","device_id":"` + dev + `","keys":{}}}`, 400, "M_INVALID_PARAM"},
		{"POST", "/keys/upload", devKeys(alice.UserID, dev, "first"), 200, ""},
		{"POST", "/keys/upload", devKeys(alice.UserID, dev, "first"), 200, ""},
		{"POST", "/keys/upload", devKeys(alice.UserID, dev, "changed"), 400, "M_INVALID_PARAM"},
		{"POST", "/keys/upload", `{"one_time_keys":{"no-colon":{"key":"x"}}}`, 400, "M_INVALID_PARAM"},
		{"POST", "/keys/upload", `{"one_time_keys":{"signed_curve25519:a b":{"key":"x"}}}`, 400, "M_INVALID_PARAM"},
		{"POST", "/keys/upload", manyOTKs(201), 413, "M_TOO_LARGE"},
		{"POST", "/keys/upload", `{"one_time_keys":{"signed_curve25519:A":{"key":"x"}}}`, 200, ""},
		{"POST", "/keys/upload", `{"one_time_keys":{"signed_curve25519:A":{"key":"other"}}}`, 400, "M_INVALID_PARAM"},
		{"POST", "/keys/query", `{"device_keys":{"@x:y":"not a list"}}`, 400, "M_BAD_JSON"},
		{"POST", "/keys/query", `{"device_keys":{"` + alice.UserID + `":[],"@nobody:elsewhere":[]}}`, 200, ""},
		{"POST", "/keys/claim", `{"one_time_keys":{"` + alice.UserID + `":{"` + dev + `":"signed_curve25519:A"}}}`, 400, "M_INVALID_PARAM"},
		{"POST", "/keys/claim", `{"one_time_keys":{"` + alice.UserID + `":{"NODEVICE":"signed_curve25519"}}}`, 200, ""},
		{"GET", "/keys/changes?from=garbage", "", 400, "M_INVALID_PARAM"},
		{"GET", "/keys/changes", "", 400, "M_INVALID_PARAM"},
		{"POST", "/keys/device_signing/upload", `{"master_key":{"user_id":"` + bob.UserID + `","usage":["master"],"keys":{"ed25519:K":"K"}}}`, 400, "M_INVALID_PARAM"},
		{"POST", "/keys/device_signing/upload", `{"master_key":{"user_id":"` + alice.UserID + `","usage":["master"],"keys":{"ed25519:K":"K"}}}`, 200, ""},
		{"POST", "/keys/device_signing/upload", `{"master_key":{"user_id":"` + alice.UserID + `","usage":["master"],"keys":{"ed25519:L":"L"}}}`, 403, "M_FORBIDDEN"},
		{"POST", "/keys/signatures/upload", `{"` + alice.UserID + `":{"K":"not an object"}}`, 400, "M_INVALID_PARAM"},
		{"PUT", "/sendToDevice/m.test/t1", `{"messages":{"` + bob.UserID + `":{"D":"not an object"}}}`, 400, "M_INVALID_PARAM"},
		{"PUT", "/sendToDevice/m.test/t2", big, 413, "M_TOO_LARGE"},
		{"PUT", "/sendToDevice/m.test/t3", `{"messages":{"` + bob.UserID + `":{"D":{}}}}`, 200, ""},
	}
	for _, c := range cases {
		st, code := do(c.method, c.path, c.body)
		if st != c.status || code != c.code {
			t.Errorf("%s %s %.80s: got %d %q, want %d %q", c.method, c.path, c.body, st, code, c.status, c.code)
		}
	}
	// Room routes: only m.room.encryption state; encrypted events need an envelope.
	created, err := a.CreateRoom(ctxT(t), &mautrix.ReqCreateRoom{Invite: []id.UserID{id.UserID(bob.UserID)}, IsDirect: true, Preset: "trusted_private_chat"})
	if err != nil {
		t.Fatal(err)
	}
	room := "/rooms/" + url.PathEscape(string(created.RoomID))
	for _, c := range []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"GET", room + "/state/m.room.encryption/", "", 404, "M_NOT_FOUND"},
		{"PUT", room + "/state/m.room.topic/", `{"topic":"x"}`, 403, "M_FORBIDDEN"},
		{"PUT", room + "/state/m.room.encryption/", `{"algorithm":"rot13"}`, 400, "M_INVALID_PARAM"},
		{"PUT", room + "/send/m.room.encrypted/e1", "not json", 400, "M_NOT_JSON"},
		{"PUT", room + "/send/m.room.encrypted/e2", `{"algorithm":"m.megolm.v1.aes-sha2"}`, 400, "M_INVALID_PARAM"},
		{"PUT", room + "/state/m.room.encryption/", `{"algorithm":"m.megolm.v1.aes-sha2"}`, 200, ""},
		{"GET", room + "/state/m.room.encryption/", "", 200, ""},
		{"GET", room + "/members", "", 200, ""},
		{"PUT", room + "/send/m.room.message/p1", `{"msgtype":"m.text","body":"plain"}`, 403, "CT_E2EE_REQUIRED"},
		{"PUT", room + "/send/m.room.encrypted/e3", `{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"` + strings.Repeat("A", 61<<10) + `"}`, 413, "M_TOO_LARGE"},
		{"PUT", room + "/send/m.room.encrypted/e4", `{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"AwgA","session_id":"s"}`, 200, ""},
	} {
		st, code := do(c.method, c.path, c.body)
		if st != c.status || code != c.code {
			t.Errorf("%s %s %.80s: got %d %q, want %d %q", c.method, c.path, c.body, st, code, c.status, c.code)
		}
	}
}

// TestE2EECrossSigning: both users publish cross-signing keys (first
// upload, no re-authentication), Alice signs her device with her
// self-signing key, Bob signs Alice's master key with his user-signing
// key; the signatures the server merges into /keys/query make Bob's
// mautrix-go trust Alice's device as cross-signed and verified.
func TestE2EECrossSigning(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	_, alice := newUser(t, n, "e2xa")
	_, bob := newUser(t, n, "e2xb")
	aliceID := id.UserID(alice.UserID)
	a1 := newE2EEDevice(t, n, alice.Username)
	b1 := newE2EEDevice(t, n, bob.Username)
	for _, d := range []*e2eeDevice{a1, b1} {
		keys, err := d.mach.GenerateCrossSigningKeys()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.mach.PublishCrossSigningKeys(ctx, keys, nil); err != nil {
			t.Fatalf("%s publishes cross-signing keys: %v", d.cli.UserID, err)
		}
	}
	own, err := a1.mach.GetOrFetchDevice(ctx, aliceID, a1.cli.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if err := a1.mach.SignOwnDevice(ctx, own); err != nil {
		t.Fatalf("alice signs her device: %v", err)
	}
	if _, err := b1.mach.FetchKeys(ctx, []id.UserID{aliceID}, true); err != nil {
		t.Fatal(err)
	}
	pub, err := b1.mach.GetCrossSigningPublicKeys(ctx, aliceID)
	if err != nil || pub == nil || pub.MasterKey == "" {
		t.Fatalf("alice's cross-signing keys as bob sees them: %+v %v", pub, err)
	}
	if err := b1.mach.SignUser(ctx, aliceID, pub.MasterKey); err != nil {
		t.Fatalf("bob signs alice's master key: %v", err)
	}
	if _, err := b1.mach.FetchKeys(ctx, []id.UserID{aliceID}, true); err != nil {
		t.Fatal(err)
	}
	dev, err := b1.mach.GetOrFetchDevice(ctx, aliceID, a1.cli.DeviceID)
	if err != nil {
		t.Fatal(err)
	}
	if trust, err := b1.mach.ResolveTrustContext(ctx, dev); err != nil || trust != id.TrustStateCrossSignedVerified {
		t.Fatalf("bob's trust in alice's device: %v %v, want cross-signed verified", trust, err)
	}
}
