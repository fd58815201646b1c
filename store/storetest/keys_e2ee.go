package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

// The end-to-end key directory joins the suite from here, like account
// data; a backend without the optional ability skips it.
func init() {
	groups = append(groups, struct {
		name  string
		cases []testCase
	}{"E2EEKeys", e2eeCases})
}

func e2eeOf(t *testing.T, s store.Store) store.E2EEKeys {
	t.Helper()
	k, ok := s.(store.E2EEKeys)
	if !ok {
		t.Skip("backend has no end-to-end key directory")
	}
	return k
}

func otks(ids ...string) []*store.OneTimeKey {
	out := make([]*store.OneTimeKey, 0, len(ids))
	for _, id := range ids {
		out = append(out, &store.OneTimeKey{KeyID: id, Key: []byte(`{"key":"` + id + `"}`)})
	}
	return out
}

var e2eeCases = []testCase{
	{"device keys: put, list, replace, identity is fixed", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		must(t, k.PutDeviceKeys(ctx, &store.DeviceKeys{UserID: alice, DeviceID: "D1", Identity: "id1", Keys: []byte(`{"v":1}`), UpdatedAt: t0}))
		must(t, k.PutDeviceKeys(ctx, &store.DeviceKeys{UserID: alice, DeviceID: "D2", Identity: "id2", Keys: []byte(`{"v":2}`), UpdatedAt: t0}))
		must(t, k.PutDeviceKeys(ctx, &store.DeviceKeys{UserID: bob, DeviceID: "D1", Identity: "idb", Keys: []byte(`{"v":3}`), UpdatedAt: t0}))
		// Same identity: the signed object may change (new signatures).
		must(t, k.PutDeviceKeys(ctx, &store.DeviceKeys{UserID: alice, DeviceID: "D1", Identity: "id1", Keys: []byte(`{"v":4}`), UpdatedAt: t0}))
		err := k.PutDeviceKeys(ctx, &store.DeviceKeys{UserID: alice, DeviceID: "D1", Identity: "evil", Keys: []byte(`{"v":5}`), UpdatedAt: t0})
		wantErr(t, err, store.ErrConflict, "changed identity key")
		got, err := k.ListDeviceKeys(ctx, alice)
		must(t, err)
		if len(got) != 2 || got[0].DeviceID != "D1" || string(got[0].Keys) != `{"v":4}` || got[1].DeviceID != "D2" || got[0].Identity != "id1" {
			t.Fatalf("alice's devices: %+v", got)
		}
		if got, err := k.ListDeviceKeys(ctx, carol); err != nil || len(got) != 0 {
			t.Fatalf("carol: %v, %v", got, err)
		}
	}},
	{"one-time keys: add, count, claim each once, fallback after", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		must(t, k.AddOneTimeKeys(ctx, alice, "D1", otks("signed_curve25519:A", "signed_curve25519:B", "curve25519:C")))
		// The same keys again (a retried upload) are no change.
		must(t, k.AddOneTimeKeys(ctx, alice, "D1", otks("signed_curve25519:A")))
		err := k.AddOneTimeKeys(ctx, alice, "D1", []*store.OneTimeKey{{KeyID: "signed_curve25519:A", Key: []byte(`"other"`)}, {KeyID: "signed_curve25519:Z", Key: []byte(`"z"`)}})
		wantErr(t, err, store.ErrConflict, "same key id, other key")
		must(t, k.AddOneTimeKeys(ctx, alice, "D2", otks("signed_curve25519:A")))
		counts, err := k.CountOneTimeKeys(ctx, alice, "D1")
		must(t, err)
		if counts["signed_curve25519"] != 2 || counts["curve25519"] != 1 || len(counts) != 2 {
			t.Fatalf("counts %v (the refused upload must store nothing)", counts)
		}
		seen := map[string]bool{}
		for range 2 {
			got, err := k.ClaimOneTimeKey(ctx, alice, "D1", "signed_curve25519")
			must(t, err)
			if seen[got.KeyID] || got.Fallback || store.KeyAlgorithm(got.KeyID) != "signed_curve25519" {
				t.Fatalf("claimed %+v twice or wrong", got)
			}
			seen[got.KeyID] = true
		}
		_, err = k.ClaimOneTimeKey(ctx, alice, "D1", "signed_curve25519")
		wantErr(t, err, store.ErrNotFound, "no key left, no fallback")
		must(t, k.PutFallbackKey(ctx, alice, "D1", &store.OneTimeKey{KeyID: "signed_curve25519:F", Key: []byte(`"f"`)}))
		types, err := k.UnusedFallbackKeyTypes(ctx, alice, "D1")
		must(t, err)
		wantIDs(t, "unused fallback", types, []string{"signed_curve25519"})
		for range 2 {
			got, err := k.ClaimOneTimeKey(ctx, alice, "D1", "signed_curve25519")
			must(t, err)
			if !got.Fallback || got.KeyID != "signed_curve25519:F" || string(got.Key) != `"f"` {
				t.Fatalf("fallback claim: %+v", got)
			}
		}
		types, err = k.UnusedFallbackKeyTypes(ctx, alice, "D1")
		must(t, err)
		wantIDs(t, "used fallback", types, nil)
		// Re-uploading the same fallback keeps it used; a new one is unused.
		must(t, k.PutFallbackKey(ctx, alice, "D1", &store.OneTimeKey{KeyID: "signed_curve25519:F", Key: []byte(`"f"`)}))
		if types, _ = k.UnusedFallbackKeyTypes(ctx, alice, "D1"); len(types) != 0 {
			t.Fatalf("the same fallback again is unused: %v", types)
		}
		must(t, k.PutFallbackKey(ctx, alice, "D1", &store.OneTimeKey{KeyID: "signed_curve25519:G", Key: []byte(`"g"`)}))
		types, _ = k.UnusedFallbackKeyTypes(ctx, alice, "D1")
		wantIDs(t, "new fallback", types, []string{"signed_curve25519"})
		if got, err := k.ClaimOneTimeKey(ctx, alice, "D1", "curve25519"); err != nil || got.KeyID != "curve25519:C" {
			t.Fatalf("other algorithm: %+v, %v", got, err)
		}
		if counts, _ := k.CountOneTimeKeys(ctx, alice, "D2"); counts["signed_curve25519"] != 1 {
			t.Fatalf("another device's keys were touched: %v", counts)
		}
	}},
	{"one-time keys: concurrent claims each win a different key", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		var ids []string
		for i := range 6 {
			ids = append(ids, fmt.Sprintf("signed_curve25519:K%d", i))
		}
		must(t, k.AddOneTimeKeys(ctx, bob, "P", otks(ids...)))
		got := make([]string, 10)
		errs := parallel(10, func(i int) error {
			key, err := k.ClaimOneTimeKey(ctx, bob, "P", "signed_curve25519")
			if err == nil {
				got[i] = key.KeyID
			}
			return err
		})
		var won []string
		for i, err := range errs {
			switch {
			case err == nil:
				won = append(won, got[i])
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("claim %d: %v", i, err)
			}
		}
		slices.Sort(won)
		if !slices.Equal(won, ids) {
			t.Fatalf("claimers won %v, want each of %v once", won, ids)
		}
	}},
	{"cross-signing keys and signatures", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		if got, err := k.GetCrossSigningKeys(ctx, alice); err != nil || len(got) != 0 {
			t.Fatalf("none yet: %v, %v", got, err)
		}
		must(t, k.PutCrossSigningKeys(ctx, alice, map[string][]byte{"master": []byte(`"m1"`), "self_signing": []byte(`"s1"`)}))
		must(t, k.PutCrossSigningKeys(ctx, alice, map[string][]byte{"self_signing": []byte(`"s2"`), "user_signing": []byte(`"u1"`)}))
		got, err := k.GetCrossSigningKeys(ctx, alice)
		must(t, err)
		if string(got["master"]) != `"m1"` || string(got["self_signing"]) != `"s2"` || string(got["user_signing"]) != `"u1"` || len(got) != 3 {
			t.Fatalf("cross-signing keys %q", got)
		}
		must(t, k.PutKeySignatures(ctx, []*store.KeySignature{
			{TargetUser: alice, TargetKey: "D1", Signer: alice, SignerKey: "ed25519:SSK", Signature: "sig1"},
			{TargetUser: alice, TargetKey: "MSK", Signer: bob, SignerKey: "ed25519:USK", Signature: "sig2"},
			{TargetUser: bob, TargetKey: "P", Signer: bob, SignerKey: "ed25519:SSK", Signature: "sig3"},
		}))
		must(t, k.PutKeySignatures(ctx, []*store.KeySignature{{TargetUser: alice, TargetKey: "D1", Signer: alice, SignerKey: "ed25519:SSK", Signature: "sig1b"}}))
		sigs, err := k.ListKeySignatures(ctx, alice)
		must(t, err)
		slices.SortFunc(sigs, func(a, b *store.KeySignature) int { return strings.Compare(a.Signature, b.Signature) })
		if len(sigs) != 2 || sigs[0].Signature != "sig1b" || sigs[1].Signature != "sig2" || sigs[1].Signer != bob {
			t.Fatalf("alice's signatures %+v", sigs)
		}
	}},
	{"device list changes: latest time per user", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		must(t, k.MarkDeviceListChanged(ctx, alice, t0.Add(2*time.Second)))
		must(t, k.MarkDeviceListChanged(ctx, alice, t0.Add(time.Second)))
		must(t, k.MarkDeviceListChanged(ctx, bob, t0))
		got, err := k.DeviceListChanges(ctx, []string{alice, bob, carol})
		must(t, err)
		if len(got) != 2 || !got[alice].Equal(t0.Add(2*time.Second)) || !got[bob].Equal(t0) {
			t.Fatalf("changes %v", got)
		}
		if got, err := k.DeviceListChanges(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("no users: %v, %v", got, err)
		}
	}},
	{"to-device: idempotent append, batches, acknowledgement, bound", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		put := func(txn, dev string) error {
			return k.PutToDevice(ctx, &store.ToDeviceMessage{
				ID: store.ToDeviceID(alice, "A1", txn, bob, dev), UserID: bob, DeviceID: dev, Sender: alice, SenderDevice: "A1",
				Type: "m.room.encrypted", Content: []byte(`{"t":"` + txn + `"}`), CreatedAt: t0,
			}, 3)
		}
		must(t, put("t1", "P"))
		must(t, put("t1", "P")) // a retried transaction
		must(t, put("t2", "P"))
		must(t, put("t1", "L"))
		must(t, put("t3", "P"))
		wantErr(t, put("t4", "P"), store.ErrInboxFull, "fourth message of a bound of three")
		must(t, put("t3", "P")) // a retry of a stored one still succeeds when full
		if n, err := k.CountToDevice(ctx, bob, "P"); err != nil || n != 3 {
			t.Fatalf("count %d, %v", n, err)
		}
		contents := func(ms []*store.ToDeviceMessage) []string {
			return idsOf(ms, func(m *store.ToDeviceMessage) string { return string(m.Content) })
		}
		got, err := k.TakeToDevice(ctx, bob, "P", 0, 10, 2)
		must(t, err)
		wantIDs(t, "first batch", contents(got), []string{`{"t":"t1"}`, `{"t":"t2"}`})
		if got[0].Sender != alice || got[0].SenderDevice != "A1" || got[0].Type != "m.room.encrypted" {
			t.Fatalf("message fields %+v", got[0])
		}
		// The answer was lost: the client comes back with the old token.
		got, err = k.TakeToDevice(ctx, bob, "P", 0, 11, 2)
		must(t, err)
		wantIDs(t, "not acknowledged, again", contents(got), []string{`{"t":"t1"}`, `{"t":"t2"}`})
		got, err = k.TakeToDevice(ctx, bob, "P", 11, 12, 10)
		must(t, err)
		wantIDs(t, "after the ack", contents(got), []string{`{"t":"t3"}`})
		must(t, put("t5", "P"))
		got, err = k.TakeToDevice(ctx, bob, "P", 12, 13, 10)
		must(t, err)
		wantIDs(t, "new after ack", contents(got), []string{`{"t":"t5"}`})
		got, err = k.TakeToDevice(ctx, bob, "P", 13, 14, 10)
		must(t, err)
		wantIDs(t, "all acknowledged", contents(got), nil)
		got, err = k.TakeToDevice(ctx, bob, "L", 0, 1, 10)
		must(t, err)
		wantIDs(t, "other device", contents(got), []string{`{"t":"t1"}`})
	}},
	{"conversation E2EE flag: one way, kept by later writes", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		wantErr(t, k.SetConversationE2EE(ctx, "!missing"), store.ErrNotFound, "missing conversation")
		mkConv(t, s, "!e1")
		mkConv(t, s, "!e2")
		must(t, k.SetConversationE2EE(ctx, "!e1"))
		must(t, k.SetConversationE2EE(ctx, "!e1"))
		send(t, s, "!e1", alice, nil)
		must(t, s.SetTimer(ctx, "!e1", 60, store.TimerAfterSend, t0))
		if _, err := s.MarkRead(ctx, "!e1", bob, 1); err != nil {
			t.Fatal(err)
		}
		c, err := s.GetConversation(ctx, "!e1")
		must(t, err)
		if !c.E2EE || c.LastSeq != 1 || c.TimerSeconds != 60 {
			t.Fatalf("after writes: %+v", c)
		}
		c, err = s.EnsureConversation(ctx, &store.Conversation{ID: "!e1", Members: []string{alice, bob}, CreatedAt: t0})
		must(t, err)
		if !c.E2EE {
			t.Fatal("EnsureConversation lost the flag")
		}
		if c, _ := s.GetConversation(ctx, "!e2"); c.E2EE {
			t.Fatal("another conversation got the flag")
		}
		convs, err := s.ListConversations(ctx, alice)
		must(t, err)
		for _, c := range convs {
			if c.E2EE != (c.ID == "!e1") {
				t.Fatalf("listed %s with flag %v", c.ID, c.E2EE)
			}
		}
	}},
	{"deleting a device removes its keys and inbox only", func(t *testing.T, s store.Store) {
		k, ctx := e2eeOf(t, s), t.Context()
		for _, dev := range []string{"D1", "D2"} {
			must(t, k.PutDeviceKeys(ctx, &store.DeviceKeys{UserID: alice, DeviceID: dev, Identity: "i" + dev, Keys: []byte(`{}`), UpdatedAt: t0}))
			must(t, k.AddOneTimeKeys(ctx, alice, dev, otks("signed_curve25519:A")))
			must(t, k.PutFallbackKey(ctx, alice, dev, &store.OneTimeKey{KeyID: "signed_curve25519:F", Key: []byte(`"f"`)}))
			must(t, k.PutToDevice(ctx, &store.ToDeviceMessage{ID: store.ToDeviceID(bob, "P", "t", alice, dev), UserID: alice, DeviceID: dev, Sender: bob, SenderDevice: "P", Type: "x", Content: []byte(`{}`), CreatedAt: t0}, 10))
			must(t, k.PutKeySignatures(ctx, []*store.KeySignature{{TargetUser: alice, TargetKey: dev, Signer: alice, SignerKey: "ed25519:SSK", Signature: "s" + dev}}))
		}
		must(t, k.DeleteDeviceE2EE(ctx, alice, "D1"))
		must(t, k.DeleteDeviceE2EE(ctx, alice, "D1"))
		must(t, k.DeleteDeviceE2EE(ctx, carol, "none"))
		devs, err := k.ListDeviceKeys(ctx, alice)
		must(t, err)
		if len(devs) != 1 || devs[0].DeviceID != "D2" {
			t.Fatalf("devices left %+v", devs)
		}
		if c, _ := k.CountOneTimeKeys(ctx, alice, "D1"); len(c) != 0 {
			t.Fatalf("one-time keys left %v", c)
		}
		if _, err := k.ClaimOneTimeKey(ctx, alice, "D1", "signed_curve25519"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("claim on a deleted device: %v", err)
		}
		if n, _ := k.CountToDevice(ctx, alice, "D1"); n != 0 {
			t.Fatalf("inbox left: %d", n)
		}
		if c, _ := k.CountOneTimeKeys(ctx, alice, "D2"); c["signed_curve25519"] != 1 {
			t.Fatalf("the other device lost its keys: %v", c)
		}
		if ty, _ := k.UnusedFallbackKeyTypes(ctx, alice, "D2"); len(ty) != 1 {
			t.Fatalf("the other device lost its fallback: %v", ty)
		}
		if n, _ := k.CountToDevice(ctx, alice, "D2"); n != 1 {
			t.Fatalf("the other device lost its inbox: %d", n)
		}
		sigs, err := k.ListKeySignatures(ctx, alice)
		must(t, err)
		if len(sigs) != 1 || sigs[0].TargetKey != "D2" {
			t.Fatalf("signatures left %+v", sigs)
		}
	}},
}
