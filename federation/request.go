package federation

import (
	"context"
	"crypto/ed25519"
	"strings"
	"time"

	"github.com/crypttalk/crypttalk/federation/canonicaljson"
	"github.com/crypttalk/crypttalk/vault"
)

// AuthScheme is the Authorization scheme of federation requests.
const AuthScheme = "X-CryptTalk"

// Request is what a federation request's signature covers.
type Request struct {
	Method      string // "PUT"
	URI         string // path and query exactly as sent: "/_crypttalk/federation/v1/send/t1"
	Origin      string // the sending server
	Destination string // the receiving server
	Content     []byte // the JSON body; nil or empty when there is none
}

// signedBytes is canonical({method, uri, origin, destination, content?}).
func (r Request) signedBytes() ([]byte, error) {
	o := object{
		"method":      quote(r.Method),
		"uri":         quote(r.URI),
		"origin":      quote(r.Origin),
		"destination": quote(r.Destination),
	}
	if len(strings.TrimSpace(string(r.Content))) > 0 {
		c, err := canonicaljson.Canonical(r.Content)
		if err != nil {
			return nil, badJSON(err)
		}
		o["content"] = c
	}
	return o.encode()
}

// Auth is the parsed X-CryptTalk Authorization header.
type Auth struct {
	Origin, Destination, Key, Sig string
}

// String is the header value, every parameter quoted:
// X-CryptTalk origin="a.example",destination="b.example",key="ed25519:k",sig="..."
func (a Auth) String() string {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return AuthScheme + " origin=" + q(a.Origin) + ",destination=" + q(a.Destination) +
		",key=" + q(a.Key) + ",sig=" + q(a.Sig)
}

// SignRequest signs r with key and returns the Authorization header value.
func SignRequest(key *vault.SigningKey, r Request) (string, error) {
	msg, err := r.signedBytes()
	if err != nil {
		return "", err
	}
	return Auth{Origin: r.Origin, Destination: r.Destination, Key: key.ID(), Sig: b64(key.Sign(msg))}.String(), nil
}

// ParseAuth reads an Authorization header value with the grammar of
// Matrix's X-Matrix (RFC 9110 auth-param list): the scheme (any case),
// one or more spaces, then name=value pairs separated by commas with
// optional spaces or tabs around them; names in any case and any order;
// a value either a token or a quoted string with backslash escapes.
// Empty list elements and unknown parameters are ignored; a parameter
// given twice, or a missing origin, destination, key or sig, is refused.
func ParseAuth(h string) (Auth, error) {
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, AuthScheme) {
		return Auth{}, unauthorized(ErrBadAuthHeader, "Authorization must use the "+AuthScheme+" scheme")
	}
	params := map[string]string{}
	s := strings.TrimLeft(rest, " ")
	for s != "" {
		// RFC 9110 lists may hold empty elements, which are skipped.
		if s[0] == ',' {
			s = strings.TrimLeft(s[1:], " \t")
			continue
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || !isToken(s[:eq]) {
			return Auth{}, unauthorized(ErrBadAuthHeader, "Authorization parameters must be name=value")
		}
		name := strings.ToLower(s[:eq])
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return Auth{}, unauthorized(ErrBadAuthHeader, "unterminated quoted value in Authorization")
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
			if !isToken(val) {
				return Auth{}, unauthorized(ErrBadAuthHeader, "a value that is not a token must be quoted")
			}
		}
		if _, dup := params[name]; dup {
			return Auth{}, unauthorized(ErrBadAuthHeader, "Authorization parameter "+name+" given twice")
		}
		params[name] = val
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return Auth{}, unauthorized(ErrBadAuthHeader, "Authorization parameters must be separated by commas")
		}
		s = strings.TrimLeft(s[1:], " \t")
	}
	a := Auth{Origin: params["origin"], Destination: params["destination"], Key: params["key"], Sig: params["sig"]}
	if a.Origin == "" || a.Destination == "" || a.Key == "" || a.Sig == "" {
		return Auth{}, unauthorized(ErrBadAuthHeader, "Authorization needs origin, destination, key and sig")
	}
	return a, nil
}

// isToken reports whether s is an RFC 9110 token (1*tchar).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// VerifyRequest checks an inbound request's Authorization header against
// method, uri and body, and returns the authenticated origin. It refuses
// (401 CT_UNAUTHORIZED) a header that does not parse, a destination that
// is not this server, an origin that claims to be this server, a key the
// origin does not own, a key not valid now (a current key past its cached
// bound, or an old key past its expired_ts, each with MaxSkew of grace),
// and a signature that does not verify; a body that is not acceptable
// JSON gets 400 CT_BAD_JSON.
func (v *Verifier) VerifyRequest(ctx context.Context, method, uri string, body []byte, header string) (string, error) {
	a, err := ParseAuth(header)
	if err != nil {
		return "", err
	}
	switch {
	case a.Destination != v.ServerName:
		return "", unauthorized(ErrWrongDestination, "request is for "+a.Destination+", this is "+v.ServerName)
	case a.Origin == v.ServerName:
		return "", unauthorized(ErrWrongOrigin, "request claims to come from this server")
	case !strings.HasPrefix(a.Key, "ed25519:"):
		return "", unauthorized(ErrUnknownKey, "only ed25519 keys are supported")
	}
	msg, err := Request{Method: method, URI: uri, Origin: a.Origin, Destination: a.Destination, Content: body}.signedBytes()
	if err != nil {
		return "", err
	}
	k, err := v.Keys.VerifyKey(ctx, a.Origin, a.Key)
	if err != nil {
		return "", unauthorized(ErrUnknownKey, "no key "+a.Key+" known for "+a.Origin)
	}
	if !k.validAt(v.now().Add(-v.skew()).UnixMilli()) {
		return "", unauthorized(ErrKeyExpired, "key "+a.Key+" of "+a.Origin+" is no longer valid")
	}
	sig, err := unb64(a.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize || len(k.Key) != ed25519.PublicKeySize || !ed25519.Verify(k.Key, msg, sig) {
		return "", unauthorized(ErrBadSignature, "request signature does not verify")
	}
	return a.Origin, nil
}

// CheckClock refuses a peer's timestamp (ms) more than maxSkew ahead of
// now, such as a transaction's origin_server_ts. Timestamps in the past
// are fine: a transaction may be retried long after it was made.
func CheckClock(ts int64, now time.Time, maxSkew time.Duration) error {
	if time.UnixMilli(ts).After(now.Add(maxSkew)) {
		return invalid(ErrClock, "timestamp is ahead of this server's clock by more than "+maxSkew.String())
	}
	return nil
}
