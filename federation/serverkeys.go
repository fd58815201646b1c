package federation

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"time"

	"github.com/crypttalk/crypttalk/vault"
)

// MaxKeyCache is the longest a fetched key document vouches for its
// current keys, whatever its valid_until_ts says (Matrix rooms v5+).
const MaxKeyCache = 7 * 24 * time.Hour

// ServerKeys is a verified key document of GET /_crypttalk/key/v1/server.
type ServerKeys struct {
	ServerName    string
	VerifyKeys    map[string]ed25519.PublicKey // key id -> current key
	OldVerifyKeys map[string]VerifyKey         // key id -> retired key with ExpiredTS
	ValidUntilTS  int64                        // ms
	Raw           []byte                       // the canonical signed document
}

type keyJSON struct {
	Key string `json:"key"`
}

type oldKeyJSON struct {
	Key       string `json:"key"`
	ExpiredTS int64  `json:"expired_ts"`
}

// BuildServerKeys makes this server's key document, valid for validFor
// from now, signed by the active key: the body of GET
// /_crypttalk/key/v1/server, in canonical JSON.
func BuildServerKeys(serverName string, keys *vault.SigningKeys, now time.Time, validFor time.Duration) ([]byte, error) {
	active := keys.Active()
	old := map[string]oldKeyJSON{}
	for _, o := range keys.Old() {
		old[o.ID] = oldKeyJSON{Key: b64(o.Public), ExpiredTS: o.ExpiredTS}
	}
	doc := map[string]any{
		"server_name":     serverName,
		"verify_keys":     map[string]keyJSON{active.ID(): {Key: active.PublicBase64()}},
		"old_verify_keys": old,
		"valid_until_ts":  now.Add(validFor).UnixMilli(),
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return SignJSON(raw, serverName, active)
}

// ParseServerKeys checks a key document that server sent about itself:
// canonical JSON, the right server_name, well-formed keys, and a valid
// signature by every key in verify_keys. It does not judge
// valid_until_ts: an old document still verifies old events (Keys caps
// what it vouches for).
func ParseServerKeys(raw []byte, server string) (*ServerKeys, error) {
	o, canon, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	doc := &ServerKeys{VerifyKeys: map[string]ed25519.PublicKey{}, OldVerifyKeys: map[string]VerifyKey{}, Raw: canon}
	if doc.ServerName, err = o.str("server_name"); err != nil {
		return nil, err
	}
	if doc.ServerName != server {
		return nil, forbidden(ErrWrongOrigin, "key document is for "+doc.ServerName+", not "+server)
	}
	if doc.ValidUntilTS, err = o.int("valid_until_ts"); err != nil {
		return nil, err
	}
	vk, err := o.obj("verify_keys")
	if err != nil {
		return nil, err
	}
	for id := range vk {
		if !strings.HasPrefix(id, "ed25519:") {
			continue // an algorithm we do not know: ignored, as Matrix asks
		}
		k, err := vk.obj(id)
		if err != nil {
			return nil, err
		}
		pub, err := parseKey(k, id)
		if err != nil {
			return nil, err
		}
		doc.VerifyKeys[id] = pub
	}
	if len(doc.VerifyKeys) == 0 {
		return nil, malformed("verify_keys holds no ed25519 key")
	}
	if _, has := o["old_verify_keys"]; has {
		ok, err := o.obj("old_verify_keys")
		if err != nil {
			return nil, err
		}
		for id := range ok {
			if !strings.HasPrefix(id, "ed25519:") {
				continue
			}
			k, err := ok.obj(id)
			if err != nil {
				return nil, err
			}
			pub, err := parseKey(k, id)
			if err != nil {
				return nil, err
			}
			ts, err := k.int("expired_ts")
			if err != nil {
				return nil, err
			}
			doc.OldVerifyKeys[id] = VerifyKey{Key: pub, ExpiredTS: ts}
		}
	}
	for id, pub := range doc.VerifyKeys {
		if err := o.verify(server, id, pub, "signatures", "unsigned"); err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func parseKey(k object, id string) (ed25519.PublicKey, error) {
	if !strings.HasPrefix(id, "ed25519:") || len(id) == len("ed25519:") {
		return nil, malformed("key id " + id + " is not ed25519:<name>")
	}
	s, err := k.str("key")
	if err != nil {
		return nil, err
	}
	pub, err := unb64(s)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, malformed("key " + id + " is not base64 of 32 bytes")
	}
	return pub, nil
}

// CacheUntil is when a document fetched at fetchedAt must be fetched
// again: its valid_until_ts, but never more than MaxKeyCache later.
func (d *ServerKeys) CacheUntil(fetchedAt time.Time) time.Time {
	until := time.UnixMilli(d.ValidUntilTS)
	if limit := fetchedAt.Add(MaxKeyCache); until.After(limit) {
		return limit
	}
	return until
}

// Keys lists the document's keys with the time bounds to apply, for a
// document fetched at fetchedAt.
func (d *ServerKeys) Keys(fetchedAt time.Time) map[string]VerifyKey {
	out := make(map[string]VerifyKey, len(d.VerifyKeys)+len(d.OldVerifyKeys))
	for id, k := range d.OldVerifyKeys {
		out[id] = k
	}
	until := d.CacheUntil(fetchedAt).UnixMilli()
	for id, pub := range d.VerifyKeys {
		out[id] = VerifyKey{Key: pub, ValidUntilTS: until}
	}
	return out
}
