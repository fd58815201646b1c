package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// seen is one request the fake REST server received.
type seen struct {
	Method, Path, RawQuery, Auth, ContentType string
	Body                                      string
}

// fakeREST answers every request with status and body (and header h) and
// records what it received.
func fakeREST(t *testing.T, status int, body string, h http.Header) (*Client, *[]seen) {
	t.Helper()
	var got []seen
	var mu sync.Mutex // the handler runs on the server's goroutines
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(b)})
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return New(srv.URL + "/"), &got
}

func TestRegisterKeepsTokenAndSendsIt(t *testing.T) {
	c, got := fakeREST(t, 200, `{"status":true,"token":"T0K","user":{"_id":"u1","user_id":"@alice:test","username":"alice","email":"a@x","isAvatarImageSet":false,"online":true}}`, nil)
	u, err := c.Register(testCtx(t), "alice", "a@x", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if c.Token != "T0K" || u.UserID != "@alice:test" || u.ID != "u1" || u.Email != "a@x" || !u.Online {
		t.Fatalf("token %q user %+v", c.Token, u)
	}
	if _, err := c.Me(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	r := *got
	if r[0].Method != "POST" || r[0].Path != "/api/auth/register" || r[0].Auth != "" || r[0].ContentType != "application/json" {
		t.Fatalf("register request %+v", r[0])
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(r[0].Body), &body); err != nil || body["username"] != "alice" || body["email"] != "a@x" || body["password"] != "pw" {
		t.Fatalf("register body %s", r[0].Body)
	}
	if r[1].Method != "GET" || r[1].Path != "/api/auth/me" || r[1].Auth != "Bearer T0K" || r[1].Body != "" {
		t.Fatalf("me request %+v", r[1])
	}
}

func TestLogoutForgetsTokenOnlyOnSuccess(t *testing.T) {
	c, _ := fakeREST(t, 401, `{"status":false,"errcode":"CT_UNAUTHORIZED","msg":"no"}`, nil)
	c.Token = "old"
	if err := c.Logout(testCtx(t)); err == nil || c.Token != "old" {
		t.Fatalf("failed logout: err %v token %q", err, c.Token)
	}
	c, _ = fakeREST(t, 200, `{"status":true}`, nil)
	c.Token = "old"
	if err := c.Logout(testCtx(t)); err != nil || c.Token != "" {
		t.Fatalf("logout: err %v token %q", err, c.Token)
	}
}

func TestAPIErrors(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		h         http.Header
		code, msg string
		retry     time.Duration
	}{
		{"contract error", 409, `{"status":false,"errcode":"CT_USER_IN_USE","msg":"taken"}`, nil, "CT_USER_IN_USE", "taken", 0},
		{"rate limited", 429, `{"status":false,"errcode":"CT_RATE_LIMITED","msg":"slow down"}`, http.Header{"Retry-After": {"7"}}, "CT_RATE_LIMITED", "slow down", 7 * time.Second},
		{"negative retry-after ignored", 429, `{"errcode":"CT_RATE_LIMITED"}`, http.Header{"Retry-After": {"-3"}}, "CT_RATE_LIMITED", "", 0},
		{"proxy page", 502, "<html>bad gateway</html>", nil, "", "<html>bad gateway</html>", 0},
		{"long foreign body is cut", 500, strings.Repeat("x", 5000), nil, "", strings.Repeat("x", 200), 0},
		{"JSON without errcode", 400, `{"error":"nope"}`, nil, "", `{"error":"nope"}`, 0},
		{"empty body", 503, "", nil, "", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := fakeREST(t, tc.status, tc.body, tc.h)
			err := c.Do(testCtx(t), "GET", "/x", nil, nil)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("want *APIError, got %T %v", err, err)
			}
			if ae.Status != tc.status || ae.Errcode != tc.code || ae.Msg != tc.msg || ae.RetryAfter != tc.retry {
				t.Fatalf("got %+v", ae)
			}
			if Errcode(err) != tc.code || !strings.Contains(err.Error(), "HTTP") {
				t.Fatalf("Errcode %q, Error %q", Errcode(err), err)
			}
		})
	}
}

func TestRetryAfterDate(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now); d != 90*time.Second {
		t.Fatalf("date: %v", d)
	}
	for _, v := range []string{"", "soon", now.Add(-time.Hour).Format(http.TimeFormat)} {
		if d := retryAfter(v, now); d != 0 {
			t.Fatalf("%q: %v", v, d)
		}
	}
	if Errcode(errors.New("plain")) != "" || Errcode(nil) != "" {
		t.Fatal("Errcode of a non-API error")
	}
}

func TestDoBodies(t *testing.T) {
	c, got := fakeREST(t, 200, `{}`, nil)
	ctx := testCtx(t)
	for _, body := range []any{[]byte(`{"to":`), json.RawMessage(`[1,2]`), strings.NewReader("not json")} {
		if err := c.Do(ctx, "POST", "/raw", body, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{`{"to":`, `[1,2]`, "not json"}
	for i, w := range want {
		if (*got)[i].Body != w {
			t.Fatalf("body %d sent as %q, want %q", i, (*got)[i].Body, w)
		}
	}
	if err := c.Do(ctx, "POST", "/bad", map[string]any{"c": make(chan int)}, nil); err == nil || len(*got) != 3 {
		t.Fatalf("unencodable body: err %v, %d requests sent", err, len(*got))
	}
	if err := c.Do(ctx, "GET", "/x", nil, nil); err != nil || (*got)[3].ContentType != "" {
		t.Fatalf("no body must send no content type: %v %+v", err, (*got)[3])
	}
}

func TestDoBadAnswers(t *testing.T) {
	c, _ := fakeREST(t, 200, `{"user":`, nil)
	_, err := c.Me(testCtx(t))
	var ae *APIError
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "decode answer") {
		t.Fatalf("truncated JSON: %v", err)
	}
	c, _ = fakeREST(t, 200, strings.Repeat(" ", maxAnswer+1), nil)
	if err := c.Do(testCtx(t), "GET", "/big", nil, nil); !errors.Is(err, ErrAnswerTooLarge) {
		t.Fatalf("huge answer: %v", err)
	}
	c, _ = fakeREST(t, 204, ``, nil)
	var out []Message
	if err := c.Do(testCtx(t), "GET", "/empty", nil, &out); err != nil || out != nil {
		t.Fatalf("empty 204: %v %v", err, out)
	}
}

func TestDoTransportErrors(t *testing.T) {
	c, _ := fakeREST(t, 200, `{}`, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Do(ctx, "GET", "/x", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if err := New("http://127.0.0.1:1").Do(testCtx(t), "GET", "/x", nil, nil); err == nil || !strings.Contains(err.Error(), "GET /x") {
		t.Fatalf("refused connection: %v", err)
	}
	if err := New("::bad").Do(testCtx(t), "GET", "/x", nil, nil); err == nil {
		t.Fatal("bad base URL accepted")
	}
}

func TestRequestShapes(t *testing.T) {
	c, got := fakeREST(t, 200, `[]`, nil)
	ctx := testCtx(t)
	mustNil := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.AllUsers(ctx, "@bob:b.example", "a b&c", "", 10)
	mustNil(err)
	_, err = c.AllUsers(ctx, "u/1", "", "", 0)
	mustNil(err)
	_, err = c.GetMsg(ctx, GetMsgRequest{To: "@bob:b"})
	mustNil(err)
	_, err = c.GetMsg(ctx, GetMsgRequest{To: "@bob:b", BeforeSeq: 9, AfterSeq: 2, Limit: 200})
	mustNil(err)
	_, err = c.Conversations(ctx)
	mustNil(err)
	want := []seen{
		{Method: "GET", Path: "/api/auth/allusers/@bob:b.example", RawQuery: "limit=10&q=a+b%26c"},
		{Method: "GET", Path: "/api/auth/allusers/u%2F1"},
		{Method: "POST", Path: "/api/messages/getmsg", Body: `{"to":"@bob:b"}`},
		{Method: "POST", Path: "/api/messages/getmsg", Body: `{"to":"@bob:b","before_seq":9,"after_seq":2,"limit":200}`},
		{Method: "GET", Path: "/api/conversations"},
	}
	for i, w := range want {
		g := (*got)[i]
		if g.Method != w.Method || g.Path != w.Path || g.RawQuery != w.RawQuery || g.Body != w.Body {
			t.Errorf("request %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestAddMsgAndTimer(t *testing.T) {
	c, got := fakeREST(t, 200, `{"status":true,"msg":{"_id":"m1","seq":3,"conversation_id":"!c","from":"@a:t","to":"@b:t","fromSelf":true,"type":"text","message":"hi","createdAt":"2030-01-02T03:04:05Z","expiresAt":"2030-01-02T03:05:05Z"},"seconds":60,"mode":"after_send"}`, nil)
	ctx := testCtx(t)
	m, err := c.AddMsg(ctx, "@b:t", "hi", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 3 || !m.FromSelf || m.CreatedAt.Year() != 2030 || m.ExpiresAt == nil || m.File != nil {
		t.Fatalf("message %+v", m)
	}
	if _, err := c.AddMsg(ctx, "@b:t", "hi", "txn-1"); err != nil {
		t.Fatal(err)
	}
	tm, err := c.SetTimer(ctx, "@b:t", Timer{Seconds: 60, Mode: TimerAfterSend})
	if err != nil || tm.Seconds != 60 || tm.Mode != TimerAfterSend {
		t.Fatalf("timer %+v %v", tm, err)
	}
	if err := c.DeleteConversation(ctx, "@b:t"); err != nil {
		t.Fatal(err)
	}
	bodies := []string{`{"to":"@b:t","message":"hi"}`, `{"to":"@b:t","message":"hi","txn_id":"txn-1"}`, `{"seconds":60,"mode":"after_send"}`, ``}
	paths := []string{"/api/messages/addmsg", "/api/messages/addmsg", "/api/conversations/@b:t/timer", "/api/conversations/@b:t"}
	for i := range bodies {
		if g := (*got)[i]; g.Body != bodies[i] || g.Path != paths[i] {
			t.Errorf("request %d: %s %s", i, g.Path, g.Body)
		}
	}
}

func TestConversationsDecode(t *testing.T) {
	c, _ := fakeREST(t, 200, `[{"conversation_id":"!c","peer":{"_id":"u2","user_id":"@b:t","username":"b"},"last_message":null,"unread":2,"last_seq":5,"read_seq":3,"timer":{"seconds":0}}]`, nil)
	convs, err := c.Conversations(testCtx(t))
	if err != nil || len(convs) != 1 {
		t.Fatalf("%v %v", convs, err)
	}
	cv := convs[0]
	if cv.LastMessage != nil || cv.Unread != 2 || cv.Peer.UserID != "@b:t" || cv.LastSeq != 5 || cv.ReadSeq != 3 || cv.Timer.Seconds != 0 {
		t.Fatalf("conversation %+v", cv)
	}
}

func TestZeroClientWorks(t *testing.T) {
	c, _ := fakeREST(t, 200, `{"status":true}`, nil)
	bare := &Client{BaseURL: c.BaseURL}
	if err := bare.Do(testCtx(t), "GET", "/x", nil, nil); err != nil {
		t.Fatalf("client without HTTP: %v", err)
	}
}

func TestWithBaseKeepsToken(t *testing.T) {
	c := New("http://a/")
	c.Token = "t"
	d := WithBase(c, "http://b/")
	if d.BaseURL != "http://b" || d.Token != "t" || c.BaseURL != "http://a" {
		t.Fatalf("%+v %+v", c, d)
	}
}

func TestLoginAndAvatar(t *testing.T) {
	c, _ := fakeREST(t, 401, `{"status":false,"errcode":"CT_UNAUTHORIZED","msg":"wrong"}`, nil)
	if u, err := c.Login(testCtx(t), "alice", "bad"); u != nil || Errcode(err) != "CT_UNAUTHORIZED" || c.Token != "" {
		t.Fatalf("bad login: %v %v token %q", u, err, c.Token)
	}
	c, got := fakeREST(t, 200, `{"status":true,"token":"T","user":{"user_id":"@alice:t"},"isSet":true,"image":"data:image/png;base64,AA"}`, nil)
	if u, err := c.Login(testCtx(t), "alice", "good"); err != nil || u.UserID != "@alice:t" || c.Token != "T" {
		t.Fatalf("login: %v %v", u, err)
	}
	if err := c.SetAvatar(testCtx(t), "@alice:t", "AA=="); err != nil {
		t.Fatal(err)
	}
	r := *got
	if r[0].Path != "/api/auth/login" || r[0].Body != `{"password":"good","username":"alice"}` {
		t.Fatalf("login request %+v", r[0])
	}
	if r[1].Path != "/api/auth/setavatar/@alice:t" || r[1].Body != `{"image":"AA=="}` || r[1].Auth != "Bearer T" {
		t.Fatalf("avatar request %+v", r[1])
	}
}
