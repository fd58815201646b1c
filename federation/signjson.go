package federation

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crypttalk/crypttalk/federation/canonicaljson"
	"github.com/crypttalk/crypttalk/vault"
)

// object is a JSON object by exact key. Decoding into a map keeps keys as
// written, unlike decoding into a struct, which would also match "Sender"
// to a field tagged "sender": what is checked must be what was signed.
type object map[string]json.RawMessage

// parseObject canonicalises raw and splits the object into its members,
// each member's value in canonical form.
func parseObject(raw []byte) (object, []byte, error) {
	canon, err := canonicaljson.Canonical(raw)
	if err != nil {
		return nil, nil, badJSON(err)
	}
	if len(canon) == 0 || canon[0] != '{' {
		return nil, nil, malformed("a JSON object is required")
	}
	var o object
	if err := json.Unmarshal(canon, &o); err != nil {
		return nil, nil, badJSON(err)
	}
	return o, canon, nil
}

// encode is the canonical form of o without the keys named in drop.
func (o object) encode(drop ...string) ([]byte, error) {
	m := make(map[string]json.RawMessage, len(o))
	for k, v := range o {
		m[k] = v
	}
	for _, k := range drop {
		delete(m, k)
	}
	b, err := canonicaljson.Marshal(m)
	if err != nil {
		return nil, badJSON(err)
	}
	return b, nil
}

func (o object) str(key string) (string, error) {
	var s string
	v, ok := o[key]
	if !ok || json.Unmarshal(v, &s) != nil {
		return "", malformed(key + " must be a string")
	}
	return s, nil
}

func (o object) int(key string) (int64, error) {
	var n int64
	v, ok := o[key]
	if !ok || json.Unmarshal(v, &n) != nil {
		return 0, malformed(key + " must be an integer")
	}
	return n, nil
}

func (o object) obj(key string) (object, error) {
	v, ok := o[key]
	if !ok || len(v) == 0 || v[0] != '{' {
		return nil, malformed(key + " must be an object")
	}
	var sub object
	if err := json.Unmarshal(v, &sub); err != nil {
		return nil, malformed(key + " must be an object")
	}
	return sub, nil
}

// signatures reads signatures[entity] as key id -> base64 signature.
func (o object) signatures(entity string) (map[string]string, error) {
	all, err := o.obj("signatures")
	if err != nil {
		return nil, err
	}
	byEntity, err := all.obj(entity)
	if err != nil {
		return nil, nil // no signature by entity: the caller reports it
	}
	out := map[string]string{}
	for id := range byEntity {
		s, err := byEntity.str(id)
		if err != nil {
			return nil, malformed("signatures must be strings")
		}
		out[id] = s
	}
	return out, nil
}

// b64 is unpadded standard base64, the encoding of every key, hash and
// signature in the protocol.
func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// unb64 decodes standard base64 with or without padding, as Matrix asks
// receivers to accept.
func unb64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func sha256b64(b []byte) string {
	sum := sha256.Sum256(b)
	return b64(sum[:])
}

// SignJSON signs a JSON object the Matrix way: the signature covers the
// canonical object without "signatures" and "unsigned", and is added under
// signatures[entity][key id], keeping signatures already there. It returns
// the canonical signed object.
func SignJSON(raw []byte, entity string, key *vault.SigningKey) ([]byte, error) {
	o, _, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	msg, err := o.encode("signatures", "unsigned")
	if err != nil {
		return nil, err
	}
	sigs := map[string]map[string]string{}
	if v, ok := o["signatures"]; ok {
		if err := json.Unmarshal(v, &sigs); err != nil {
			return nil, malformed("signatures must map entities to key ids to strings")
		}
	}
	if sigs[entity] == nil {
		sigs[entity] = map[string]string{}
	}
	sigs[entity][key.ID()] = b64(key.Sign(msg))
	enc, err := json.Marshal(sigs)
	if err != nil {
		return nil, fmt.Errorf("federation: encode signatures: %w", err)
	}
	o["signatures"] = enc
	return o.encode()
}

// VerifyJSON checks that signatures[entity][keyID] is pub's signature of
// the canonical object without "signatures" and "unsigned".
func VerifyJSON(raw []byte, entity, keyID string, pub ed25519.PublicKey) error {
	o, _, err := parseObject(raw)
	if err != nil {
		return err
	}
	return o.verify(entity, keyID, pub, "signatures", "unsigned")
}

func (o object) verify(entity, keyID string, pub ed25519.PublicKey, drop ...string) error {
	sigs, err := o.signatures(entity)
	if err != nil {
		return err
	}
	s, ok := sigs[keyID]
	if !ok {
		return forbidden(ErrBadSignature, "no signature by "+entity+" with "+keyID)
	}
	sig, err := unb64(s)
	if err != nil || len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return forbidden(ErrBadSignature, "signature is not base64 of 64 bytes")
	}
	msg, err := o.encode(drop...)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return forbidden(ErrBadSignature, "signature by "+entity+" with "+keyID+" does not verify")
	}
	return nil
}
