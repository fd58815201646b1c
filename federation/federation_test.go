package federation

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/vault"
)

// matrixSeed is the seed of the Matrix specification's cryptographic test
// vectors (appendices, "Cryptographic Test Vectors").
const matrixSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"

func seedKey(t testing.TB, id, seedB64 string) *vault.SigningKey {
	t.Helper()
	seed, err := base64.RawStdEncoding.DecodeString(seedB64)
	if err != nil {
		t.Fatal(err)
	}
	k, err := vault.SigningKeyFromSeed(id, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t testing.TB, name string) *vault.SigningKey {
	t.Helper()
	k, err := vault.GenerateSigningKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestMatrixJSONSigningVectors: SignJSON reproduces the spec's signatures.
func TestMatrixJSONSigningVectors(t *testing.T) {
	t.Parallel()
	k := seedKey(t, "ed25519:1", matrixSeed)
	vectors := []struct{ in, want string }{
		{`{}`, `{"signatures":{"domain":{"ed25519:1":"K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}}`},
		{`{"one": 1, "two": "Two"}`, `{"one":1,"signatures":{"domain":{"ed25519:1":"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}},"two":"Two"}`},
	}
	for _, v := range vectors {
		got, err := SignJSON([]byte(v.in), "domain", k)
		if err != nil || string(got) != v.want {
			t.Fatalf("SignJSON(%s) = %s, %v\nwant %s", v.in, got, err, v.want)
		}
		if err := VerifyJSON(got, "domain", "ed25519:1", k.Public()); err != nil {
			t.Fatalf("VerifyJSON: %v", err)
		}
		tampered := strings.Replace(string(got), `"signatures"`, `"x":0,"signatures"`, 1)
		if err := VerifyJSON([]byte(tampered), "domain", "ed25519:1", k.Public()); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("tampered object verified: %v", err)
		}
	}
}

// TestMatrixEventVector: the spec's minimal event; for an event without
// event_id or unsigned our hash and signature rules are Matrix's.
func TestMatrixEventVector(t *testing.T) {
	t.Parallel()
	k := seedKey(t, "ed25519:1", matrixSeed)
	o, _, err := parseObject([]byte(`{"room_id":"!x:domain","sender":"@a:domain","origin":"domain","origin_server_ts":1000000,
		"type":"X","content":{},"prev_events":[],"auth_events":[],"depth":3}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := o.encode()
	if h := sha256b64(body); h != "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos" {
		t.Fatalf("hash %s", h)
	}
	o["hashes"] = json.RawMessage(`{"sha256":"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"}`)
	signed, _ := o.encode()
	if s := b64(k.Sign(signed)); s != "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg" {
		t.Fatalf("signature %s", s)
	}
}

func TestDMConversationIDMatchesChat(t *testing.T) {
	t.Parallel()
	pairs := [][2]string{{"@alice:a.example", "@bob:b.example"}, {"@bob:b.example", "@alice:a.example"},
		{"@x:a.example:8448", "@é:日本.example"}, {"@a:x", "@a:x"}}
	for _, p := range pairs {
		if got, want := DMConversationID(p[0], p[1]), chat.ConversationID(p[0], p[1]); got != want {
			t.Errorf("%v: federation %s, chat %s", p, got, want)
		}
	}
	if DMConversationID(pairs[0][0], pairs[0][1]) != DMConversationID(pairs[0][1], pairs[0][0]) {
		t.Error("order matters")
	}
}

func TestServerOf(t *testing.T) {
	t.Parallel()
	cases := map[string]string{"@a:b.example": "b.example", "@a:b.example:8448": "b.example:8448",
		"a:b": "", "@:b": "", "@a:": "", "@a": "", "@a b:c": "", "@a:" + strings.Repeat("x", 300): ""}
	for in, want := range cases {
		if got := ServerOf(in); got != want {
			t.Errorf("ServerOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// fixture: a.example (keys current + old) sends to b.example (us).
type fixture struct {
	cur, old, stranger *vault.SigningKey
	oldExpired         time.Time
	now                time.Time
	v                  *Verifier
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{cur: newKey(t, "cur"), old: newKey(t, "old"), stranger: newKey(t, "x")}
	f.now = time.UnixMilli(1_800_000_000_000)
	f.oldExpired = f.now.Add(-24 * time.Hour)
	keys, err := vault.NewSigningKeys(f.old).Rotate(f.cur, f.oldExpired)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := BuildServerKeys("a.example", keys, f.now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseServerKeys(doc, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	ks := &StaticKeys{}
	ks.AddDocument(parsed, f.now)
	f.v = &Verifier{ServerName: "b.example", Keys: ks, Now: func() time.Time { return f.now }}
	return f
}

// forge signs an arbitrary event object the way SignEvent does, so each
// test case can break exactly one rule.
func forge(t testing.TB, fields map[string]any, key *vault.SigningKey, signer string) []byte {
	t.Helper()
	raw, _ := json.Marshal(fields)
	o, _, err := parseObject(raw)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := o.encode()
	o["hashes"] = json.RawMessage(`{"sha256":"` + sha256b64(body) + `"}`)
	signed, _ := o.encode()
	o["signatures"] = json.RawMessage(`{"` + signer + `":{"` + key.ID() + `":"` + b64(key.Sign(signed)) + `"}}`)
	o["event_id"] = quote(eventID(signed))
	out, _ := o.encode()
	return out
}

func baseFields(ts time.Time) map[string]any {
	return map[string]any{"type": "m.text", "sender": "@alice:a.example", "recipient": "@bob:b.example",
		"conversation_id": DMConversationID("@alice:a.example", "@bob:b.example"), "origin": "a.example",
		"origin_server_ts": ts.UnixMilli(), "content": map[string]any{"body": "hi"}}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

func TestSignAndVerifyEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e, err := SignEvent(f.cur, NewEvent{Type: "m.text", Sender: "@alice:a.example", Recipient: "@bob:b.example",
		Time: f.now, Content: map[string]any{"body": "héllo <b>", "n": 3}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.v.VerifyEvent(context.Background(), e.Raw)
	if err != nil {
		t.Fatalf("own event refused: %v", err)
	}
	if got.EventID != e.EventID || !strings.HasPrefix(e.EventID, "$") || got.ConversationID != chat.ConversationID("@alice:a.example", "@bob:b.example") ||
		string(got.Content) != `{"body":"héllo <b>","n":3}` || got.Origin != "a.example" {
		t.Fatalf("verified event %+v, signed %+v", got, e)
	}
	// Whitespace and key order do not matter to the receiver.
	var pretty map[string]any
	_ = json.Unmarshal(e.Raw, &pretty)
	indented, _ := json.MarshalIndent(pretty, "", "  ")
	if _, err := f.v.VerifyEvent(context.Background(), indented); err != nil {
		t.Fatalf("re-indented event refused: %v", err)
	}
	if _, err := SignEvent(f.cur, NewEvent{Type: "m.text", Sender: "@a:a.example", Recipient: "@b:b.example", Time: f.now,
		Content: map[string]any{"body": strings.Repeat("x", MaxEventSize)}}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized event signed: %v", err)
	}
	if _, err := SignEvent(f.cur, NewEvent{Type: "m.text", Sender: "@a:a.example", Recipient: "@b:b.example", Time: f.now,
		Content: map[string]any{"f": 1.5}}); !errors.Is(err, ErrBadJSON) {
		t.Fatalf("float content signed: %v", err)
	}
}

func TestVerifyEventRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := baseFields(f.now)
	before := f.oldExpired.Add(-time.Minute)
	sign := func(m map[string]any) []byte { return forge(t, m, f.cur, "a.example") }
	tamper := func(raw []byte, from, to string) []byte {
		if !strings.Contains(string(raw), from) {
			t.Fatalf("%s not in %s", from, raw)
		}
		return []byte(strings.Replace(string(raw), from, to, 1))
	}
	good := sign(base)
	cases := []struct {
		name   string
		raw    []byte
		reason error
		status int
	}{
		{"forged signature", forge(t, base, seedKey(t, f.cur.ID(), matrixSeed), "a.example"), ErrBadSignature, 403},
		{"unknown key id", forge(t, base, f.stranger, "a.example"), ErrUnknownKey, 403},
		{"signed by another server", forge(t, base, f.cur, "c.example"), ErrBadSignature, 403},
		{"sender not of origin", sign(with(base, "sender", "@mallory:c.example")), ErrWrongOrigin, 403},
		{"origin not of sender", sign(with(base, "origin", "c.example")), ErrWrongOrigin, 403},
		{"recipient not local", sign(with(with(base, "recipient", "@carol:c.example"), "conversation_id",
			DMConversationID("@alice:a.example", "@carol:c.example"))), ErrNotLocal, 403},
		{"wrong conversation", sign(with(base, "conversation_id", "!other")), ErrBadConversation, 400},
		{"from the future", sign(with(base, "origin_server_ts", f.now.Add(time.Hour).UnixMilli())), ErrClock, 400},
		{"old key after its expiry", forge(t, base, f.old, "a.example"), ErrKeyExpired, 403},
		{"tampered content", tamper(good, `"body":"hi"`, `"body":"ho"`), ErrBadHash, 400},
		{"tampered hash", tamper(good, `"sha256":"`, `"sha256":"A`), ErrBadHash, 400},
		{"wrong event id", tamper(good, `"event_id":"$`, `"event_id":"$A`), ErrBadEventID, 400},
		{"float", tamper(good, `"body":"hi"`, `"body":"hi","f":1.0`), ErrBadJSON, 400},
		{"2^53", tamper(good, `"body":"hi"`, `"body":"hi","n":9007199254740992`), ErrBadJSON, 400},
		{"duplicate key", tamper(good, `"body":"hi"`, `"body":"hi","body":"hi"`), ErrBadJSON, 400},
		{"missing field", sign(with(base, "type", 5)), ErrMalformed, 400},
		{"content not an object", sign(with(base, "content", "x")), ErrMalformed, 400},
		{"bad type", sign(with(base, "type", "Text Message")), ErrMalformed, 400},
		{"not an object", []byte(`[1]`), ErrMalformed, 400},
		{"oversized", sign(with(base, "content", map[string]any{"body": strings.Repeat("x", MaxEventSize)})), ErrTooLarge, 413},
	}
	for _, c := range cases {
		_, err := f.v.VerifyEvent(context.Background(), c.raw)
		var fe *Error
		if !errors.Is(err, c.reason) || !errors.As(err, &fe) || fe.Status != c.status {
			t.Errorf("%s: got %v, want %v with status %d", c.name, err, c.reason, c.status)
		}
	}
	// The document said valid for 24 hours: two days on, the current key no
	// longer vouches for new events until the document is fetched again.
	later := *f.v
	later.Now = func() time.Time { return f.now.Add(48 * time.Hour) }
	if _, err := later.VerifyEvent(context.Background(), sign(with(base, "origin_server_ts", f.now.Add(48*time.Hour).UnixMilli()))); !errors.Is(err, ErrKeyExpired) {
		t.Errorf("current key beyond valid_until_ts: %v", err)
	}
	// Honoured: an old key for an event stamped before its expired_ts.
	if _, err := f.v.VerifyEvent(context.Background(), forge(t, with(base, "origin_server_ts", before.UnixMilli()), f.old, "a.example")); err != nil {
		t.Fatalf("old key before expiry refused: %v", err)
	}
	if _, err := f.v.VerifyEvent(context.Background(), good); err != nil {
		t.Fatalf("good event refused: %v", err)
	}
}

func TestRequestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	body := []byte(`{"origin":"a.example","origin_server_ts":1,"events":[]}`)
	uri := "/_crypttalk/federation/v1/send/t1?x=1"
	req := Request{Method: "PUT", URI: uri, Origin: "a.example", Destination: "b.example", Content: body}
	h, err := SignRequest(f.cur, req)
	if err != nil {
		t.Fatal(err)
	}
	if origin, err := f.v.VerifyRequest(ctx, "PUT", uri, body, h); err != nil || origin != "a.example" {
		t.Fatalf("good request: %q %v", origin, err)
	}
	// The body may be re-spaced or re-ordered on the way: its canonical form is signed.
	if _, err := f.v.VerifyRequest(ctx, "PUT", uri, []byte(`{ "events":[], "origin_server_ts":1, "origin":"a.example" }`), h); err != nil {
		t.Fatalf("re-ordered body: %v", err)
	}
	getH, _ := SignRequest(f.cur, Request{Method: "GET", URI: "/_crypttalk/federation/v1/query/profile?user_id=%40bob%3Ab.example", Origin: "a.example", Destination: "b.example"})
	if _, err := f.v.VerifyRequest(ctx, "GET", "/_crypttalk/federation/v1/query/profile?user_id=%40bob%3Ab.example", nil, getH); err != nil {
		t.Fatalf("GET without body: %v", err)
	}
	signWith := func(k *vault.SigningKey, r Request) string {
		s, err := SignRequest(k, r)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	toC := req
	toC.Destination = "c.example"
	fromC := req
	fromC.Origin = "c.example"
	fromUs := req
	fromUs.Origin = "b.example"
	recent := *f
	recent.now = f.oldExpired.Add(time.Minute) // within DefaultMaxSkew of the old key's expiry
	cases := []struct {
		name                string
		v                   *Verifier
		method, uri, header string
		body                []byte
		reason              error
		status              int
	}{
		{"forged signature", f.v, "PUT", uri, signWith(seedKey(t, f.cur.ID(), matrixSeed), req), body, ErrBadSignature, 401},
		{"other body", f.v, "PUT", uri, h, []byte(`{"origin":"a.example","origin_server_ts":2,"events":[]}`), ErrBadSignature, 401},
		{"other uri", f.v, "PUT", uri + "&y=2", h, body, ErrBadSignature, 401},
		{"other method", f.v, "POST", uri, h, body, ErrBadSignature, 401},
		{"body dropped", f.v, "PUT", uri, h, nil, ErrBadSignature, 401},
		{"wrong origin", f.v, "PUT", uri, signWith(f.cur, fromC), body, ErrUnknownKey, 401},
		{"origin is us", f.v, "PUT", uri, signWith(f.cur, fromUs), body, ErrWrongOrigin, 401},
		{"wrong destination", f.v, "PUT", uri, signWith(f.cur, toC), body, ErrWrongDestination, 401},
		{"wrong key id", f.v, "PUT", uri, signWith(f.stranger, req), body, ErrUnknownKey, 401},
		{"old key past expiry", f.v, "PUT", uri, signWith(f.old, req), body, ErrKeyExpired, 401},
		{"float body", f.v, "PUT", uri, h, []byte(`{"n":1.0}`), ErrBadJSON, 400},
		{"2^53 body", f.v, "PUT", uri, h, []byte(`{"n":9007199254740992}`), ErrBadJSON, 400},
		{"duplicate key body", f.v, "PUT", uri, h, []byte(`{"n":1,"n":1}`), ErrBadJSON, 400},
		{"no header", f.v, "PUT", uri, "", body, ErrBadAuthHeader, 401},
		{"bearer", f.v, "PUT", uri, "Bearer abc", body, ErrBadAuthHeader, 401},
		{"sig not base64", f.v, "PUT", uri, strings.Replace(h, `sig="`, `sig="!`, 1), body, ErrBadSignature, 401},
	}
	for _, c := range cases {
		_, err := c.v.VerifyRequest(ctx, c.method, c.uri, c.body, c.header)
		var fe *Error
		if !errors.Is(err, c.reason) || !errors.As(err, &fe) || fe.Status != c.status {
			t.Errorf("%s: got %v, want %v with status %d", c.name, err, c.reason, c.status)
		}
	}
	// Honoured: the old key shortly after rotation, within the skew.
	rv := *f.v
	rv.Now = func() time.Time { return recent.now }
	if _, err := rv.VerifyRequest(ctx, "PUT", uri, body, signWith(f.old, req)); err != nil {
		t.Fatalf("old key within skew refused: %v", err)
	}
}

func TestParseAuth(t *testing.T) {
	t.Parallel()
	want := Auth{Origin: "a.example:8448", Destination: "b.example", Key: "ed25519:k1", Sig: "abc+/def"}
	good := []string{
		want.String(),
		`X-CryptTalk origin="a.example:8448",destination="b.example",key="ed25519:k1",sig="abc+/def"`,
		`x-crypttalk   sig="abc+/def" , KEY="ed25519:k1",	destination=b.example ,origin="a.example:8448"`,
		`X-CryptTalk origin="a.exa\mple:8448",destination="b.example",key="ed25519:k1",sig="abc+/def",extra=1`,
		`X-CryptTalk ,origin="a.example:8448",,destination=b.example, ,key="ed25519:k1",sig="abc+/def",`,
	}
	for _, h := range good {
		got, err := ParseAuth(h)
		if err != nil || got != want {
			t.Errorf("ParseAuth(%s) = %+v, %v", h, got, err)
		}
	}
	esc := Auth{Origin: `a"b\c`, Destination: "d", Key: "k", Sig: "s"}
	if got, err := ParseAuth(esc.String()); err != nil || got != esc {
		t.Errorf("escapes: %+v %v", got, err)
	}
	bad := []string{
		``, `X-CryptTalk`, `X-Matrix origin=a,destination=b,key="ed25519:k",sig=s`,
		`X-CryptTalk origin=a,destination=b,key="ed25519:k"`,
		`X-CryptTalk origin=a,origin=c,destination=b,key="ed25519:k",sig=s`,
		`X-CryptTalk origin=a,destination=b,key=ed25519:k,sig=s`,
		`X-CryptTalk origin="a,destination=b,key="ed25519:k",sig=s`,
		`X-CryptTalk origin=a destination=b,key="ed25519:k",sig=s`,
		`X-CryptTalk =a,destination=b,key="ed25519:k",sig=s`,
	}
	for _, h := range bad {
		if a, err := ParseAuth(h); !errors.Is(err, ErrBadAuthHeader) {
			t.Errorf("ParseAuth(%s) = %+v, %v", h, a, err)
		}
	}
}

func TestServerKeysDocument(t *testing.T) {
	t.Parallel()
	old, cur := newKey(t, "o1"), newKey(t, "c1")
	now := time.UnixMilli(1_800_000_000_000)
	keys, _ := vault.NewSigningKeys(old).Rotate(cur, now.Add(-time.Hour))
	raw, err := BuildServerKeys("a.example", keys, now, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ParseServerKeys(raw, "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if doc.ValidUntilTS != now.Add(30*24*time.Hour).UnixMilli() || len(doc.VerifyKeys) != 1 ||
		doc.OldVerifyKeys[old.ID()].ExpiredTS != now.Add(-time.Hour).UnixMilli() {
		t.Fatalf("doc %+v", doc)
	}
	if got := doc.CacheUntil(now); !got.Equal(now.Add(MaxKeyCache)) {
		t.Fatalf("cached until %v, want 7 days", got)
	}
	if k := doc.Keys(now)[cur.ID()]; k.ValidUntilTS != now.Add(MaxKeyCache).UnixMilli() {
		t.Fatalf("current key bound %d", k.ValidUntilTS)
	}
	short, _ := BuildServerKeys("a.example", keys, now, time.Hour)
	if d, _ := ParseServerKeys(short, "a.example"); !d.CacheUntil(now).Equal(now.Add(time.Hour)) {
		t.Fatal("a shorter valid_until_ts is not kept")
	}
	bad := map[string]struct {
		raw    []byte
		reason error
	}{
		"other server":   {raw, ErrWrongOrigin},
		"tampered":       {[]byte(strings.Replace(string(raw), `"valid_until_ts":`, `"valid_until_ts":1`, 1)), ErrBadSignature},
		"not signed":     {[]byte(strings.Replace(string(raw), `"signatures":{"a.example"`, `"signatures":{"z.example"`, 1)), ErrBadSignature},
		"float":          {[]byte(strings.Replace(string(raw), `"valid_until_ts":`, `"x":1.5,"valid_until_ts":`, 1)), ErrBadJSON},
		"bad key bytes":  {mustSign(t, `{"server_name":"a.example","valid_until_ts":1,"verify_keys":{"`+cur.ID()+`":{"key":"AAAA"}}}`, cur), ErrMalformed},
		"no keys":        {mustSign(t, `{"server_name":"a.example","valid_until_ts":1,"verify_keys":{}}`, cur), ErrMalformed},
		"only rsa keys":  {mustSign(t, `{"server_name":"a.example","valid_until_ts":1,"verify_keys":{"rsa:1":{"key":"`+cur.PublicBase64()+`"}}}`, cur), ErrMalformed},
		"empty key name": {mustSign(t, `{"server_name":"a.example","valid_until_ts":1,"verify_keys":{"ed25519:":{"key":"`+cur.PublicBase64()+`"}}}`, cur), ErrMalformed},
	}
	for name, c := range bad {
		server := "a.example"
		if name == "other server" {
			server = "c.example"
		}
		if _, err := ParseServerKeys(c.raw, server); !errors.Is(err, c.reason) {
			t.Errorf("%s: %v, want %v", name, err, c.reason)
		}
	}
	// A key of an unknown algorithm is ignored, not fatal.
	mixed := `{"server_name":"a.example","valid_until_ts":1,"verify_keys":{"` + cur.ID() + `":{"key":"` + cur.PublicBase64() + `"},"rsa:1":{"key":"x"}}}`
	if d, err := ParseServerKeys(mustSign(t, mixed, cur), "a.example"); err != nil || len(d.VerifyKeys) != 1 {
		t.Errorf("unknown algorithm: %+v %v", d, err)
	}
	// A second current key must sign too.
	two := `{"server_name":"a.example","valid_until_ts":1,"verify_keys":{"` + cur.ID() + `":{"key":"` + cur.PublicBase64() +
		`"},"` + old.ID() + `":{"key":"` + old.PublicBase64() + `"}}}`
	if _, err := ParseServerKeys(mustSign(t, two, cur), "a.example"); !errors.Is(err, ErrBadSignature) {
		t.Errorf("document signed by one of two keys: %v", err)
	}
	both, _ := SignJSON(mustSign(t, two, cur), "a.example", old)
	if _, err := ParseServerKeys(both, "a.example"); err != nil {
		t.Errorf("document signed by both keys: %v", err)
	}
}

func mustSign(t *testing.T, doc string, k *vault.SigningKey) []byte {
	t.Helper()
	b, err := SignJSON([]byte(doc), "a.example", k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckClock(t *testing.T) {
	t.Parallel()
	now := time.UnixMilli(1_800_000_000_000)
	for ts, ok := range map[int64]bool{now.UnixMilli(): true, now.Add(-48 * time.Hour).UnixMilli(): true,
		now.Add(time.Minute).UnixMilli(): true, now.Add(10 * time.Minute).UnixMilli(): false} {
		if err := CheckClock(ts, now, 5*time.Minute); (err == nil) != ok {
			t.Errorf("ts %s: %v", strconv.FormatInt(ts-now.UnixMilli(), 10), err)
		}
	}
}

func TestTransaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var events []*Event
	for i := range 2 {
		e, err := SignEvent(f.cur, NewEvent{Type: "m.text", Sender: "@alice:a.example", Recipient: "@bob:b.example",
			Time: f.now, Content: map[string]any{"n": i}})
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	body, err := BuildTransaction("a.example", f.now, events)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := f.v.ParseTransaction("a.example", body)
	if err != nil || len(tx.Events) != 2 || tx.OriginServerTS != f.now.UnixMilli() {
		t.Fatalf("parse: %+v %v", tx, err)
	}
	for i, raw := range tx.Events {
		e, err := f.v.VerifyTransactionEvent(ctx, tx, raw)
		if err != nil || e.EventID != events[i].EventID {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	// An event of c.example, validly signed by c.example, relayed by a.example.
	f.v.Keys.(*StaticKeys).Add("c.example", f.stranger.ID(), VerifyKey{Key: f.stranger.Public()})
	relayed := forge(t, with(with(with(baseFields(f.now), "sender", "@carol:c.example"), "origin", "c.example"),
		"conversation_id", DMConversationID("@carol:c.example", "@bob:b.example")), f.stranger, "c.example")
	if _, err := f.v.VerifyEvent(ctx, relayed); err != nil {
		t.Fatalf("c.example's own event: %v", err)
	}
	if _, err := f.v.VerifyTransactionEvent(ctx, tx, relayed); !errors.Is(err, ErrWrongOrigin) {
		t.Fatalf("relayed event accepted: %v", err)
	}
	if _, err := BuildTransaction("c.example", f.now, events); !errors.Is(err, ErrWrongOrigin) {
		t.Fatalf("built with another server's events: %v", err)
	}
	many := make([]*Event, MaxTransactionEvents+1)
	for i := range many {
		many[i] = events[0]
	}
	if _, err := BuildTransaction("a.example", f.now, many); !errors.Is(err, ErrMalformed) {
		t.Fatalf("51 events built: %v", err)
	}
	manyRaw := `{"origin":"a.example","origin_server_ts":1,"events":[` + strings.Repeat(`{},`, MaxTransactionEvents) + `{}]}`
	bad := map[string]struct {
		origin, body string
		reason       error
	}{
		"other origin":   {"c.example", string(body), ErrWrongOrigin},
		"future":         {"a.example", `{"origin":"a.example","origin_server_ts":` + strconv.FormatInt(f.now.Add(time.Hour).UnixMilli(), 10) + `,"events":[]}`, ErrClock},
		"51 events":      {"a.example", manyRaw, ErrMalformed},
		"events object":  {"a.example", `{"origin":"a.example","origin_server_ts":1,"events":{}}`, ErrMalformed},
		"no events":      {"a.example", `{"origin":"a.example","origin_server_ts":1}`, ErrMalformed},
		"float":          {"a.example", `{"origin":"a.example","origin_server_ts":1.5,"events":[]}`, ErrBadJSON},
		"duplicate keys": {"a.example", `{"origin":"a.example","origin":"a.example","origin_server_ts":1,"events":[]}`, ErrBadJSON},
	}
	for name, c := range bad {
		if _, err := f.v.ParseTransaction(c.origin, []byte(c.body)); !errors.Is(err, c.reason) {
			t.Errorf("%s: %v, want %v", name, err, c.reason)
		}
	}
	for id, ok := range map[string]bool{"t1": true, "1700000000000.5": true, "a~b_c-d": true, "": false, "a/b": false, "a b": false, strings.Repeat("x", 256): false} {
		if ValidTxnID(id) != ok {
			t.Errorf("ValidTxnID(%q) != %v", id, ok)
		}
	}
}
