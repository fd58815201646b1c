package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crypttalk/crypttalk/store"
)

// End-to-end encryption the Matrix way: the server runs no crypto. It
// keeps the public keys clients upload (device keys, one-time and fallback
// keys, cross-signing keys and signatures), relays opaque to-device
// messages, tells users sharing a conversation when a device list
// changed, and stores m.room.encrypted content as an opaque (still sealed)
// body. These limits are fixed; docs/SECURITY.md lists them.
const (
	maxDeviceKeysBytes = 16 << 10
	maxKeyBytes        = 2 << 10 // one one-time, fallback or cross-signing key
	maxKeyID           = 128
	maxOTKsPerUpload   = 200
	maxOTKsStored      = 500 // per device; mautrix and vodozemac keep 50
	maxQueryUsers      = 200
	maxClaims          = 200
	maxSignatureUpload = 200
	maxToDeviceTargets = 500
	maxToDeviceBytes   = 48 << 10 // one to-device content
	maxToDeviceType    = 128
	// InboxMax bounds a device's undelivered to-device messages.
	InboxMax = 1000
	// toDeviceBatch is how many to-device messages one sync hands out.
	toDeviceBatch = 100
	// EncryptedBytes bounds an m.room.encrypted content (ciphertext,
	// base64 and envelope: about 1.4 times the 16 KiB text limit, as
	// Matrix's 64 KiB event limit).
	EncryptedBytes = 60 << 10
	// DeviceListMargin: a device-list change is reported to a token made
	// up to this long after it, so a change written while a sync was
	// answered (or on a node whose clock is a little ahead) is not missed.
	// A change reported twice only makes the client query keys again.
	DeviceListMargin = 30 * time.Second
)

// Events of the E2EE layer on the user topics (WebSocket frames too).
const (
	EventDeviceList = "device-list-changed"
	// E2EEOnText is the system message that turns end-to-end encryption
	// on in a conversation (the Matrix adapter shows it as m.room.encryption).
	E2EEOnText = "end-to-end encryption turned on"
	// MegolmAlgorithm is the only room algorithm the flag stands for.
	MegolmAlgorithm = "m.megolm.v1.aes-sha2"
)

var errNoE2EE = errors.New("chat: the store keeps no end-to-end keys")

func (s *Service) e2ee() (store.E2EEKeys, error) {
	k, ok := s.store.(store.E2EEKeys)
	if !ok {
		return nil, Unavailable("the key directory", errNoE2EE)
	}
	return k, nil
}

// deviceOf is the caller's device id.
func deviceOf(p *Principal) string {
	if p.DeviceID != "" {
		return p.DeviceID
	}
	return store.LegacyDeviceID(p.TokenHash)
}

// E2EERequired refuses plaintext in an end-to-end conversation.
func E2EERequired() *Error {
	return newErr(http.StatusForbidden, CodeE2EERequired, "this conversation is end-to-end encrypted: send encrypted content only")
}

// checkE2EE is the gate every message passes (appendMessage): in an E2EE
// conversation only client-encrypted events and the server's own notes
// are taken, so no entry point (REST, WebSocket, Matrix, federation,
// files) can downgrade it.
func checkE2EE(conv *store.Conversation, typ string) error {
	if conv.E2EE && typ != store.TypeEncrypted && typ != store.TypeSystem {
		return E2EERequired()
	}
	return nil
}

// validKeyID accepts "algorithm:id" with printable ASCII and no quote.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxKeyID || !strings.Contains(id, ":") {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// UploadKeysRequest is a device's key upload (Matrix /keys/upload).
type UploadKeysRequest struct {
	DeviceKeys   json.RawMessage
	OneTimeKeys  map[string]json.RawMessage
	FallbackKeys map[string]json.RawMessage
}

type deviceKeysObject struct {
	UserID     string            `json:"user_id"`
	DeviceID   string            `json:"device_id"`
	Algorithms []string          `json:"algorithms"`
	Keys       map[string]string `json:"keys"`
}

// UploadKeys stores the caller's device keys and one-time and fallback
// keys and returns the one-time key counts.
func (s *Service) UploadKeys(ctx context.Context, p *Principal, r UploadKeysRequest) (map[string]int, error) {
	k, err := s.e2ee()
	if err != nil {
		return nil, err
	}
	me, dev := p.User.UserID, deviceOf(p)
	if len(r.DeviceKeys) > 0 && string(r.DeviceKeys) != "null" {
		if len(r.DeviceKeys) > maxDeviceKeysBytes {
			return nil, TooLarge("device_keys is too large")
		}
		var d deviceKeysObject
		if err := json.Unmarshal(r.DeviceKeys, &d); err != nil || !utf8.Valid(r.DeviceKeys) {
			return nil, BadJSON("device_keys must be an object")
		}
		if d.UserID != me || d.DeviceID != dev {
			return nil, Invalid("device_keys must be for the caller's user and device")
		}
		ed, curve := d.Keys["ed25519:"+dev], d.Keys["curve25519:"+dev]
		if ed == "" || curve == "" {
			return nil, Invalid("device_keys needs the device's ed25519 and curve25519 keys")
		}
		err := k.PutDeviceKeys(ctx, &store.DeviceKeys{UserID: me, DeviceID: dev, Identity: ed + "|" + curve, Keys: r.DeviceKeys, UpdatedAt: s.now().UTC()})
		if errors.Is(err, store.ErrConflict) {
			return nil, Invalid("this device has other identity keys: a device keeps its keys for life (log in as a new device)")
		}
		if err != nil {
			return nil, storeError(err)
		}
		s.deviceListChanged(ctx, me)
	}
	if len(r.OneTimeKeys) > maxOTKsPerUpload {
		return nil, TooLarge("too many one-time keys in one upload")
	}
	if len(r.OneTimeKeys) > 0 {
		keys, err := keyList(r.OneTimeKeys)
		if err != nil {
			return nil, err
		}
		counts, err := k.CountOneTimeKeys(ctx, me, dev)
		if err != nil {
			return nil, storeError(err)
		}
		n := 0
		for _, c := range counts {
			n += c
		}
		if n+len(keys) > maxOTKsStored {
			return nil, TooLarge(fmt.Sprintf("a device keeps at most %d one-time keys", maxOTKsStored))
		}
		if err := k.AddOneTimeKeys(ctx, me, dev, keys); errors.Is(err, store.ErrConflict) {
			return nil, Invalid("a one-time key id was uploaded before with another key")
		} else if err != nil {
			return nil, storeError(err)
		}
	}
	if len(r.FallbackKeys) > 4 {
		return nil, TooLarge("too many fallback keys")
	}
	keys, err := keyList(r.FallbackKeys)
	if err != nil {
		return nil, err
	}
	for _, fk := range keys {
		if err := k.PutFallbackKey(ctx, me, dev, fk); err != nil {
			return nil, storeError(err)
		}
	}
	counts, err := k.CountOneTimeKeys(ctx, me, dev)
	if err != nil {
		return nil, storeError(err)
	}
	return counts, nil
}

func keyList(m map[string]json.RawMessage) ([]*store.OneTimeKey, error) {
	out := make([]*store.OneTimeKey, 0, len(m))
	for id, raw := range m {
		if !validKeyID(id) {
			return nil, Invalid("a key id must be algorithm:id in printable ASCII")
		}
		if len(raw) > maxKeyBytes || !json.Valid(raw) || !utf8.Valid(raw) {
			return nil, Invalid("a key must be UTF-8 JSON of at most 2 KiB")
		}
		out = append(out, &store.OneTimeKey{KeyID: id, Key: raw})
	}
	return out, nil
}

// KeyCounts is what /sync tells a device about its own keys.
func (s *Service) KeyCounts(ctx context.Context, p *Principal) (map[string]int, []string, error) {
	k, err := s.e2ee()
	if err != nil {
		return nil, nil, err
	}
	counts, err := k.CountOneTimeKeys(ctx, p.User.UserID, deviceOf(p))
	if err != nil {
		return nil, nil, storeError(err)
	}
	fb, err := k.UnusedFallbackKeyTypes(ctx, p.User.UserID, deviceOf(p))
	if err != nil {
		return nil, nil, storeError(err)
	}
	return counts, fb, nil
}

// KeysQueryResult is the answer of /keys/query.
type KeysQueryResult struct {
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys"`
	UserSigningKeys map[string]json.RawMessage            `json:"user_signing_keys"`
	Failures        map[string]any                        `json:"failures"`
}

// QueryKeys returns the device keys (all devices when a user's list is
// empty) and cross-signing keys of local users, with the signatures
// uploaded since merged in. Users of other servers are failures.
func (s *Service) QueryKeys(ctx context.Context, p *Principal, users map[string][]string) (*KeysQueryResult, error) {
	k, err := s.e2ee()
	if err != nil {
		return nil, err
	}
	if len(users) > maxQueryUsers {
		return nil, TooLarge("too many users in one key query")
	}
	res := &KeysQueryResult{DeviceKeys: map[string]map[string]json.RawMessage{}, MasterKeys: map[string]json.RawMessage{},
		SelfSigningKeys: map[string]json.RawMessage{}, UserSigningKeys: map[string]json.RawMessage{}, Failures: map[string]any{}}
	for user, devs := range users {
		if !strings.HasSuffix(user, ":"+s.opts.ServerName) {
			server := user[strings.LastIndexByte(user, ':')+1:]
			res.Failures[server] = map[string]any{"errcode": "M_UNAVAILABLE", "error": "keys of other servers are not served yet"}
			continue
		}
		all, err := k.ListDeviceKeys(ctx, user)
		if err != nil {
			return nil, storeError(err)
		}
		sigs, err := k.ListKeySignatures(ctx, user)
		if err != nil {
			return nil, storeError(err)
		}
		out := map[string]json.RawMessage{}
		for _, d := range all {
			if len(devs) == 0 || slices.Contains(devs, d.DeviceID) {
				out[d.DeviceID] = withSignatures(d.Keys, d.DeviceID, sigs)
			}
		}
		res.DeviceKeys[user] = out
		xs, err := k.GetCrossSigningKeys(ctx, user)
		if err != nil {
			return nil, storeError(err)
		}
		for usage, dst := range map[string]map[string]json.RawMessage{"master": res.MasterKeys, "self_signing": res.SelfSigningKeys, "user_signing": res.UserSigningKeys} {
			b, ok := xs[usage]
			// The user-signing key says whom a user verified: theirs only.
			if !ok || (usage == "user_signing" && user != p.User.UserID) {
				continue
			}
			dst[user] = withSignatures(b, crossKeyID(b), sigs)
		}
	}
	return res, nil
}

// crossKeyID is the public key of a cross-signing key object (its one
// "ed25519:<key>" entry), the name signatures on it are filed under.
func crossKeyID(b []byte) string {
	var x struct {
		Keys map[string]string `json:"keys"`
	}
	_ = json.Unmarshal(b, &x)
	for id := range x.Keys {
		return strings.TrimPrefix(id, "ed25519:")
	}
	return ""
}

// withSignatures merges the stored signatures on target into a signed
// JSON object's "signatures".
func withSignatures(obj []byte, target string, sigs []*store.KeySignature) json.RawMessage {
	var mine []*store.KeySignature
	for _, g := range sigs {
		if g.TargetKey == target {
			mine = append(mine, g)
		}
	}
	if len(mine) == 0 || target == "" {
		return obj
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return obj
	}
	all := map[string]map[string]string{}
	if raw, ok := m["signatures"]; ok {
		_ = json.Unmarshal(raw, &all)
	}
	for _, g := range mine {
		if all[g.Signer] == nil {
			all[g.Signer] = map[string]string{}
		}
		all[g.Signer][g.SignerKey] = g.Signature
	}
	m["signatures"], _ = json.Marshal(all)
	out, err := json.Marshal(m)
	if err != nil {
		return obj
	}
	return out
}

// ClaimKeys claims one one-time key (or the fallback key) per requested
// device: {user: {device: algorithm}} -> {user: {device: {key id: key}}}.
func (s *Service) ClaimKeys(ctx context.Context, p *Principal, want map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, map[string]any, error) {
	k, err := s.e2ee()
	if err != nil {
		return nil, nil, err
	}
	n := 0
	for _, devs := range want {
		n += len(devs)
	}
	if n > maxClaims {
		return nil, nil, TooLarge("too many keys in one claim")
	}
	// Each claim uses up a key of someone else's device: a claim request
	// counts like a message, so nobody drains everyone's keys at once.
	if err := s.allow(ctx, "claim:user:"+p.User.ID, s.opts.SendPerUser, s.opts.SendWindow); err != nil {
		return nil, nil, err
	}
	out := map[string]map[string]map[string]json.RawMessage{}
	failures := map[string]any{}
	for user, devs := range want {
		if !strings.HasSuffix(user, ":"+s.opts.ServerName) {
			failures[user[strings.LastIndexByte(user, ':')+1:]] = map[string]any{"errcode": "M_UNAVAILABLE", "error": "keys of other servers are not served yet"}
			continue
		}
		for dev, algo := range devs {
			if dev == "" || algo == "" || strings.ContainsRune(algo, ':') {
				return nil, nil, Invalid("a claim names a device and an algorithm")
			}
			key, err := k.ClaimOneTimeKey(ctx, user, dev, algo)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, nil, storeError(err)
			}
			if out[user] == nil {
				out[user] = map[string]map[string]json.RawMessage{}
			}
			out[user][dev] = map[string]json.RawMessage{key.KeyID: key.Key}
		}
	}
	return out, failures, nil
}

// UploadCrossSigning stores the caller's cross-signing public keys
// (usage -> key object). A first upload needs nothing more (MSC3967); a
// different master key would reset the user's identity for everyone who
// verified it, which needs re-authentication this server does not offer.
func (s *Service) UploadCrossSigning(ctx context.Context, p *Principal, keys map[string]json.RawMessage) error {
	k, err := s.e2ee()
	if err != nil {
		return err
	}
	me := p.User.UserID
	put := map[string][]byte{}
	for usage, raw := range keys {
		if usage != "master" && usage != "self_signing" && usage != "user_signing" {
			return Invalid("unknown cross-signing key usage")
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var x struct {
			UserID string            `json:"user_id"`
			Keys   map[string]string `json:"keys"`
		}
		if len(raw) > maxKeyBytes || !utf8.Valid(raw) || json.Unmarshal(raw, &x) != nil || x.UserID != me || len(x.Keys) != 1 {
			return Invalid("a cross-signing key is an object of the caller with one key")
		}
		put[usage] = raw
	}
	if len(put) == 0 {
		return nil
	}
	old, err := k.GetCrossSigningKeys(ctx, me)
	if err != nil {
		return storeError(err)
	}
	if m, ok := put["master"]; ok && old["master"] != nil && crossKeyID(old["master"]) != crossKeyID(m) {
		return Forbidden("replacing the master cross-signing key needs re-authentication, which this server does not support")
	}
	if err := k.PutCrossSigningKeys(ctx, me, put); err != nil {
		return storeError(err)
	}
	s.deviceListChanged(ctx, me)
	return nil
}

// UploadSignatures stores signatures the caller made: {user: {key id or
// device id: signed object}}. Only the caller's own signatures are kept
// (the server does not check them cryptographically: clients do).
func (s *Service) UploadSignatures(ctx context.Context, p *Principal, body map[string]map[string]json.RawMessage) (map[string]any, error) {
	k, err := s.e2ee()
	if err != nil {
		return nil, err
	}
	me := p.User.UserID
	var sigs []*store.KeySignature
	changed := map[string]bool{}
	for user, objs := range body {
		for target, raw := range objs {
			var x struct {
				Signatures map[string]map[string]string `json:"signatures"`
			}
			if len(raw) > maxDeviceKeysBytes || json.Unmarshal(raw, &x) != nil {
				return nil, Invalid("a signed object must be a JSON object")
			}
			if !validKeyID("k:"+target) || !validKeyID("k:"+user) {
				return nil, Invalid("bad key or user id")
			}
			for keyID, sig := range x.Signatures[me] {
				if !validKeyID(keyID) || len(sig) > 256 {
					return nil, Invalid("bad signature")
				}
				sigs = append(sigs, &store.KeySignature{TargetUser: user, TargetKey: target, Signer: me, SignerKey: keyID, Signature: sig})
				changed[user] = true
			}
		}
	}
	if len(sigs) > maxSignatureUpload {
		return nil, TooLarge("too many signatures in one upload")
	}
	if err := k.PutKeySignatures(ctx, sigs); err != nil {
		return nil, storeError(err)
	}
	for u := range changed {
		if strings.HasSuffix(u, ":"+s.opts.ServerName) {
			s.deviceListChanged(ctx, u)
		}
	}
	return map[string]any{}, nil
}

// peersOf lists the users who share a conversation with userID.
func (s *Service) peersOf(ctx context.Context, userID string) ([]string, error) {
	convs, err := s.store.ListConversations(ctx, userID)
	if err != nil {
		return nil, storeError(err)
	}
	return peersIn(convs, userID), nil
}

func peersIn(convs []*store.Conversation, userID string) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range convs {
		for _, m := range c.Members {
			if m != userID && !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// deviceListChanged records that userID's devices or keys changed and
// tells them and everyone sharing a conversation with them (their syncs
// wake, their sockets get a device-list-changed frame). Best effort after
// the write it follows: a failure is logged, the next change repeats it.
func (s *Service) deviceListChanged(ctx context.Context, userID string) {
	k, err := s.e2ee()
	if err != nil {
		return
	}
	if err := k.MarkDeviceListChanged(ctx, userID, s.now().UTC()); err != nil {
		s.log.WarnContext(ctx, "device list change not recorded", "err", err)
		return
	}
	peers, err := s.peersOf(ctx, userID)
	if err != nil {
		s.log.WarnContext(ctx, "device list change not told to peers", "err", err)
	}
	s.publishEvent(ctx, EventDeviceList, map[string]string{"user_id": userID}, append(peers, userID)...)
}

// DeviceListChanges returns who of the caller and the users sharing a
// conversation with them changed devices after from (less the margin)
// and up to to; fresh says whether a change is after from itself (what
// wakes a long-poll: the margin only repeats).
func (s *Service) DeviceListChanges(ctx context.Context, p *Principal, from, to time.Time) (changed []string, fresh bool, err error) {
	convs, err := s.store.ListConversations(ctx, p.User.UserID)
	if err != nil {
		return nil, false, storeError(err)
	}
	return s.DeviceListChangesIn(ctx, p, convs, from, to)
}

// DeviceListChangesIn is DeviceListChanges over the caller's conversations
// the caller listed already (a /sync has them).
func (s *Service) DeviceListChangesIn(ctx context.Context, p *Principal, convs []*store.Conversation, from, to time.Time) (changed []string, fresh bool, err error) {
	k, err := s.e2ee()
	if err != nil {
		return nil, false, err
	}
	at, err := k.DeviceListChanges(ctx, append(peersIn(convs, p.User.UserID), p.User.UserID))
	if err != nil {
		return nil, false, storeError(err)
	}
	lo := from.Add(-DeviceListMargin)
	for u, t := range at {
		if t.After(lo) && (to.IsZero() || !t.After(to)) {
			changed = append(changed, u)
			fresh = fresh || t.After(from)
		}
	}
	return changed, fresh, nil
}

// e2eeDeviceDeleted is the device-deleted hook: the device's keys and
// inbox go, and its peers hear that the list changed.
func (s *Service) e2eeDeviceDeleted(ctx context.Context, d DeletedDevices) error {
	k, err := s.e2ee()
	if err != nil {
		return nil
	}
	had, err := k.ListDeviceKeys(ctx, d.UserID)
	if err != nil {
		return err
	}
	keyed := false
	for _, dev := range d.DeviceIDs {
		for _, x := range had {
			keyed = keyed || x.DeviceID == dev
		}
		if err := k.DeleteDeviceE2EE(ctx, d.UserID, dev); err != nil {
			return err
		}
	}
	// A device that never uploaded keys was in nobody's device list:
	// its peers (and their sockets) need not hear of it.
	if keyed {
		s.deviceListChanged(ctx, d.UserID)
	}
	return nil
}
