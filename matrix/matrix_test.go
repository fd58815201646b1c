package matrix

import (
	"errors"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
)

func TestSyncTokenRoundTrip(t *testing.T) {
	t.Parallel()
	in := &syncToken{direct: 0xdeadbeef, rooms: map[string]roomPos{
		"abcdefghij": {seq: 0, flags: flagInvited},
		"ABCDEFGHIJ": {seq: 1 << 40, flags: flagPeerInv},
	}}
	out, ok := parseSince(in.encode())
	if !ok || out.direct != in.direct || len(out.rooms) != 2 {
		t.Fatalf("round trip: %+v %v", out, ok)
	}
	for k, v := range in.rooms {
		if out.rooms[k] != v {
			t.Fatalf("room %s: %+v, want %+v", k, out.rooms[k], v)
		}
	}
	empty, ok := parseSince((&syncToken{rooms: map[string]roomPos{}}).encode())
	if !ok || len(empty.rooms) != 0 {
		t.Fatalf("a user with no rooms still gets a valid token: %+v %v", empty, ok)
	}
}

func TestSyncTokenRefusesGarbage(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "s72_1", syncPrefix + "!!!", syncPrefix + "MDth", syncPrefix + "MDthLC0xLDA", syncPrefix + "MDthLDE"} {
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
