package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

func TestAccounts(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	c := client.New(n.URL())
	alice, err := c.Register(ctx, "Alice_1", "alice1@example.org", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if alice.UserID != "@alice_1:localhost" || alice.ID == "" || alice.Email != "alice1@example.org" {
		t.Fatalf("registered user %+v", alice)
	}

	t.Run("register refuses bad input", func(t *testing.T) {
		anon := client.New(n.URL())
		cases := []struct {
			name, user, email, pass string
			status                  int
			code                    string
		}{
			{"name taken (case-insensitively)", "ALICE_1", "x1@example.org", "long enough pw", 409, "CT_USER_IN_USE"},
			{"email taken", "alice2", "ALICE1@example.org", "long enough pw", 409, "CT_EMAIL_IN_USE"},
			{"short name", "ab", "x2@example.org", "long enough pw", 400, "CT_INVALID"},
			{"long name", strings.Repeat("a", 33), "x3@example.org", "long enough pw", 400, "CT_INVALID"},
			{"operator name", `{"$ne":1}`, "x4@example.org", "long enough pw", 400, "CT_INVALID"},
			{"sql name", "a' OR '1'='1", "x5@example.org", "long enough pw", 400, "CT_INVALID"},
			{"bad email", "carol", "not-an-email", "long enough pw", 400, "CT_INVALID"},
			{"short password", "carol", "c@example.org", "short", 400, "CT_INVALID"},
			{"huge password", "carol", "c@example.org", strings.Repeat("p", 1025), 400, "CT_INVALID"},
		}
		for _, tc := range cases {
			_, err := anon.Register(ctx, tc.user, tc.email, tc.pass)
			apiErr(t, err, tc.status, tc.code)
		}
	})

	t.Run("login", func(t *testing.T) {
		anon := client.New(n.URL())
		if _, err := anon.Login(ctx, "ALICE_1", "correct horse battery"); err != nil {
			t.Fatalf("login is case-insensitive on the name: %v", err)
		}
		_, errWrong := client.New(n.URL()).Login(ctx, "alice_1", "wrong password!")
		_, errUnknown := client.New(n.URL()).Login(ctx, "nobody_here", "wrong password!")
		apiErr(t, errWrong, 401, "CT_UNAUTHORIZED")
		apiErr(t, errUnknown, 401, "CT_UNAUTHORIZED")
		if errWrong.Error() != errUnknown.Error() {
			t.Fatalf("unknown user and wrong password answer differently: %q vs %q", errWrong, errUnknown)
		}
		_, err := client.New(n.URL()).Login(ctx, `{"$gt":""}`, "x")
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
	})

	t.Run("me, allusers and privacy", func(t *testing.T) {
		bob, bobUser := newUser(t, n, "bob")
		me, err := c.Me(ctx)
		if err != nil || me.UserID != alice.UserID || me.Email == "" {
			t.Fatalf("me: %+v %v", me, err)
		}
		users, err := bob.AllUsers(ctx, bobUser.ID, "alice_", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 1 || users[0].UserID != alice.UserID || users[0].Email != "" {
			t.Fatalf("search alice_: %+v", users)
		}
		all, err := bob.AllUsers(ctx, bobUser.UserID, "", "", 200)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range all {
			if u.ID == bobUser.ID {
				t.Fatal("allusers lists the caller")
			}
		}
		page, err := bob.AllUsers(ctx, bobUser.ID, "", "", 1)
		if err != nil || len(page) != 1 {
			t.Fatalf("page of 1: %v %v", page, err)
		}
		next, err := bob.AllUsers(ctx, bobUser.ID, "", strings.ToLower(page[0].Username), 1)
		if err != nil || (len(next) == 1 && next[0].ID == page[0].ID) {
			t.Fatalf("paging repeated a user: %v %v", next, err)
		}
		_, err = bob.AllUsers(ctx, alice.ID, "", "", 10)
		apiErr(t, err, 403, "CT_FORBIDDEN")
	})

	t.Run("avatar", func(t *testing.T) {
		img := pngDataURL(t)
		if err := c.SetAvatar(ctx, alice.ID, img); err != nil {
			t.Fatal(err)
		}
		me, _ := c.Me(ctx)
		if !me.IsAvatarImageSet || !strings.HasPrefix(me.AvatarImage, "data:image/png;base64,") {
			t.Fatalf("avatar not stored: %+v", me)
		}
		other, _ := newUser(t, n, "eve")
		apiErr(t, other.SetAvatar(ctx, alice.ID, img), 403, "CT_FORBIDDEN")
		apiErr(t, c.SetAvatar(ctx, alice.ID, "data:text/html;base64,"+base64.StdEncoding.EncodeToString([]byte("<script>x</script>"))), 415, "")
		svg := `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script><circle r="4"/></svg>`
		if err := c.SetAvatar(ctx, alice.UserID, "data:image/svg+xml;base64,"+base64.StdEncoding.EncodeToString([]byte(svg))); err != nil {
			t.Fatal(err)
		}
		me, _ = c.Me(ctx)
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(me.AvatarImage, "data:image/svg+xml;base64,"))
		if bytes.Contains(bytes.ToLower(raw), []byte("script")) || bytes.Contains(raw, []byte("onload")) || !bytes.Contains(raw, []byte("circle")) {
			t.Fatalf("SVG not sanitised: %s", raw)
		}
	})

	t.Run("no token, bad token, logout", func(t *testing.T) {
		_, err := client.New(n.URL()).Me(ctx)
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
		forged := client.New(n.URL())
		forged.Token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		_, err = forged.Me(ctx)
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
		d, _ := newUser(t, n, "dora")
		tok := d.Token
		if err := d.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		d.Token = tok
		_, err = d.Me(ctx)
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
	})

	t.Run("bad bodies", func(t *testing.T) {
		for name, body := range map[string]string{
			"malformed":  `{"username":`,
			"deep":       `{"username":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
			"array":      `[]`,
			"wrong type": `{"username":5,"email":"x@y.org","password":"long enough"}`,
		} {
			req, _ := http.NewRequest("POST", n.URL()+"/api/auth/register", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Errorf("%s body: status %d, want 400", name, resp.StatusCode)
			}
		}
	})
}

func pngDataURL(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestMessagesREST(t *testing.T) {
	n := testenv.StartNode(t, testenv.NodeConfig{})
	ctx := ctxT(t)
	alice, au := newUser(t, n, "alice")
	bob, bu := newUser(t, n, "bob")
	eve, _ := newUser(t, n, "eve")

	for i := 1; i <= 7; i++ {
		to := bu.UserID
		if i%2 == 0 {
			to = bu.ID // both id forms name the recipient
		}
		m, err := alice.AddMsg(ctx, to, fmt.Sprintf("hello %d", i), "")
		if err != nil {
			t.Fatal(err)
		}
		if m.From != au.UserID || m.To != bu.UserID || !m.FromSelf || m.Type != "text" || m.Seq <= 0 {
			t.Fatalf("message %+v", m)
		}
	}
	msgs, err := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[2].Message != "hello 7" || msgs[0].Message != "hello 5" || msgs[0].FromSelf {
		t.Fatalf("newest 3: %+v", msgs)
	}
	older, _ := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID, BeforeSeq: msgs[0].Seq, Limit: 50})
	if len(older) != 4 || older[0].Message != "hello 1" {
		t.Fatalf("before_seq: %d messages", len(older))
	}
	newer, _ := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID, AfterSeq: older[3].Seq, Limit: 2})
	if len(newer) != 2 || newer[0].Message != "hello 5" {
		t.Fatalf("after_seq: %+v", newer)
	}
	if none, _ := eve.GetMsg(ctx, client.GetMsgRequest{To: au.UserID}); len(none) != 0 {
		t.Fatal("a stranger sees someone else's conversation")
	}

	t.Run("txn_id replay stores once", func(t *testing.T) {
		a, err := alice.AddMsg(ctx, bu.UserID, "once", "txn-42")
		if err != nil {
			t.Fatal(err)
		}
		b, err := alice.AddMsg(ctx, bu.UserID, "once", "txn-42")
		if err != nil || b.ID != a.ID || b.Seq != a.Seq {
			t.Fatalf("replayed txn made another message: %+v %v", b, err)
		}
		all, _ := bob.GetMsg(ctx, client.GetMsgRequest{To: au.UserID, Limit: 200})
		count := 0
		for _, m := range all {
			if m.Message == "once" {
				count++
			}
		}
		if count != 1 {
			t.Fatalf("txn message stored %d times", count)
		}
	})

	t.Run("abuse", func(t *testing.T) {
		_, err := alice.AddMsg(ctx, bu.UserID, strings.Repeat("é", 8193), "") // 16386 bytes
		apiErr(t, err, 413, "CT_TOO_LARGE")
		_, err = alice.AddMsg(ctx, bu.UserID, strings.Repeat("x", 16384), "")
		if err != nil {
			t.Fatalf("exactly 16 KiB refused: %v", err)
		}
		_, err = alice.AddMsg(ctx, "@nobody:localhost", "hi", "")
		apiErr(t, err, 404, "CT_NOT_FOUND")
		_, err = alice.AddMsg(ctx, au.UserID, "me", "")
		apiErr(t, err, 400, "")
		_, err = alice.AddMsg(ctx, bu.UserID, "", "")
		apiErr(t, err, 400, "")
		err = alice.Do(ctx, "POST", "/api/messages/addmsg", map[string]any{"from": bu.UserID, "to": au.UserID, "message": "spoof"}, nil)
		apiErr(t, err, 403, "CT_FORBIDDEN")
		err = alice.Do(ctx, "POST", "/api/messages/getmsg", map[string]any{"from": bu.ID, "to": au.UserID}, nil)
		apiErr(t, err, 403, "CT_FORBIDDEN")
		err = alice.Do(ctx, "POST", "/api/messages/addmsg", map[string]any{"to": bu.UserID, "message": map[string]any{"$ne": 1}}, nil)
		apiErr(t, err, 400, "CT_BAD_JSON")
		err = client.New(n.URL()).Do(ctx, "POST", "/api/messages/addmsg", map[string]any{"to": bu.UserID, "message": "x"}, nil)
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
	})

	t.Run("conversations with unread counts", func(t *testing.T) {
		convs, err := bob.Conversations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(convs) != 1 || convs[0].Peer.UserID != au.UserID || convs[0].Unread < 8 || convs[0].LastMessage == nil {
			t.Fatalf("bob's conversations: %+v", convs)
		}
		mine, _ := alice.Conversations(ctx)
		if len(mine) != 1 || mine[0].Unread != 0 {
			t.Fatalf("alice's unread should be 0: %+v", mine)
		}
	})
}
