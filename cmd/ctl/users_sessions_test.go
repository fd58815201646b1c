package main

import (
	"context"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/client"
)

// TestCtlUsersSessionsShowsDevices: the table and the JSON name each
// device, its name, when and from where it was last seen; a name a client
// chose cannot break the table's lines; an unknown user is exit 1.
func TestCtlUsersSessionsShowsDevices(t *testing.T) {
	t.Parallel()
	n, srv := startNode(t)
	c := newCtl(t)
	ctx := context.Background()
	register(t, n, "gina")
	phone := client.New(n.URL())
	if _, _, err := phone.LoginDevice(ctx, "gina", "long enough pw", "GINAPHONE", "Gina's phone"); err != nil {
		t.Fatal(err)
	}
	var ss []client.Session
	c.jsonOut(srv, adminToken, &ss, "users", "sessions", "gina")
	if len(ss) != 2 {
		t.Fatalf("sessions = %+v", ss)
	}
	var found bool
	for _, s := range ss {
		if s.DeviceID == "" || s.LastIP != "127.0.0.1" || s.LastSeenAt.IsZero() || s.UserAgent == "" || s.Expired {
			t.Fatalf("session = %+v", s)
		}
		if s.DeviceID == "GINAPHONE" {
			found = s.DisplayName == "Gina's phone"
		}
	}
	if !found {
		t.Fatalf("GINAPHONE missing or unnamed: %+v", ss)
	}
	out := c.ok(srv, adminToken, "users", "sessions", "@gina:localhost")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "LAST_SEEN") || !strings.Contains(out, "GINAPHONE") ||
		!strings.Contains(out, "Gina's phone") || !strings.Contains(out, "127.0.0.1") {
		t.Fatalf("table:\n%s", out)
	}
	if code, msg := c.code(srv, adminToken, "users", "sessions", "nobody-here"); code != 1 || msg == "" {
		t.Fatalf("unknown user: exit %d, %q", code, msg)
	}
}

func TestCtlCell(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"": "-", " ": "-", "a\tb\nc": "a b c", "Pixel 📱": "Pixel 📱"} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
