package matrix

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/store"
)

func TestSyncTokenRoundTrip(t *testing.T) {
	t.Parallel()
	in := &syncToken{direct: 0xdeadbeef, at: 1764650000000, rooms: map[string]roomPos{
		"abcd-f_h": {seq: 0, flags: flagInvited},
		"ABCDEFGH": {seq: 1 << 40, flags: flagPeerInv},
		"01234567": {seq: 7},
		"zzzzzzzz": {seq: 9, read: 8},
	}}
	enc := in.encode()
	if url.QueryEscape(enc) != enc {
		t.Fatalf("token %q needs escaping in a URL", enc)
	}
	out, ok := parseSince(enc)
	if !ok || out.direct != in.direct || out.at != in.at || len(out.rooms) != 4 {
		t.Fatalf("round trip: %+v %v", out, ok)
	}
	for k, v := range in.rooms {
		if out.rooms[k] != v {
			t.Fatalf("room %s: %+v, want %+v", k, out.rooms[k], v)
		}
	}
	empty, ok := parseSince((&syncToken{at: 1, rooms: map[string]roomPos{}}).encode())
	if !ok || len(empty.rooms) != 0 {
		t.Fatalf("a user with no rooms still gets a valid token: %+v %v", empty, ok)
	}
}

func TestSyncTokenRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "s72_1", syncPrefix, syncPrefix + "1", syncPrefix + "1.2~", syncPrefix + "1.2~ab", syncPrefix + "1.2~ab.-1",
		syncPrefix + "1.2~ab.1.9", syncPrefix + "1.2~ab.1.0.-1", syncPrefix + "1.2~ab.1.0.1.1", syncPrefix + "1.-2", syncPrefix + "1.2~.1", syncPrefix + "zzzzzzzzzzzzzz.1"} {
		if _, ok := parseSince(s); ok {
			t.Errorf("parseSince(%q) accepted", s)
		}
	}
}

func TestTimelineLimit(t *testing.T) {
	t.Parallel()
	cases := map[string]int{
		"":                                    20,
		`{"room":{"timeline":{"limit":5}}}`:   5,
		`{"room":{"timeline":{"limit":0}}}`:   1,
		`{"room":{"timeline":{"limit":1e9}}}`: 100,
		`{"room":`:                            20,
		"f" + "eyJyb29tIjp7InRpbWVsaW5lIjp7ImxpbWl0IjozfX19": 3, // {"room":{"timeline":{"limit":3}}}
		"0": 20, // another server's filter id
	}
	for f, want := range cases {
		if got := timelineLimit(f); got != want {
			t.Errorf("timelineLimit(%q) = %d, want %d", f, got, want)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{chat.Unauthorized("x"), 401, "M_UNKNOWN_TOKEN"},
		{chat.Forbidden("x"), 403, "M_FORBIDDEN"},
		{chat.NotFound("x"), 404, "M_NOT_FOUND"},
		{chat.RateLimited(1500 * time.Millisecond), 429, "M_LIMIT_EXCEEDED"},
		{chat.BadJSON("x"), 400, "M_BAD_JSON"},
		{chat.Invalid("x"), 400, "M_INVALID_PARAM"},
		{chat.TooLarge("x"), 413, "M_TOO_LARGE"},
		{&chat.Error{Status: 403, Code: chat.CodeDeactivated}, 403, "M_USER_DEACTIVATED"},
		{errors.New("boom"), 500, "M_UNKNOWN"},
	}
	for _, c := range cases {
		e := toMatrix(c.err)
		if e.status != c.status || e.code != c.code {
			t.Errorf("%v -> %d %s, want %d %s", c.err, e.status, e.code, c.status, c.code)
		}
	}
	if e := toMatrix(chat.RateLimited(1500 * time.Millisecond)); e.retryMS != 1500 {
		t.Errorf("retry_after_ms %d, want 1500", e.retryMS)
	}
}

func TestPositionTokens(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"t", "t-1", "x5", "t1x"} {
		if _, ok := parsePos(s); ok {
			t.Errorf("parsePos(%q) accepted", s)
		}
	}
	if n, ok := parsePos(posToken(42)); !ok || n != 42 {
		t.Errorf("round trip: %d %v", n, ok)
	}
}

func TestTypingGate(t *testing.T) {
	t.Parallel()
	var g typingGate
	t0 := time.Unix(1000, 0)
	steps := []struct {
		typing bool
		after  time.Duration
		want   bool
	}{
		{false, 0, false},                    // a stop nobody started
		{true, 0, true},                      // start
		{true, 10 * time.Millisecond, false}, // repeat
		{false, 20 * time.Millisecond, true}, // a stop always passes
		{true, 30 * time.Millisecond, false}, // a restart too soon
		{true, 600 * time.Millisecond, true},
	}
	for i, s := range steps {
		if got := g.pass("a\x00b", s.typing, t0.Add(s.after)); got != s.want {
			t.Fatalf("step %d (%v at %v): %v, want %v", i, s.typing, s.after, got, s.want)
		}
	}
	if !g.pass("a\x00c", true, t0) {
		t.Fatal("pairs are gated apart")
	}
}

// TestSyncTokenSize bounds the token of a user with many conversations:
// it travels in every /sync URL.
func TestSyncTokenSize(t *testing.T) {
	t.Parallel()
	tok := &syncToken{direct: 1 << 31, rooms: map[string]roomPos{}}
	for i := range 100 {
		tok.rooms[fmt.Sprintf("k%07d", i)] = roomPos{seq: 1_000_000 + int64(i), flags: 0}
	}
	s := tok.encode()
	t.Logf("100 rooms at seq ~1e6: %d bytes", len(s))
	if len(s) > 1600 {
		t.Fatalf("token of 100 rooms is %d bytes", len(s))
	}
}

// TestQuietRoomsLeaveTheToken: a room quiet for syncWindow is not in the
// token, and what is new in it is told by time.
func TestQuietRoomsLeaveTheToken(t *testing.T) {
	t.Parallel()
	at := time.Unix(1_700_000_000, 0)
	tok := &syncToken{at: at.UnixMilli(), rooms: map[string]roomPos{roomKey("!recentroom"): {seq: 9}}}
	recent := &store.Conversation{ID: "!recentroom", CreatedAt: at.Add(-time.Hour)}
	quiet := &store.Conversation{ID: "!quietroom1", CreatedAt: at.Add(-time.Hour)}
	fresh := &store.Conversation{ID: "!freshroom1", CreatedAt: at.Add(-time.Minute)}
	if p, _, known := tok.seen(recent); !known || p.seq != 9 {
		t.Fatalf("recent room: %+v %v", p, known)
	}
	if p, after, known := tok.seen(quiet); !known || p.seq != -1 || !after.Equal(at.Add(-syncWindow)) {
		t.Fatalf("quiet room: %+v %v %v", p, after, known)
	}
	if _, _, known := tok.seen(fresh); known {
		t.Fatal("a room created after the token's window is new")
	}
	var none *syncToken
	if _, _, known := none.seen(recent); known {
		t.Fatal("initial sync knows nothing")
	}
}

func TestParseTimeout(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{"": 0, "0": 0, "30000": 30 * time.Second, "9000000000000000000": maxTimeout}
	for in, want := range good {
		if got, err := parseTimeout(in); err != nil || got != want {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "1e3", "+5", "1.5", "99999999999999999999"} {
		if _, err := parseTimeout(in); err == nil {
			t.Errorf("parseTimeout(%q) accepted", in)
		}
	}
}
