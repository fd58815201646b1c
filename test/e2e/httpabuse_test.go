package e2e

// Abuse of the HTTP surface, against the real binary: big bodies, password
// guessing, look-alike names, ambiguous JSON, the admin surface, and paths
// that are not there (issue 9).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/client"
	"github.com/crypttalk/crypttalk/internal/testenv"
)

// rawResponse is what rawRequest read back.
type rawResponse struct {
	status  int
	header  http.Header
	close   bool // Connection: close
	errcode string
}

// rawRequest writes head (request line and headers, without the blank
// line) and then prefix of the body on a fresh connection, and reads the
// answer within 10 s without sending anything more. rest, if not nil, is
// written after the answer came, ignoring errors: the server may have
// closed the connection, and must not have waited for it.
func rawRequest(t *testing.T, n *testenv.Node, head string, prefix []byte, rest func(io.Writer)) rawResponse {
	t.Helper()
	r, err := tryRawRequest(n, head, prefix, rest)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryRawRequest is rawRequest for goroutines other than the test's.
func tryRawRequest(n *testenv.Node, head string, prefix []byte, rest func(io.Writer)) (rawResponse, error) {
	conn, err := net.DialTimeout("tcp", n.Addr, 5*time.Second)
	if err != nil {
		return rawResponse{}, err
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\n\r\n"); err != nil {
		return rawResponse{}, err
	}
	if _, err := conn.Write(prefix); err != nil {
		return rawResponse{}, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawResponse{}, fmt.Errorf("no answer before the rest of the body was sent (the server waits for the whole body): %w", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	var e struct {
		Errcode string `json:"errcode"`
	}
	_ = json.Unmarshal(b, &e)
	if rest != nil {
		_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		rest(conn)
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, close: resp.Close, errcode: e.Errcode}, nil
}

// hugeLoginHead announces a login body of size bytes.
func hugeLoginHead(n *testenv.Node, size int) string {
	return "POST /api/auth/login HTTP/1.1\r\nHost: " + n.Addr + "\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(size)
}

// loginBody is a login body of exactly size bytes.
func loginBody(size int) []byte {
	const head, tail = `{"username":"alice","password":"`, `"}`
	return append(append([]byte(head), bytes.Repeat([]byte("p"), size-len(head)-len(tail))...), tail...)
}

// vmRSS is the resident set size of the crypttalkd serving n, from
// /proc/PID/status; the process is found by its listen address.
func vmRSS(t *testing.T, n *testenv.Node) int64 {
	t.Helper()
	pid := nodePID(t, n)
	b, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

func nodePID(t *testing.T, n *testenv.Node) string {
	t.Helper()
	want := []byte("CRYPTTALK_LISTEN=" + n.Addr + "\x00")
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err == nil && bytes.Contains(env, want) {
			if exe, _ := os.Readlink(filepath.Join(d, "exe")); strings.HasSuffix(exe, "crypttalkd") {
				return filepath.Base(d)
			}
		}
	}
	t.Skipf("cannot find the crypttalkd process of %s in /proc", n.Addr)
	return ""
}

// TestHTTPAbuseJSONBodyLimit: JSON routes, login included, refuse a body
// over 64 KiB with 413 before reading it, so unauthenticated clients cannot
// make the node hold their bodies (16 parallel 11 MiB logins took it from
// 82 to 571 MiB).
func TestHTTPAbuseJSONBodyLimit(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	// Just under the old 11 MiB body limit, which JSON routes used to read.
	const huge = 11<<20 - 4<<10
	body := loginBody(huge)
	// fasthttp reads the first 8 KiB of a body before any handler runs.
	const sent = 8 << 10

	t.Run("Content-Length over the limit", func(t *testing.T) {
		r := rawRequest(t, n, hugeLoginHead(n, huge), body[:sent], nil)
		if r.status != 413 || r.errcode != "CT_TOO_LARGE" {
			t.Fatalf("got %d %s, want 413 CT_TOO_LARGE", r.status, r.errcode)
		}
		if !r.close {
			t.Fatal("connection kept open with the body unread: the rest would be read as the next request")
		}
	})
	t.Run("chunked body over the limit", func(t *testing.T) {
		head := "POST /api/auth/register HTTP/1.1\r\nHost: " + n.Addr + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
		// One chunk just over the limit, complete with its CRLF, and no
		// last chunk: the server must not wait for the end of the body.
		chunk := append(append([]byte(fmt.Sprintf("%x\r\n", 64<<10+1)), body[:64<<10+1]...), "\r\n"...)
		if r := rawRequest(t, n, head, chunk, nil); r.status != 413 || r.errcode != "CT_TOO_LARGE" {
			t.Fatalf("got %d %s, want 413 CT_TOO_LARGE", r.status, r.errcode)
		}
	})
	t.Run("a client that writes its whole body still reads the 413", func(t *testing.T) {
		// The server answers before reading and closes; without a
		// lingering close the client's unread-data reset would destroy
		// the answer while the client is still writing.
		for range 3 {
			resp, err := http.Post(n.URL()+"/api/auth/login", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatalf("11 MiB login: %v, want a 413 answer", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 413 {
				t.Fatalf("11 MiB login: %d, want 413", resp.StatusCode)
			}
		}
	})
	t.Run("a body within the limit is read", func(t *testing.T) {
		resp, err := http.Post(n.URL()+"/api/auth/login", "application/json", bytes.NewReader(loginBody(60<<10)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("60 KiB login: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("16 parallel 11 MiB logins", func(t *testing.T) {
		before := vmRSS(t, n)
		var wg sync.WaitGroup
		statuses := make([]int, 16)
		errs := make([]error, 16)
		for i := range statuses {
			wg.Go(func() {
				r, err := tryRawRequest(n, hugeLoginHead(n, huge), body[:sent], func(w io.Writer) { _, _ = w.Write(body[sent:]) })
				statuses[i], errs[i] = r.status, err
			})
		}
		wg.Wait()
		after := vmRSS(t, n)
		t.Logf("crypttalkd VmRSS before %d MiB, after %d MiB", before>>20, after>>20)
		for i, s := range statuses {
			if s != 413 {
				t.Errorf("request %d: %d (%v), want 413", i, s, errs[i])
			}
		}
		if grew := after - before; grew > 50<<20 {
			t.Fatalf("VmRSS grew by %d MiB (from %d MiB), want at most 50", grew>>20, before>>20)
		}
	})
}

// loginFrom posts a login as if from the client address xff (the node must
// trust 127.0.0.1 as a proxy) and returns the status.
func loginFrom(t *testing.T, n *testenv.Node, name, password, xff string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": name, "password": password})
	req, _ := http.NewRequest("POST", n.URL()+"/api/auth/login", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	return resp.StatusCode
}

// TestHTTPAbuseLoginLockout: a stranger's ten wrong passwords block the
// stranger, not the owner logging in from her own address.
func TestHTTPAbuseLoginLockout(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_SERVER_TRUSTED_PROXIES=127.0.0.1"}})
	_, owner := newUser(t, n, "owner")
	const stranger, home = "203.0.113.66", "198.51.100.7"
	for i := range 10 {
		if got := loginFrom(t, n, owner.Username, "guess "+strconv.Itoa(i), stranger); got != 401 {
			t.Fatalf("stranger's guess %d: %d, want 401", i+1, got)
		}
	}
	if got := loginFrom(t, n, owner.Username, "guess 11", stranger); got != 429 {
		t.Fatalf("stranger's 11th guess: %d, want 429", got)
	}
	if got := loginFrom(t, n, owner.Username, "correct horse battery", home); got != 200 {
		t.Fatalf("owner from her own address after the stranger's guesses: %d, want 200", got)
	}
}

// TestHTTPAbuseLimiterRedisDown: with Redis gone the login limit holds on
// the node's own limiter instead of failing open.
func TestHTTPAbuseLimiterRedisDown(t *testing.T) {
	t.Parallel()
	redis := testenv.StartRedis(t)
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"REDIS_URL=" + redis.URL()}})
	_, u := newUser(t, n, "redisdown")
	redis.Stop()
	for i := range 10 {
		if got := loginFrom(t, n, u.Username, "guess", ""); got != 401 {
			t.Fatalf("guess %d with Redis down: %d, want 401", i+1, got)
		}
	}
	if got := loginFrom(t, n, u.Username, "guess", ""); got != 429 {
		t.Fatalf("11th guess with Redis down: %d, want 429 (the limit failed open)", got)
	}
}

// postRaw posts body as JSON with token and returns status and errcode.
func postRaw(t *testing.T, n *testenv.Node, path, token string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.URL()+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Errcode string `json:"errcode"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Errcode
}

// TestHTTPAbuseNamesAndJSON: look-alike names reach no account; ambiguous
// or non-UTF-8 JSON is refused; the page may connect to its own origin only.
func TestHTTPAbuseNamesAndJSON(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	alice := client.New(n.URL())
	if _, err := alice.Register(ctxT(t), "alice", "alice@example.org", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	kate := client.New(n.URL())
	if _, err := kate.Register(ctxT(t), "kate", "kate@example.org", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	_, bob := newUser(t, n, "bob")
	for _, name := range []string{"ALİCE", "\u212Aate"} {
		_, err := client.New(n.URL()).Register(ctxT(t), name, "x"+strconv.Itoa(len(name))+"@example.org", "correct horse battery")
		apiErr(t, err, 400, "CT_INVALID")
		_, err = client.New(n.URL()).Login(ctxT(t), name, "correct horse battery")
		apiErr(t, err, 401, "CT_UNAUTHORIZED")
		_, err = alice.AddMsg(ctxT(t), "@"+name+":localhost", "to a look-alike", "")
		apiErr(t, err, 404, "CT_NOT_FOUND")
	}

	cases := map[string][]byte{
		"keys differing in case": []byte(`{"to":"` + bob.UserID + `","TO":"@kate:localhost","message":"which one?"}`),
		"invalid UTF-8":          []byte("{\"to\":\"" + bob.UserID + "\",\"message\":\"caf\xe9\"}"),
		"lone surrogate":         []byte(`{"to":"` + bob.UserID + `","message":"\udc00"}`),
	}
	for name, body := range cases {
		if status, code := postRaw(t, n, "/api/messages/addmsg", alice.Token, body); status != 400 || code != "CT_BAD_JSON" {
			t.Errorf("addmsg with %s: %d %s, want 400 CT_BAD_JSON", name, status, code)
		}
	}
	if status, code := postRaw(t, n, "/api/auth/login", "", []byte("{\"username\":\"alice\",\"password\":\"\xff\xfe\"}")); status != 400 || code != "CT_BAD_JSON" {
		t.Errorf("login with invalid UTF-8: %d %s, want 400 CT_BAD_JSON", status, code)
	}
	// The same rule on the socket: a send-msg whose data names "to" twice.
	ws := rawSocket(t, n, nil)
	_ = ws.WriteJSON(map[string]any{"event": "auth", "data": map[string]any{"token": alice.Token}})
	if f := readFrame(t, ws); f.Event != "ready" {
		t.Fatalf("auth: %s", f.Event)
	}
	_ = ws.WriteMessage(1, []byte(`{"event":"send-msg","id":"dup","data":{"to":"`+bob.UserID+`","TO":"@kate:localhost","msg":"which one?"}}`))
	for {
		f := readFrame(t, ws)
		if f.Event == "ack" {
			t.Fatal("send-msg with \"to\" and \"TO\" was acknowledged")
		}
		if f.Event == "error" {
			var e struct {
				Errcode string `json:"errcode"`
			}
			if json.Unmarshal(f.Data, &e) != nil || e.Errcode != "CT_BAD_JSON" {
				t.Fatalf("send-msg with duplicate keys: error %s, want CT_BAD_JSON", f.Data)
			}
			break
		}
	}
	if msgs, err := kate.GetMsg(ctxT(t), client.GetMsgRequest{To: "@alice:localhost"}); err != nil || len(msgs) != 0 {
		t.Errorf("kate got %d messages (%v), want none", len(msgs), err)
	}

	resp, err := http.Get(n.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	var connect string
	for _, d := range strings.Split(csp, ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "connect-src ") {
			connect = d
		}
	}
	if connect != "connect-src 'self'" {
		t.Fatalf("CSP %q: want connect-src 'self' alone", csp)
	}
}

// getStatus GETs url with an optional bearer token.
func getStatus(t *testing.T, url, bearer string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), resp.Header
}

// TestHTTPAbuseAdminSurface: with an admin listener the admin API and pprof
// exist only there; /metrics is open there and needs the admin token on the
// public listener; wrong admin tokens are rate-limited.
func TestHTTPAbuseAdminSurface(t *testing.T) {
	t.Parallel()
	admin := testenv.FreePort(t)
	const token = "admin-token-abuse-0123456789"
	n := testenv.StartNode(t, testenv.NodeConfig{Env: []string{"CRYPTTALK_ADMIN_LISTEN=" + admin, "CRYPTTALK_ADMIN_TOKEN=" + token}})
	adminURL := "http://" + admin
	for _, path := range []string{"/_admin/v1/users", "/_admin/v1/health", "/debug/pprof/", "/debug/pprof/heap"} {
		status, body, _ := getStatus(t, n.URL()+path, token)
		if status != 404 || !strings.Contains(body, `"CT_NOT_FOUND"`) {
			t.Errorf("public %s with the admin token: %d %.100s, want a JSON 404", path, status, body)
		}
	}
	if status, _, _ := getStatus(t, adminURL+"/_admin/v1/users", token); status != 200 {
		t.Errorf("admin listener /_admin/v1/users: %d, want 200", status)
	}
	if status, _, _ := getStatus(t, adminURL+"/debug/pprof/", token); status != 200 {
		t.Errorf("admin listener pprof: %d, want 200", status)
	}
	if status, _, _ := getStatus(t, adminURL+"/metrics", ""); status != 200 {
		t.Errorf("admin listener /metrics without a token: %d, want 200", status)
	}
	if status, _, _ := getStatus(t, n.URL()+"/metrics", token); status != 200 {
		t.Errorf("public /metrics with the admin token: %d, want 200", status)
	}
	// Guessing the token: ten wrong ones are 401, then 429 on both
	// listeners, even for the right token, until the budget refills.
	for i := range 10 {
		if status, _, _ := getStatus(t, adminURL+"/_admin/v1/users", "wrong-token-"+strconv.Itoa(i)); status != 401 {
			t.Fatalf("wrong admin token %d: %d, want 401", i+1, status)
		}
	}
	status, _, h := getStatus(t, adminURL+"/_admin/v1/users", "wrong-token-11")
	if status != 429 || h.Get("Retry-After") == "" {
		t.Fatalf("11th wrong admin token: %d (Retry-After %q), want 429 with Retry-After", status, h.Get("Retry-After"))
	}
	if status, _, _ := getStatus(t, n.URL()+"/metrics", "wrong-token-12"); status != 429 {
		t.Fatalf("public /metrics after the guesses: %d, want 429", status)
	}
}

// TestHTTPAbuseUnknownPaths: only the client's page and files answer 200;
// anything else is the contract's JSON 404.
func TestHTTPAbuseUnknownPaths(t *testing.T) {
	t.Parallel()
	n := testenv.StartNode(t, testenv.NodeConfig{})
	for _, path := range []string{"/", "/app.js", "/app.css"} {
		if status, _, _ := getStatus(t, n.URL()+path, ""); status != 200 {
			t.Errorf("GET %s: %d, want 200", path, status)
		}
	}
	for _, path := range []string{"/healthzz", "/health", "/ready", "/login", "/static/app.js", "/_crypttalk/nope", "/metricz", "/.env", "/../../etc/passwd", "/app.js/x"} {
		status, body, h := getStatus(t, n.URL()+path, "")
		var e struct {
			Status  bool   `json:"status"`
			Errcode string `json:"errcode"`
			Msg     string `json:"msg"`
		}
		if status != 404 || json.Unmarshal([]byte(body), &e) != nil || e.Status || e.Errcode != "CT_NOT_FOUND" || e.Msg == "" {
			t.Errorf("GET %s: %d %q (%s), want a JSON 404 CT_NOT_FOUND", path, status, body, h.Get("Content-Type"))
		}
	}
}
