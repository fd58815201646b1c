package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/store"
)

var deviceCases = []testCase{
	{"Fields", testDeviceFields},
	{"LegacyRecord", testDeviceLegacy},
	{"GetDevice", testGetDevice},
	{"RenameDevice", testRenameDevice},
	{"DeleteDevice", testDeleteDevice},
	{"TouchSession", testTouchSession},
}

func putDevice(t *testing.T, s store.Store, hash, user, device string, created time.Time) *store.Session {
	t.Helper()
	sess := &store.Session{TokenHash: hash, UserID: user, DeviceID: device, CreatedAt: created, ExpiresAt: created.Add(time.Hour), LastSeenAt: created}
	must(t, s.PutSession(t.Context(), sess))
	return sess
}

func testDeviceFields(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := &store.Session{
		TokenHash: "h1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		DeviceID: "ABCDEFGHIJ", DisplayName: "Alice’s phone 📱", LastSeenAt: t0.Add(time.Minute),
		LastIP: "2001:db8::1", UserAgent: "mautrix-go/0.26",
	}
	must(t, s.PutSession(ctx, in))
	got, err := s.GetSession(ctx, "h1")
	must(t, err)
	if got.DeviceID != in.DeviceID || got.DisplayName != in.DisplayName || !got.LastSeenAt.Equal(in.LastSeenAt) ||
		got.LastIP != in.LastIP || got.UserAgent != in.UserAgent || !got.CreatedAt.Equal(t0) {
		t.Fatalf("GetSession = %+v, want %+v", got, in)
	}
	list, err := s.ListUserSessions(ctx, "u1")
	must(t, err)
	if len(list) != 1 || list[0].DeviceID != in.DeviceID || list[0].DisplayName != in.DisplayName || list[0].LastIP != in.LastIP {
		t.Fatalf("ListUserSessions = %+v", list)
	}
}

// A session stored before sessions had devices reads with the id the
// Matrix adapter always showed for its token, everywhere.
func testDeviceLegacy(t *testing.T, s store.Store) {
	ctx := t.Context()
	hash := "0123456789abcdef0123456789abcdef"
	putSession(t, s, hash, "u1")
	const want = "CT0123456789"
	if got := store.LegacyDeviceID(hash); got != want {
		t.Fatalf("LegacyDeviceID = %q, want %q", got, want)
	}
	got, err := s.GetSession(ctx, hash)
	must(t, err)
	if got.DeviceID != want || got.DisplayName != "" || !got.LastSeenAt.IsZero() || got.LastIP != "" {
		t.Fatalf("old record = %+v", got)
	}
	list, err := s.ListUserSessions(ctx, "u1")
	must(t, err)
	if len(list) != 1 || list[0].DeviceID != want {
		t.Fatalf("ListUserSessions = %+v", list)
	}
	d, err := s.GetDevice(ctx, "u1", want)
	must(t, err)
	if d.TokenHash != hash {
		t.Fatalf("GetDevice(legacy) = %+v", d)
	}
	must(t, s.RenameDevice(ctx, "u1", want, "old laptop"))
	d, err = s.GetDevice(ctx, "u1", want)
	must(t, err)
	if d.DeviceID != want || d.DisplayName != "old laptop" {
		t.Fatalf("renamed legacy device = %+v", d)
	}
	hashes, err := s.DeleteDevice(ctx, "u1", want)
	must(t, err)
	if !slices.Equal(hashes, []string{hash}) {
		t.Fatalf("DeleteDevice(legacy) = %v", hashes)
	}
	_, err = s.GetSession(ctx, hash)
	wantErr(t, err, store.ErrNotFound, "deleted legacy device's token")
}

func testGetDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	putDevice(t, s, "a1", "u1", "DEVA", t0)
	putDevice(t, s, "a2", "u1", "DEVB", t0)
	putDevice(t, s, "b1", "u2", "DEVC", t0)
	got, err := s.GetDevice(ctx, "u1", "DEVA")
	must(t, err)
	if got.TokenHash != "a1" || got.UserID != "u1" {
		t.Fatalf("GetDevice = %+v", got)
	}
	for _, c := range [][2]string{{"u2", "DEVA"}, {"u1", "DEVC"}, {"u1", "deva"}, {"u1", "nope"}, {"u1", ""}, {"", "DEVA"}, {"nobody", "DEVA"}} {
		_, err := s.GetDevice(ctx, c[0], c[1])
		wantErr(t, err, store.ErrNotFound, "GetDevice("+c[0]+", "+c[1]+")")
	}
	// Two logins of one device that raced: the newer session is the device.
	putDevice(t, s, "a3", "u1", "DEVA", t0.Add(time.Minute))
	got, err = s.GetDevice(ctx, "u1", "DEVA")
	must(t, err)
	if got.TokenHash != "a3" {
		t.Fatalf("GetDevice after a second session = %s, want the newer a3", got.TokenHash)
	}
}

func testRenameDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	putDevice(t, s, "a1", "u1", "DEVA", t0)
	putDevice(t, s, "b1", "u2", "DEVA", t0) // another user may have the same id
	must(t, s.RenameDevice(ctx, "u1", "DEVA", "Laptop — Firefox"))
	got, err := s.GetDevice(ctx, "u1", "DEVA")
	must(t, err)
	if got.DisplayName != "Laptop — Firefox" || got.TokenHash != "a1" || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("renamed = %+v", got)
	}
	other, err := s.GetDevice(ctx, "u2", "DEVA")
	must(t, err)
	if other.DisplayName != "" {
		t.Fatalf("renaming u1's device renamed u2's: %+v", other)
	}
	wantErr(t, s.RenameDevice(ctx, "u1", "NOPE", "x"), store.ErrNotFound, "renaming an unknown device")
	wantErr(t, s.RenameDevice(ctx, "u3", "DEVA", "x"), store.ErrNotFound, "renaming another user's device")
	must(t, s.RenameDevice(ctx, "u1", "DEVA", ""))
	got, err = s.GetDevice(ctx, "u1", "DEVA")
	must(t, err)
	if got.DisplayName != "" {
		t.Fatalf("cleared name = %q", got.DisplayName)
	}
}

func testDeleteDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	putDevice(t, s, "a1", "u1", "DEVA", t0)
	putDevice(t, s, "a2", "u1", "DEVA", t0.Add(time.Second)) // a raced second login
	putDevice(t, s, "a3", "u1", "DEVB", t0)
	putDevice(t, s, "b1", "u2", "DEVA", t0)
	hashes, err := s.DeleteDevice(ctx, "u1", "DEVA")
	must(t, err)
	slices.Sort(hashes)
	if !slices.Equal(hashes, []string{"a1", "a2"}) {
		t.Fatalf("DeleteDevice = %v, want [a1 a2]", hashes)
	}
	for _, h := range []string{"a1", "a2"} {
		_, err := s.GetSession(ctx, h)
		wantErr(t, err, store.ErrNotFound, "token of the deleted device")
	}
	for _, h := range []string{"a3", "b1"} {
		if _, err := s.GetSession(ctx, h); err != nil {
			t.Fatalf("token %s of another device went too: %v", h, err)
		}
	}
	_, err = s.DeleteDevice(ctx, "u1", "DEVA")
	wantErr(t, err, store.ErrNotFound, "deleting a deleted device")
	_, err = s.DeleteDevice(ctx, "u3", "DEVB")
	wantErr(t, err, store.ErrNotFound, "deleting another user's device")
	_, err = s.DeleteDevice(ctx, "u1", "")
	wantErr(t, err, store.ErrNotFound, "deleting an empty device id")
	list, err := s.ListUserSessions(ctx, "u1")
	must(t, err)
	if len(list) != 1 || list[0].TokenHash != "a3" {
		t.Fatalf("ListUserSessions after DeleteDevice = %+v", list)
	}
	n, err := s.DeleteUserSessions(ctx, "u1")
	must(t, err)
	if n != 1 {
		t.Fatalf("DeleteUserSessions after DeleteDevice = %d, want 1", n)
	}
}

func testTouchSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	putDevice(t, s, "a1", "u1", "DEVA", t0)
	must(t, s.RenameDevice(ctx, "u1", "DEVA", "phone"))
	at := t0.Add(10 * time.Minute)
	must(t, s.TouchSession(ctx, "a1", at, "192.0.2.7", "Firefox/140"))
	got, err := s.GetSession(ctx, "a1")
	must(t, err)
	if !got.LastSeenAt.Equal(at) || got.LastIP != "192.0.2.7" || got.UserAgent != "Firefox/140" ||
		got.DisplayName != "phone" || got.DeviceID != "DEVA" || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.UserID != "u1" {
		t.Fatalf("touched = %+v", got)
	}
	// No address or agent to tell: the known ones stay.
	later := at.Add(10 * time.Minute)
	must(t, s.TouchSession(ctx, "a1", later, "", ""))
	got, err = s.GetSession(ctx, "a1")
	must(t, err)
	if !got.LastSeenAt.Equal(later) || got.LastIP != "192.0.2.7" || got.UserAgent != "Firefox/140" {
		t.Fatalf("touched without address = %+v", got)
	}
	wantErr(t, s.TouchSession(ctx, "nope", at, "x", "y"), store.ErrNotFound, "touching an unknown session")
	must(t, s.DeleteSession(ctx, "a1"))
	wantErr(t, s.TouchSession(ctx, "a1", at, "x", "y"), store.ErrNotFound, "touching a revoked session")
	if _, err := s.GetSession(ctx, "a1"); err == nil {
		t.Fatal("touching a revoked session brought it back")
	}
}
