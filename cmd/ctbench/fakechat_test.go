package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/crypttalk/crypttalk/wire"
)

// fakeChat is a small in-memory homeserver speaking the parts of the
// contract ctbench uses, with faults to switch on, so the tests can check
// that the tool finds what it claims to find.
type fakeChat struct {
	dropEvery   int  // skip every n-th delivery to a recipient
	dupEvery    int  // send every n-th delivery to a recipient twice
	ignoreSince bool // replay whole conversations on resume

	mu         sync.Mutex
	users      map[string]*fakeUser // by token and by user_id
	convs      map[string][]fakeMsg
	deliveries int
	scripts    sync.WaitGroup
}

type fakeUser struct {
	id, userID, token string
	sessions          map[*fakeSession]bool
}

// fakeSession is one socket; its fields are guarded by fakeChat.mu.
type fakeSession struct {
	out  chan []byte
	dead bool
}

// send queues a frame; a full queue cuts the session, like the real
// server's slow-consumer rule.
func (s *fakeSession) send(b []byte) {
	if s.dead {
		return
	}
	select {
	case s.out <- b:
	default:
		s.kill()
	}
}

func (s *fakeSession) kill() {
	if !s.dead {
		s.dead = true
		close(s.out)
	}
}

// fakeMsg is the contract's message shape, shared with the real server.
type fakeMsg = wire.Message

func startFakeChat(t *testing.T, f *fakeChat) string {
	t.Helper()
	f.users, f.convs = map[string]*fakeUser{}, map[string][]fakeMsg{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/auth/register", f.register)
	mux.HandleFunc("POST /api/messages/addmsg", f.addmsg)
	mux.HandleFunc("POST /api/messages/getmsg", f.getmsg)
	mux.HandleFunc("GET /ws", f.ws)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); f.scripts.Wait() })
	return srv.URL
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeChat) register(w http.ResponseWriter, r *http.Request) {
	var b struct{ Username string }
	if json.NewDecoder(r.Body).Decode(&b) != nil || b.Username == "" {
		writeJSON(w, 400, map[string]any{"status": false, "errcode": "CT_INVALID", "msg": "username"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := &fakeUser{id: "id-" + b.Username, userID: "@" + strings.ToLower(b.Username) + ":test", token: "tok-" + b.Username, sessions: map[*fakeSession]bool{}}
	if f.users[u.userID] != nil {
		writeJSON(w, 409, map[string]any{"status": false, "errcode": "CT_USER_IN_USE", "msg": "taken"})
		return
	}
	f.users[u.token], f.users[u.userID] = u, u
	writeJSON(w, 200, map[string]any{"status": true, "token": u.token, "user": map[string]any{"_id": u.id, "user_id": u.userID, "username": b.Username}})
}

// caller authenticates a REST request; it answers 401 itself.
func (f *fakeChat) caller(w http.ResponseWriter, r *http.Request) *fakeUser {
	f.mu.Lock()
	u := f.users[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	f.mu.Unlock()
	if u == nil {
		writeJSON(w, 401, map[string]any{"status": false, "errcode": "CT_UNAUTHORIZED", "msg": "token"})
	}
	return u
}

func (f *fakeChat) addmsg(w http.ResponseWriter, r *http.Request) {
	var b struct{ To, Message string }
	u := f.caller(w, r)
	if u == nil || json.NewDecoder(r.Body).Decode(&b) != nil {
		return
	}
	m, ok := f.store(u, b.To, b.Message)
	if !ok {
		writeJSON(w, 404, map[string]any{"status": false, "errcode": "CT_NOT_FOUND", "msg": "to"})
		return
	}
	writeJSON(w, 200, map[string]any{"status": true, "msg": m})
}

func (f *fakeChat) getmsg(w http.ResponseWriter, r *http.Request) {
	var b struct {
		To        string `json:"to"`
		BeforeSeq int64  `json:"before_seq"`
		Limit     int    `json:"limit"`
	}
	u := f.caller(w, r)
	if u == nil || json.NewDecoder(r.Body).Decode(&b) != nil {
		return
	}
	f.mu.Lock()
	var page []fakeMsg
	for _, m := range f.convs[convID(u.userID, b.To)] {
		if b.BeforeSeq == 0 || m.Seq < b.BeforeSeq {
			page = append(page, m)
		}
	}
	f.mu.Unlock()
	page = page[max(0, len(page)-b.Limit):]
	writeJSON(w, 200, page)
}

func convID(a, b string) string {
	p := []string{a, b}
	sort.Strings(p)
	return "!" + p[0] + "|" + p[1]
}

// store appends a message and fans it out to every session of both users.
func (f *fakeChat) store(from *fakeUser, to, text string) (fakeMsg, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	peer := f.users[to]
	if peer == nil {
		return fakeMsg{}, false
	}
	conv := convID(from.userID, peer.userID)
	m := fakeMsg{Seq: int64(len(f.convs[conv]) + 1), ConversationID: conv, From: from.userID, To: peer.userID, Type: "text", Message: text, CreatedAt: time.Now()}
	m.ID = conv + "/" + string(rune('0'+m.Seq%10))
	f.convs[conv] = append(f.convs[conv], m)
	for s := range from.sessions {
		f.push(s, m, true, false)
	}
	for s := range peer.sessions {
		f.deliveries++
		if f.dropEvery > 0 && f.deliveries%f.dropEvery == 0 {
			continue
		}
		f.push(s, m, false, f.dupEvery > 0 && f.deliveries%f.dupEvery == 0)
	}
	m.FromSelf = true
	return m, true
}

// push queues a message event, twice if asked. Called with f.mu held.
func (f *fakeChat) push(s *fakeSession, m fakeMsg, fromSelf, twice bool) {
	m.FromSelf = fromSelf
	b, _ := json.Marshal(map[string]any{"event": "msg-recieve", "data": m})
	s.send(b)
	if twice {
		s.send(b)
	}
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (f *fakeChat) ws(w http.ResponseWriter, r *http.Request) {
	f.scripts.Add(1)
	defer f.scripts.Done()
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	u, s := f.auth(c)
	if u == nil {
		return
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for b := range s.out {
			if c.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		}
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "slow"), time.Now().Add(time.Second))
	}()
	f.serve(c, u, s)
	f.mu.Lock()
	delete(u.sessions, s)
	s.kill()
	f.mu.Unlock()
	<-writerDone
}

// auth reads the auth frame, answers ready, replays after since and
// registers the session, all under the lock so that no live message
// slips between replay and live.
func (f *fakeChat) auth(c *websocket.Conn) (*fakeUser, *fakeSession) {
	var fr struct {
		Data struct {
			Token string           `json:"token"`
			Since map[string]int64 `json:"since"`
		} `json:"data"`
	}
	if c.ReadJSON(&fr) != nil {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u := f.users[fr.Data.Token]
	if u == nil || u.token != fr.Data.Token {
		_ = c.WriteJSON(map[string]any{"event": "error", "data": map[string]any{"errcode": "CT_UNAUTHORIZED", "msg": "token", "status": 401}})
		return nil, nil
	}
	s := &fakeSession{out: make(chan []byte, 8192)}
	ready, _ := json.Marshal(map[string]any{"event": "ready", "data": map[string]any{"_id": u.id, "user_id": u.userID}})
	s.out <- ready
	for conv, after := range fr.Data.Since {
		if f.ignoreSince {
			after = 0
		}
		for _, m := range f.convs[conv] {
			if m.Seq > after {
				f.push(s, m, m.From == u.userID, false)
			}
		}
	}
	u.sessions[s] = true
	return u, s
}

// serve answers send-msg (and acks anything else) until the socket ends.
func (f *fakeChat) serve(c *websocket.Conn, u *fakeUser, s *fakeSession) {
	for {
		var fr struct {
			Event string          `json:"event"`
			ID    json.RawMessage `json:"id"`
			Data  struct{ To, Msg string }
		}
		if c.ReadJSON(&fr) != nil {
			return
		}
		var data any = map[string]any{}
		if fr.Event == "send-msg" {
			m, ok := f.store(u, fr.Data.To, fr.Data.Msg)
			if !ok {
				continue
			}
			data = m
		}
		if len(fr.ID) > 0 {
			b, _ := json.Marshal(map[string]any{"event": "ack", "id": fr.ID, "data": data})
			f.mu.Lock()
			s.send(b)
			f.mu.Unlock()
		}
	}
}
