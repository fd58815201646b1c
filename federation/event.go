package federation

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crypttalk/crypttalk/federation/canonicaljson"
	"github.com/crypttalk/crypttalk/vault"
)

// MaxEventSize bounds one event's canonical JSON (signatures included);
// a larger one is refused with 413.
const MaxEventSize = 64 << 10

// DefaultMaxSkew is how far in the future an event's origin_server_ts may
// be before it is refused, when a Verifier sets no MaxSkew.
const DefaultMaxSkew = 5 * time.Minute

// eventTypeRE keeps event types short and plain ("m.text", "ct.receipt").
var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,127}$`)

// Event is a verified or freshly signed federation event. Raw is its
// canonical JSON as it travels; the other fields are read from Raw.
type Event struct {
	EventID        string
	Type           string
	Sender         string
	Recipient      string
	ConversationID string
	Origin         string
	OriginServerTS int64           // ms
	Content        json.RawMessage // canonical JSON object
	Raw            []byte
}

// NewEvent is what SignEvent needs; the origin is the sender's server and
// the conversation id is derived from sender and recipient.
type NewEvent struct {
	Type      string
	Sender    string
	Recipient string
	Time      time.Time
	Content   any // a JSON object: a map, a struct, or json.RawMessage
}

// SignEvent builds the event, hashes and signs it with key, and derives
// its id (docs/FEDERATION.md, "Events"):
//
//  1. body = {type, sender, recipient, conversation_id, origin, origin_server_ts, content}
//  2. hashes.sha256 = base64(SHA-256(canonical(body)))
//  3. signed form = canonical(body + hashes); signatures[origin][key id] = base64(ed25519(signed form))
//  4. event_id = "$" + base64url(SHA-256(signed form))
func SignEvent(key *vault.SigningKey, e NewEvent) (*Event, error) {
	origin := ServerOf(e.Sender)
	if origin == "" || ServerOf(e.Recipient) == "" {
		return nil, malformed("sender and recipient must be user ids @localpart:server")
	}
	if !eventTypeRE.MatchString(e.Type) {
		return nil, malformed("event type must match " + eventTypeRE.String())
	}
	content, err := canonicaljson.Marshal(e.Content)
	if err != nil {
		return nil, badJSON(err)
	}
	if content[0] != '{' {
		return nil, malformed("content must be a JSON object")
	}
	o := object{
		"type":             quote(e.Type),
		"sender":           quote(e.Sender),
		"recipient":        quote(e.Recipient),
		"conversation_id":  quote(DMConversationID(e.Sender, e.Recipient)),
		"origin":           quote(origin),
		"origin_server_ts": json.RawMessage(strconv.FormatInt(e.Time.UnixMilli(), 10)),
		"content":          content,
	}
	body, err := o.encode()
	if err != nil {
		return nil, err
	}
	o["hashes"] = json.RawMessage(`{"sha256":` + string(quote(sha256b64(body))) + `}`)
	signed, err := o.encode()
	if err != nil {
		return nil, err
	}
	o["signatures"] = json.RawMessage(`{` + string(quote(origin)) + `:{` + string(quote(key.ID())) + `:` +
		string(quote(b64(key.Sign(signed)))) + `}}`)
	o["event_id"] = quote(eventID(signed))
	raw, err := o.encode()
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxEventSize {
		return nil, tooLarge(fmt.Sprintf("event is %d bytes of canonical JSON, the limit is %d", len(raw), MaxEventSize))
	}
	return eventFrom(o, raw)
}

func eventID(signed []byte) string {
	sum := sha256.Sum256(signed)
	return "$" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func quote(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// eventFrom reads the fields of a canonical event object.
func eventFrom(o object, raw []byte) (*Event, error) {
	e := &Event{Raw: raw}
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"type", &e.Type}, {"sender", &e.Sender}, {"recipient", &e.Recipient},
		{"conversation_id", &e.ConversationID}, {"origin", &e.Origin}} {
		if *f.dst, err = o.str(f.key); err != nil {
			return nil, err
		}
	}
	if e.OriginServerTS, err = o.int("origin_server_ts"); err != nil {
		return nil, err
	}
	if _, err := o.obj("content"); err != nil {
		return nil, err
	}
	e.Content = o["content"]
	if _, has := o["event_id"]; has {
		if e.EventID, err = o.str("event_id"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Verifier checks what other servers send to this one.
type Verifier struct {
	ServerName string        // this server's name: the only acceptable destination and recipient server
	Keys       KeySource     // other servers' verify keys
	MaxSkew    time.Duration // how far ahead of our clock a peer's timestamp may be; 0: DefaultMaxSkew
	Now        func() time.Time
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) skew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

// VerifyEvent checks one inbound event, in this order: size and canonical
// JSON; shape; the sender is of the origin and the recipient is local; the
// conversation id is the sender's and recipient's; the timestamp is not
// ahead of our clock by more than MaxSkew; the content hash; a signature
// by the origin with a key valid at origin_server_ts (an old key counts
// for events stamped before its expired_ts); the event id, when given,
// is the one derived. Whether the event's origin is the transaction's
// origin is the caller's check.
func (v *Verifier) VerifyEvent(ctx context.Context, raw []byte) (*Event, error) {
	o, canon, err := parseObject(raw)
	if err != nil {
		return nil, err
	}
	if len(canon) > MaxEventSize {
		return nil, tooLarge(fmt.Sprintf("event is %d bytes of canonical JSON, the limit is %d", len(canon), MaxEventSize))
	}
	e, err := eventFrom(o, canon)
	if err != nil {
		return nil, err
	}
	if !eventTypeRE.MatchString(e.Type) {
		return nil, malformed("event type must match " + eventTypeRE.String())
	}
	switch {
	case ServerOf(e.Sender) != e.Origin:
		return nil, forbidden(ErrWrongOrigin, "sender "+e.Sender+" is not of origin "+e.Origin)
	case ServerOf(e.Recipient) != v.ServerName:
		return nil, forbidden(ErrNotLocal, "recipient "+e.Recipient+" is not on "+v.ServerName)
	case e.ConversationID != DMConversationID(e.Sender, e.Recipient):
		return nil, invalid(ErrBadConversation, "conversation_id is not the one derived from sender and recipient")
	case time.UnixMilli(e.OriginServerTS).After(v.now().Add(v.skew())):
		return nil, invalid(ErrClock, "origin_server_ts is ahead of this server's clock by more than "+v.skew().String())
	}
	hashes, err := o.obj("hashes")
	if err != nil {
		return nil, err
	}
	want, err := hashes.str("sha256")
	if err != nil {
		return nil, err
	}
	body, err := o.encode("event_id", "hashes", "signatures")
	if err != nil {
		return nil, err
	}
	if got := sha256b64(body); strings.TrimRight(want, "=") != got {
		return nil, invalid(ErrBadHash, "hashes.sha256 does not match the event")
	}
	signed, err := o.encode("event_id", "signatures")
	if err != nil {
		return nil, err
	}
	if err := v.checkSignature(ctx, o, e.Origin, signed, e.OriginServerTS); err != nil {
		return nil, err
	}
	id := eventID(signed)
	if e.EventID != "" && e.EventID != id {
		return nil, invalid(ErrBadEventID, "event_id is not the one derived from the event")
	}
	e.EventID = id
	return e, nil
}

// checkSignature accepts when one ed25519 signature by origin verifies
// with a key valid at ts; otherwise it reports the most telling failure.
func (v *Verifier) checkSignature(ctx context.Context, o object, origin string, signed []byte, ts int64) error {
	sigs, err := o.signatures(origin)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(sigs))
	for id := range sigs {
		if strings.HasPrefix(id, "ed25519:") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids) // the same failure reported for the same event
	failure := forbidden(ErrBadSignature, "no ed25519 signature by origin "+origin)
	for _, id := range ids {
		k, err := v.Keys.VerifyKey(ctx, origin, id)
		if err != nil {
			failure = forbidden(ErrUnknownKey, "no key "+id+" known for "+origin)
			continue
		}
		if !k.validAt(ts) {
			failure = forbidden(ErrKeyExpired, "key "+id+" of "+origin+" was not valid at origin_server_ts")
			continue
		}
		sig, err := unb64(sigs[id])
		if err == nil && len(sig) == ed25519.SignatureSize && len(k.Key) == ed25519.PublicKeySize &&
			ed25519.Verify(k.Key, signed, sig) {
			return nil
		}
		failure = forbidden(ErrBadSignature, "signature by "+origin+" with "+id+" does not verify")
	}
	return failure
}
