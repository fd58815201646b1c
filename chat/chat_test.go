package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

// clock is an injectable, manually advanced clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *chat.Service
	st    *bolt.Store
	bus   *local.Bus
	clk   *clock
	dir   string
	users map[string]*chat.Principal
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, chat.Options{ServerName: "x", BcryptCost: 4}, nil)
}

// newEnvWith is newEnv with other options and, if non-nil, a rate limiter.
func newEnvWith(t *testing.T, opts chat.Options, limiter pubsub.Limiter) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := vault.ParseKeyring("v1:"+b64key(1), "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, bus: local.New(), clk: &clock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}, dir: dir, users: map[string]*chat.Principal{}}
	e.svc, err = chat.New(context.Background(), opts, chat.Deps{Store: st, Bus: e.bus, Keyring: ring, Clock: e.clk.Now, Limiter: limiter})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob", "eve"} {
		_, tok, err := e.svc.Register(context.Background(), chat.Credentials{Username: name, Email: name + "@x.org", Password: "long enough"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.svc.Authenticate(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = p
	}
	return e
}

func b64key(b byte) string {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b
	}
	return base64Std(k)
}

// events records what the bus carries to a user's topic.
func (e *env) events(t *testing.T, user string) func() []string {
	var mu sync.Mutex
	var got []string
	_, err := e.bus.Subscribe(context.Background(), pubsub.UserTopic(e.users[user].User.UserID), func(_ string, p []byte) {
		var ev struct {
			E string `json:"e"`
			M any    `json:"m"`
		}
		_ = json.Unmarshal(p, &ev)
		if ev.M != nil || (len(p) > 0 && p[0] == store.MessageRecordMagic) {
			ev.E = "message"
		}
		mu.Lock()
		got = append(got, ev.E)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

func (e *env) send(t *testing.T, from, to, text string) *chat.MessageView {
	t.Helper()
	m, err := e.svc.Send(context.Background(), e.users[from], chat.SendRequest{To: e.users[to].User.UserID, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) history(t *testing.T, who, peer string) []*chat.MessageView {
	t.Helper()
	ms, err := e.svc.History(context.Background(), e.users[who], chat.HistoryRequest{To: e.users[peer].User.UserID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func texts(ms []*chat.MessageView) []string {
	out := []string{}
	for _, m := range ms {
		if m.Type == store.TypeText {
			out = append(out, m.Message)
		}
	}
	return out
}

// eventually polls get until it holds want (bus delivery is asynchronous).
func eventually(get func() []string, want string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if contains(get(), want) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestTimerAfterSend(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bobEvents := e.events(t, "bob")
	e.send(t, "alice", "bob", "before the timer")
	tv, err := e.svc.SetTimer(ctx, e.users["alice"], chat.TimerRequest{Peer: "@bob:x", Seconds: 30, Mode: "after_send"})
	if err != nil || tv.Seconds != 30 {
		t.Fatal(tv, err)
	}
	if !eventually(bobEvents, chat.EventTimer) {
		t.Fatal("bob was not told about the timer")
	}
	m := e.send(t, "alice", "bob", "vanishing")
	if m.ExpiresAt == nil || !m.ExpiresAt.Equal(e.clk.Now().Add(30*time.Second)) {
		t.Fatalf("expiresAt %v", m.ExpiresAt)
	}
	e.clk.Advance(31 * time.Second)
	// Hidden at once, before any purge.
	if got := texts(e.history(t, "bob", "alice")); len(got) != 1 || got[0] != "before the timer" {
		t.Fatalf("history after expiry: %v", got)
	}
	rep, err := e.svc.PurgeOnce(ctx)
	if err != nil || rep.Messages < 1 {
		t.Fatalf("purge %+v %v", rep, err)
	}
	if !eventually(bobEvents, chat.EventDeleted) {
		t.Fatal("bob was not told about the deletion")
	}
	if _, err := e.st.GetMessage(ctx, m.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("expired message still stored")
	}
	again, _ := e.svc.PurgeOnce(ctx)
	if again.Messages != 0 {
		t.Fatal("purge is not idempotent")
	}
}

func TestTimerAfterRead(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.SetTimer(ctx, e.users["bob"], chat.TimerRequest{Peer: "@alice:x", Seconds: 10, Mode: "after_read"}); err != nil {
		t.Fatal(err)
	}
	m := e.send(t, "alice", "bob", "read me")
	e.clk.Advance(time.Hour)
	_, _ = e.svc.PurgeOnce(ctx)
	if !contains(texts(e.history(t, "bob", "alice")), "read me") {
		t.Fatal("unread message vanished")
	}
	// The sender reading does not start it; the recipient does.
	if _, err := e.svc.MarkRead(ctx, e.users["alice"], m.ConversationID, m.Seq); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	if !contains(texts(e.history(t, "bob", "alice")), "read me") {
		t.Fatal("sender's read started the timer")
	}
	if _, err := e.svc.MarkRead(ctx, e.users["bob"], m.ConversationID, m.Seq); err != nil {
		t.Fatal(err)
	}
	for _, v := range e.history(t, "bob", "alice") {
		if v.ID == m.ID && (v.ExpiresAt == nil || !v.ExpiresAt.Equal(e.clk.Now().Add(10*time.Second))) {
			t.Fatalf("read message expiresAt %v", v.ExpiresAt)
		}
	}
	e.clk.Advance(9 * time.Second)
	if !contains(texts(e.history(t, "bob", "alice")), "read me") {
		t.Fatal("gone before its time")
	}
	e.clk.Advance(2 * time.Second)
	if contains(texts(e.history(t, "alice", "bob")), "read me") {
		t.Fatal("still there after read + 10s")
	}
}

func TestTimerIdleDestroysConversation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	aliceEvents := e.events(t, "alice")
	if _, err := e.svc.SetTimer(ctx, e.users["alice"], chat.TimerRequest{Peer: "@bob:x", Seconds: 60, Mode: "idle"}); err != nil {
		t.Fatal(err)
	}
	one := e.send(t, "alice", "bob", "one")
	if one.ExpiresAt == nil || !one.ExpiresAt.Equal(e.clk.Now().Add(time.Minute)) {
		t.Fatalf("idle message expiresAt %v", one.ExpiresAt)
	}
	e.clk.Advance(50 * time.Second)
	e.send(t, "bob", "alice", "two") // activity pushes the deadline
	e.clk.Advance(50 * time.Second)
	if rep, _ := e.svc.PurgeOnce(ctx); rep.Conversations != 0 {
		t.Fatal("destroyed while active")
	}
	e.clk.Advance(11 * time.Second)
	rep, err := e.svc.PurgeOnce(ctx)
	if err != nil || rep.Conversations != 1 {
		t.Fatalf("idle purge %+v %v", rep, err)
	}
	if len(e.history(t, "alice", "bob")) != 0 {
		t.Fatal("messages survived the idle timer")
	}
	if !eventually(aliceEvents, chat.EventDestroyed) {
		t.Fatalf("alice was not told: %v", aliceEvents())
	}
}

func TestTimerValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, r := range []chat.TimerRequest{
		{Peer: "@bob:x", Seconds: -1, Mode: "after_send"},
		{Peer: "@bob:x", Seconds: 2419201, Mode: "after_send"},
		{Peer: "@bob:x", Seconds: 5, Mode: "whenever"},
		{Peer: "@bob:x", Seconds: 5},
		{Peer: "@nobody:x", Seconds: 5, Mode: "idle"},
	} {
		if _, err := e.svc.SetTimer(ctx, e.users["alice"], r); err == nil {
			t.Errorf("accepted %+v", r)
		}
	}
	if tv, err := e.svc.SetTimer(ctx, e.users["alice"], chat.TimerRequest{Peer: "@bob:x", Seconds: 0}); err != nil || tv.Mode != "" {
		t.Fatalf("off without mode: %v %v", tv, err)
	}
}

func TestDestroyConversation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.send(t, "alice", "bob", "secret")
	if _, err := e.svc.DestroyConversation(ctx, e.users["eve"], "@alice:x"); err == nil {
		t.Fatal("a stranger destroyed a conversation that is not hers")
	}
	id, err := e.svc.DestroyConversation(ctx, e.users["bob"], "@alice:x")
	if err != nil || id != m.ConversationID {
		t.Fatal(id, err)
	}
	if keys, _ := e.st.ListDataKeys(ctx, m.ConversationID); len(keys) != 0 {
		t.Fatal("data keys survived: not crypto-shredded")
	}
	if len(e.history(t, "alice", "bob")) != 0 {
		t.Fatal("history survived")
	}
}

// TestCryptoShreddingWithRotation: a backup taken before a delete stays
// readable while the master key that wrapped its data keys lives; after
// rotation (new version, re-wrap, drop the old one) it cannot be opened with
// any key the server has, and every live conversation still opens.
func TestCryptoShreddingWithRotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	gone := e.send(t, "alice", "bob", "to be shredded")
	e.send(t, "alice", "eve", "to be kept")

	e.st.Close()
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, filepath.Join(e.dir, "db"), backup)
	st, err := bolt.Open(filepath.Join(e.dir, "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring := e.svc.Keyring()
	svc, err := chat.New(ctx, chat.Options{ServerName: "x", BcryptCost: 4}, chat.Deps{Store: st, Bus: local.New(), Keyring: ring, Clock: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DestroyConversation(ctx, e.users["alice"], "@bob:x"); err != nil {
		t.Fatal(err)
	}

	bst, err := bolt.Open(backup, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bst.Close()
	if !opens(t, bst, ring, gone.ConversationID) {
		t.Fatal("the backup should still open while v1 lives (this is the honest limit)")
	}

	rotated, err := ring.WithKey("v2", vault.NewDataKey())
	if err != nil {
		t.Fatal(err)
	}
	svc.SetKeyring(rotated)
	rep, err := svc.Rewrap(ctx)
	if err != nil || rep.Failed != 0 || rep.Rewrapped == 0 {
		t.Fatalf("rewrap %+v %v", rep, err)
	}
	again, _ := svc.Rewrap(ctx)
	if again.Rewrapped != 0 {
		t.Fatal("rewrap is not resumable/idempotent")
	}
	final, err := rotated.Without("v1")
	if err != nil {
		t.Fatal(err)
	}
	svc.SetKeyring(final)

	if opens(t, bst, final, gone.ConversationID) {
		t.Fatal("the backup's deleted conversation still opens after rotation")
	}
	p, _ := svc.Authenticate(ctx, "") // not used: read as alice through the service
	_ = p
	kept, err := svc.History(ctx, e.users["alice"], chat.HistoryRequest{To: "@eve:x"})
	if err != nil || len(kept) != 1 || kept[0].Message != "to be kept" {
		t.Fatalf("live conversation after rotation: %v %v", kept, err)
	}
}

// opens reports whether any message of conv in st can be opened with ring.
func opens(t *testing.T, st store.Store, ring *vault.Keyring, conv string) bool {
	t.Helper()
	ms, err := st.ListMessages(context.Background(), conv, store.MessageRange{Limit: 10, Now: time.Now()})
	if err != nil || len(ms) == 0 {
		t.Fatalf("backup has no messages of %s: %v", conv, err)
	}
	k, err := st.GetDataKey(context.Background(), ms[0].KeyID)
	if err != nil {
		t.Fatal(err)
	}
	dek, err := ring.Unwrap(k.MasterVersion, k.Wrapped, k.Owner)
	if err != nil {
		return false
	}
	_, err = vault.Open(dek, ms[0].Body, vault.MessageAD(ms[0].ConversationID, ms[0].Seq, ms[0].Sender))
	return err == nil
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if info.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// wavBytes is a PCM WAV of the given length (8 kHz, 16-bit mono).
func wavBytes(ms int) []byte {
	data := 16 * ms // bytes: 8000 samples/s * 2 bytes / 1000
	b := []byte("RIFF")
	le32 := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	le16 := func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
	le32(uint32(36 + data))
	b = append(b, "WAVEfmt "...)
	le32(16)
	le16(1)
	le16(1)
	le32(8000)
	le32(16000)
	le16(2)
	le16(16)
	b = append(b, "data"...)
	le32(uint32(data))
	return append(b, make([]byte, data)...)
}

// TestVoiceExpiry: a voice message with expires_in answers 410 once its
// time has passed, with the injectable clock.
func TestVoiceExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pf, err := e.svc.ReceiveFile(ctx, e.users["alice"], "voice", "note.wav", bytes.NewReader(wavBytes(1200)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.CompleteUpload(ctx, e.users["alice"], pf, chat.UploadFields{To: "@bob:x", Kind: "voice", ExpiresIn: 300})
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.File.DurationMS != 1200 {
		t.Fatalf("measured duration %d", res.Msg.File.DurationMS)
	}
	if _, err := e.svc.OpenFile(ctx, e.users["bob"], res.FileID, chat.Read{}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if _, err := e.svc.OpenFile(ctx, e.users["eve"], res.FileID, chat.Read{}); chat.AsError(err).Status != 404 {
		t.Fatalf("stranger: %v", err)
	}
	e.clk.Advance(301 * time.Second)
	_, err = e.svc.OpenFile(ctx, e.users["bob"], res.FileID, chat.Read{})
	if chat.AsError(err).Status != 410 {
		t.Fatalf("after expiry: %v, want 410", err)
	}
}
