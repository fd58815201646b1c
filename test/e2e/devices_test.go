package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// socketClosed waits until the server closes conn and answers its code.
func socketClosed(t *testing.T, conn *client.Conn) int {
	t.Helper()
	closed := testenv.Poll(15*time.Second, func() bool {
		select {
		case _, open := <-conn.Events():
			return !open
		default:
			return false
		}
	})
	if !closed {
		t.Fatal("the socket is still open")
	}
	return conn.CloseCode()
}

func stillOpen(t *testing.T, conn *client.Conn, what string) {
	t.Helper()
	select {
	case _, open := <-conn.Events():
		if !open {
			t.Fatalf("%s: the socket was closed (code %d)", what, conn.CloseCode())
		}
	default:
	}
}

func findDevice(ds []client.Device, id string) *client.Device {
	for i := range ds {
		if ds[i].DeviceID == id {
			return &ds[i]
		}
	}
	return nil
}

// TestDevicesREST: every login is a device the owner can list, rename and
// delete; deleting one ends its token and its socket at once and leaves
// the others; another user's device is 404; ctl shows the devices.
func TestDevicesREST(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_ADMIN_TOKEN=" + e2eAdminToken}})
	ctx := ctxT(t)
	alice, au := newUser(t, n, "devices")
	laptop, phone := client.New(n.URL()), client.New(n.URL())
	if _, dev, err := laptop.LoginDevice(ctx, au.Username, "correct horse battery", "LAPTOP", "Laptop"); err != nil || dev != "LAPTOP" {
		t.Fatalf("login on LAPTOP: %q, %v", dev, err)
	}
	_, phoneID, err := phone.LoginDevice(ctx, au.Username, "correct horse battery", "", "")
	if err != nil || !regexp.MustCompile(`^[A-Z]{10}$`).MatchString(phoneID) {
		t.Fatalf("login without a device id: %q, %v (want ten upper-case letters)", phoneID, err)
	}
	ds, err := laptop.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Fatalf("devices = %+v, want registration + two logins", ds)
	}
	lp := findDevice(ds, "LAPTOP")
	if lp == nil || !lp.Current || lp.DisplayName != "Laptop" || lp.LastIP != "127.0.0.1" || lp.LastSeenAt.IsZero() || lp.UserAgent == "" {
		t.Fatalf("LAPTOP = %+v", lp)
	}
	if p := findDevice(ds, phoneID); p == nil || p.Current || p.LastSeenAt.IsZero() {
		t.Fatalf("phone = %+v", p)
	}
	var me struct {
		DeviceID string `json:"device_id"`
	}
	if err := phone.Do(ctx, http.MethodGet, "/api/auth/me", nil, &me); err != nil || me.DeviceID != phoneID {
		t.Fatalf("/api/auth/me device_id = %q, %v, want %q", me.DeviceID, err, phoneID)
	}
	var reg struct {
		Token    string `json:"token"`
		DeviceID string `json:"device_id"`
	}
	body := map[string]string{"username": au.Username + "x", "email": au.Username + "x@example.org", "password": "correct horse battery", "device_id": "FIRST", "device_name": "first"}
	if err := client.New(n.URL()).Do(ctx, http.MethodPost, "/api/auth/register", body, &reg); err != nil || reg.DeviceID != "FIRST" || reg.Token == "" {
		t.Fatalf("register on a named device: %+v, %v", reg, err)
	}
	body["username"], body["email"], body["device_id"] = "badname", "bad@example.org", "has space"
	apiErr(t, client.New(n.URL()).Do(ctx, http.MethodPost, "/api/auth/register", body, nil), 400, "CT_INVALID")
	apiErr(t, client.New(n.URL()).Do(ctx, http.MethodPost, "/api/auth/login", map[string]string{"username": au.Username, "password": "correct horse battery", "device_name": strings.Repeat("n", 101)}, nil), 400, "CT_INVALID")

	// Rename, and what renaming refuses.
	if d, err := laptop.RenameDevice(ctx, phoneID, "Pixel — 8 📱"); err != nil || d.DisplayName != "Pixel — 8 📱" {
		t.Fatalf("rename: %+v, %v", d, err)
	}
	_, err = laptop.RenameDevice(ctx, phoneID, strings.Repeat("a", 101))
	apiErr(t, err, 400, "CT_INVALID")
	err = laptop.Do(ctx, http.MethodPut, "/api/devices/"+phoneID, []byte("{\"display_name\":\"\xff\xfe\"}"), nil)
	apiErr(t, err, 400, "CT_BAD_JSON")
	err = laptop.Do(ctx, http.MethodPut, "/api/devices/"+phoneID, []byte(`{}`), nil)
	apiErr(t, err, 400, "CT_INVALID")
	_, err = laptop.RenameDevice(ctx, "NOPE", "x")
	apiErr(t, err, 404, "CT_NOT_FOUND")

	// Another user's device is not there for alice.
	bob := client.New(n.URL())
	_, bu := newUser(t, n, "devbob")
	if _, _, err := bob.LoginDevice(ctx, bu.Username, "correct horse battery", "BOBDEV", ""); err != nil {
		t.Fatal(err)
	}
	_, err = laptop.RenameDevice(ctx, "BOBDEV", "mine now")
	apiErr(t, err, 404, "CT_NOT_FOUND")
	apiErr(t, laptop.DeleteDevice(ctx, "BOBDEV"), 404, "CT_NOT_FOUND")
	if _, err := bob.Me(ctx); err != nil {
		t.Fatal("bob's token went with alice's attempt:", err)
	}
	apiErr(t, laptop.DeleteDevice(ctx, "NOPE"), 404, "CT_NOT_FOUND")
	apiErr(t, laptop.DeleteDevice(ctx, strings.Repeat("A", 65)), 404, "CT_NOT_FOUND")
	for _, path := range []string{"/api/devices/%FF%FE", "/api/devices/%00", "/api/devices/%E2%82"} {
		apiErr(t, laptop.Do(ctx, http.MethodDelete, path, nil, nil), 404, "CT_NOT_FOUND")
		apiErr(t, laptop.Do(ctx, http.MethodPut, path, map[string]string{"display_name": "x"}, nil), 404, "CT_NOT_FOUND")
	}
	for _, path := range []string{"/api/devices/", "/api/devices/%20"} {
		err := laptop.Do(ctx, http.MethodDelete, path, nil, nil)
		var e *client.APIError
		if !errors.As(err, &e) || (e.Status != 404 && e.Status != 405) {
			t.Fatalf("DELETE %s: %v, want 404 or 405", path, err)
		}
	}

	// ctl shows the devices with where they were last seen.
	out, msg, code := runCtl(t, "--server", n.URL(), "--token", e2eAdminToken, "users", "sessions", au.Username, "-o", "json")
	var ss []client.Session
	if code != 0 || json.Unmarshal([]byte(out), &ss) != nil {
		t.Fatalf("ctl users sessions: exit %d\n%s%s", code, out, msg)
	}
	var seen int
	for _, s := range ss {
		if s.DeviceID == "" || s.LastIP != "127.0.0.1" || s.LastSeenAt.IsZero() || strings.Contains(laptop.Token+phone.Token, s.ID) {
			t.Fatalf("ctl session = %+v", s)
		}
		if s.DeviceID == phoneID && s.DisplayName == "Pixel — 8 📱" {
			seen++
		}
	}
	if len(ss) != 3 || seen != 1 {
		t.Fatalf("ctl users sessions = %+v", ss)
	}
	out, msg, code = runCtl(t, "--server", n.URL(), "--token", e2eAdminToken, "users", "sessions", au.UserID)
	if code != 0 || !strings.Contains(out, "LAST_SEEN") || !strings.Contains(out, "LAPTOP") || !strings.Contains(out, "127.0.0.1") || !strings.Contains(out, "Pixel — 8 📱") {
		t.Fatalf("ctl users sessions (table): exit %d\n%s%s", code, out, msg)
	}

	// Deleting the phone ends its token and its socket, not the laptop's.
	phoneConn := connect(t, phone, nil)
	laptopConn := connect(t, laptop, nil)
	if err := laptop.DeleteDevice(ctx, phoneID); err != nil {
		t.Fatal(err)
	}
	if code := socketClosed(t, phoneConn); code != 4001 {
		t.Errorf("the deleted device's socket closed with %d, want 4001", code)
	}
	_, err = phone.Me(ctx)
	apiErr(t, err, 401, "CT_UNAUTHORIZED")
	if _, err := laptop.Me(ctx); err != nil {
		t.Fatal(err)
	}
	stillOpen(t, laptopConn, "another device of the same user")
	apiErr(t, laptop.DeleteDevice(ctx, phoneID), 404, "CT_NOT_FOUND")

	// Logging in again on LAPTOP: same device, new token; the old one and
	// its socket end.
	again := client.New(n.URL())
	if _, dev, err := again.LoginDevice(ctx, au.Username, "correct horse battery", "LAPTOP", ""); err != nil || dev != "LAPTOP" {
		t.Fatalf("re-login: %q, %v", dev, err)
	}
	socketClosed(t, laptopConn)
	_, err = laptop.Me(ctx)
	apiErr(t, err, 401, "CT_UNAUTHORIZED")
	ds, err = again.Devices(ctx)
	if err != nil || len(ds) != 2 || findDevice(ds, "LAPTOP") == nil || findDevice(ds, "LAPTOP").DisplayName != "Laptop" {
		t.Fatalf("after re-login: %+v, %v", ds, err)
	}
	// Logout deletes the device.
	if err := again.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	ds, err = alice.Devices(ctx)
	if err != nil || len(ds) != 1 || findDevice(ds, "LAPTOP") != nil || !ds[0].Current {
		t.Fatalf("after logout: %+v, %v", ds, err)
	}
}

// TestDevicesMatrix: mautrix-go's device calls. Login keeps the device id
// the client asks for; deleting a device needs the password again (the
// spec's user-interactive auth) and ends that device's token.
func TestDevicesMatrix(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	_, alice := newUser(t, n, "mxdev")
	_, bob := newUser(t, n, "mxdevbob")
	login := func(user, device string) *mautrix.Client {
		t.Helper()
		cli, err := mautrix.NewClient(n.URL(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Login(ctx, &mautrix.ReqLogin{
			Type: mautrix.AuthTypePassword, Password: "correct horse battery", StoreCredentials: true,
			Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: user},
			DeviceID:   id.DeviceID(device), InitialDeviceDisplayName: "mautrix " + device,
		})
		if err != nil {
			t.Fatal(err)
		}
		if device != "" && resp.DeviceID != id.DeviceID(device) {
			t.Fatalf("login answered device %q, want %q", resp.DeviceID, device)
		}
		return cli
	}
	a := login(alice.Username, "MXONE")
	a2 := login(alice.UserID, "MXTWO")
	b := login(bob.Username, "BOBMX")
	if who, err := a.Whoami(ctx); err != nil || who.DeviceID != "MXONE" {
		t.Fatalf("whoami = %+v, %v", who, err)
	}
	list, err := a.GetDevicesInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var one *mautrix.RespDeviceInfo
	for i := range list.Devices {
		if list.Devices[i].DeviceID == "MXONE" {
			one = &list.Devices[i]
		}
	}
	if len(list.Devices) != 3 || one == nil || one.DisplayName != "mautrix MXONE" || one.LastSeenIP != "127.0.0.1" || one.LastSeenTS == 0 {
		t.Fatalf("devices = %+v", list.Devices)
	}
	if err := a.SetDeviceInfo(ctx, "MXTWO", &mautrix.ReqDeviceInfo{DisplayName: "renamed"}); err != nil {
		t.Fatal(err)
	}
	if d, err := a.GetDeviceInfo(ctx, "MXTWO"); err != nil || d.DisplayName != "renamed" {
		t.Fatalf("GetDeviceInfo = %+v, %v", d, err)
	}
	for _, dev := range []id.DeviceID{"BOBMX", "NOPE"} {
		if _, err := a.GetDeviceInfo(ctx, dev); !errors.Is(err, mautrix.MNotFound) {
			t.Fatalf("GetDeviceInfo(%s) = %v, want M_NOT_FOUND", dev, err)
		}
	}
	if err := a.SetDeviceInfo(ctx, "MXTWO", &mautrix.ReqDeviceInfo{DisplayName: strings.Repeat("x", 101)}); err == nil {
		t.Fatal("a 101-character name was taken")
	}

	// Without auth: 401 with the flows; a wrong password: 401 M_FORBIDDEN
	// (raw requests: mautrix keeps no body of a 401).
	uia := func(body, errcode string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, n.URL()+"/_matrix/client/v3/devices/MXTWO", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Flows []struct {
				Stages []string `json:"stages"`
			} `json:"flows"`
			Session string `json:"session"`
			Errcode string `json:"errcode"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 401 || len(got.Flows) != 1 ||
			len(got.Flows[0].Stages) != 1 || got.Flows[0].Stages[0] != "m.login.password" || got.Session == "" || got.Errcode != errcode {
			t.Fatalf("DELETE with %s: %d %+v %v, want 401 asking for m.login.password (errcode %q)", body, resp.StatusCode, got, err, errcode)
		}
	}
	uia("", "")
	uia(`{}`, "")
	uia(`{"auth":{"type":"m.login.password","session":"s1","identifier":{"type":"m.id.user","user":"`+alice.UserID+`"},"password":"wrong password"}}`, "M_FORBIDDEN")
	uia(`{"auth":{"type":"m.login.dummy"}}`, "M_UNRECOGNIZED")
	// An auth dict that names another user is refused, whatever the password.
	if err := a.DeleteDevice(ctx, "MXTWO", &mautrix.ReqDeleteDevice[any]{Auth: mautrix.ReqUIAuthLogin{
		BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword}, User: bob.UserID, Password: "correct horse battery",
	}}); !errors.Is(err, mautrix.MForbidden) {
		t.Fatalf("auth naming another user: %v, want M_FORBIDDEN", err)
	}
	if err := a.DeleteDevice(ctx, "MXTWO", &mautrix.ReqDeleteDevice[any]{}); err == nil {
		t.Fatal("mautrix deleted a device without auth")
	}
	pw := func(password string) *mautrix.ReqDeleteDevice[any] {
		return &mautrix.ReqDeleteDevice[any]{Auth: mautrix.ReqUIAuthLogin{
			BaseAuthData: mautrix.BaseAuthData{Type: mautrix.AuthTypePassword, Session: "s1"}, User: alice.UserID, Password: password,
		}}
	}
	if err := a.DeleteDevice(ctx, "MXTWO", pw("wrong password")); err == nil {
		t.Fatal("a wrong password deleted a device")
	}
	if err := a.DeleteDevice(ctx, "BOBMX", pw("correct horse battery")); !errors.Is(err, mautrix.MNotFound) {
		t.Fatalf("deleting bob's device: %v, want M_NOT_FOUND", err)
	}
	if _, err := b.Whoami(ctx); err != nil {
		t.Fatal("bob's device went:", err)
	}
	if err := a.DeleteDevice(ctx, "MXTWO", pw("correct horse battery")); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Whoami(ctx); !errors.Is(err, mautrix.MUnknownToken) {
		t.Fatalf("the deleted device's token: %v, want M_UNKNOWN_TOKEN", err)
	}
	if _, err := a.GetDeviceInfo(ctx, "MXTWO"); !errors.Is(err, mautrix.MNotFound) {
		t.Fatalf("the deleted device is still listed: %v", err)
	}
	// Logout deletes the caller's device too.
	if _, err := a.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	bl, err := b.GetDevicesInfo(ctx)
	if err != nil || len(bl.Devices) != 2 {
		t.Fatalf("bob's devices = %+v, %v", bl, err)
	}
}
