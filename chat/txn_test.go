package chat_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/internal/testenv"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/vault"
)

// faultyStore is a bolt store seen only through store.Store (so without
// the Appender ability: chat takes the NextSeq + PutMessage path of the
// MongoDB store) whose PutMessage and GetMessageByTxn a test can break.
type faultyStore struct {
	store.Store
	put   func(ctx context.Context, m *store.Message) error
	byTxn func(ctx context.Context, sender, txnID string) (*store.Message, error)
}

func (f *faultyStore) PutMessage(ctx context.Context, m *store.Message) error {
	if f.put != nil {
		return f.put(ctx, m)
	}
	return f.Store.PutMessage(ctx, m)
}

func (f *faultyStore) GetMessageByTxn(ctx context.Context, sender, txnID string) (*store.Message, error) {
	if f.byTxn != nil {
		return f.byTxn(ctx, sender, txnID)
	}
	return f.Store.GetMessageByTxn(ctx, sender, txnID)
}

type txnEnv struct {
	svc      *chat.Service
	st       *faultyStore
	bus      *local.Bus
	alice    *chat.Principal
	bob      *chat.Principal
	mu       sync.Mutex
	received []string // payloads on bob's topic, in order
}

func newTxnEnv(t *testing.T) *txnEnv {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ring, err := vault.ParseKeyring("v1:"+b64key(1), "")
	if err != nil {
		t.Fatal(err)
	}
	e := &txnEnv{st: &faultyStore{Store: st}, bus: local.New()}
	e.svc, err = chat.New(context.Background(), chat.Options{ServerName: "x", BcryptCost: 4}, chat.Deps{Store: e.st, Bus: e.bus, Keyring: ring})
	if err != nil {
		t.Fatal(err)
	}
	register := func(name string) *chat.Principal {
		_, tok, err := e.svc.Register(context.Background(), chat.Credentials{Username: name, Email: name + "@x.org", Password: "long enough"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.svc.Authenticate(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	e.alice, e.bob = register("alice"), register("bob")
	_, err = e.bus.Subscribe(context.Background(), pubsub.UserTopic(e.bob.User.UserID), func(_ string, p []byte) {
		e.mu.Lock()
		e.received = append(e.received, string(p))
		e.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *txnEnv) send(txn string) (*chat.MessageView, error) {
	return e.svc.Send(context.Background(), e.alice, chat.SendRequest{To: e.bob.User.UserID, Text: "hello", TxnID: txn})
}

// wantEventsAfterSentinel sends one more message and waits for its event:
// the bus keeps a topic's order, so by then every earlier event is in, and
// bob's topic must have carried exactly want of them before the sentinel.
func (e *txnEnv) wantEventsAfterSentinel(t *testing.T, want int64) {
	t.Helper()
	sentinel, err := e.send("sentinel")
	if err != nil {
		t.Fatal(err)
	}
	before := -1
	came := testenv.Poll(10*time.Second, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, p := range e.received {
			if strings.Contains(p, sentinel.ID) {
				before = i
				return true
			}
		}
		return false
	})
	if !came {
		t.Fatal("the sentinel's event never came")
	}
	if int64(before) != want {
		t.Fatalf("bob's topic carried %d events before the sentinel, want %d", before, want)
	}
}

func (e *txnEnv) history(t *testing.T) []*chat.MessageView {
	t.Helper()
	ms, err := e.svc.History(context.Background(), e.alice, chat.HistoryRequest{To: e.bob.User.UserID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestSendConflictWithoutMessageIsAnError: the store says the txn_id is
// taken yet has no message for it (the state a put cut off between its
// writes used to leave). Send must fail, never answer (nil, nil), which
// REST turned into {"status":true,"msg":null} and WS into an ack.
func TestSendConflictWithoutMessageIsAnError(t *testing.T) {
	t.Parallel()
	e := newTxnEnv(t)
	e.st.put = func(context.Context, *store.Message) error {
		return fmt.Errorf("claim exists: %w", store.ErrConflict)
	}
	e.st.byTxn = func(context.Context, string, string) (*store.Message, error) {
		return nil, fmt.Errorf("no message: %w", store.ErrNotFound)
	}
	v, err := e.send("t1")
	if err == nil || v != nil {
		t.Fatalf("Send = %+v, %v: want an error and no message", v, err)
	}
	if ce := chat.AsError(err); ce.Status != 503 || ce.Code != chat.CodeUnavailable {
		t.Fatalf("Send error %d %s, want 503 %s (retryable)", ce.Status, ce.Code, chat.CodeUnavailable)
	}
}

// TestSendRetryAfterCrash: the first attempt got its seq and died before
// the message was stored (the database went away, the node was killed).
// The client's retry stores the message once, under a fresh seq, and
// hands it to the bus; the second retry hands it again (a retry cannot
// know whether the attempt before it published), which sessions drop by
// seq.
func TestSendRetryAfterCrash(t *testing.T) {
	t.Parallel()
	e := newTxnEnv(t)
	e.st.put = func(context.Context, *store.Message) error {
		return fmt.Errorf("connection lost: %w", store.ErrUnavailable)
	}
	if v, err := e.send("t1"); err == nil || chat.AsError(err).Status != 503 {
		t.Fatalf("first attempt = %+v, %v: want 503", v, err)
	}
	e.st.put = nil
	got, err := e.send("t1")
	if err != nil || got == nil {
		t.Fatalf("retry = %+v, %v", got, err)
	}
	if got.ID != store.TxnMessageID(e.alice.User.UserID, "t1") || got.Seq != 2 {
		t.Fatalf("retry stored id %s seq %d: want the txn's id, seq 2 (seq 1 died with the first attempt)", got.ID, got.Seq)
	}
	again, err := e.send("t1")
	if err != nil || again.ID != got.ID || again.Seq != got.Seq {
		t.Fatalf("second retry = %+v, %v: want the same message", again, err)
	}
	if h := e.history(t); len(h) != 1 || h[0].ID != got.ID {
		t.Fatalf("history holds %d messages, want the one", len(h))
	}
	e.wantEventsAfterSentinel(t, 2)
}

// TestSendRetryAfterLostAck: the put was stored but its caller saw an
// error (the answer was lost), and so never published it. The retry
// answers the stored message and publishes it: otherwise a peer that
// stays connected would not see it until a later message in the
// conversation exposed the gap (the chaos test's lost message).
func TestSendRetryAfterLostAck(t *testing.T) {
	t.Parallel()
	e := newTxnEnv(t)
	e.st.put = func(ctx context.Context, m *store.Message) error {
		if err := e.st.Store.PutMessage(ctx, m); err != nil {
			return err
		}
		return fmt.Errorf("timeout after commit: %w", store.ErrUnavailable)
	}
	if _, err := e.send("t1"); err == nil {
		t.Fatal("first attempt should report the failure it saw")
	}
	e.st.put = nil
	got, err := e.send("t1")
	if err != nil || got == nil || got.Seq != 1 {
		t.Fatalf("retry = %+v, %v: want the message stored at seq 1", got, err)
	}
	if h := e.history(t); len(h) != 1 {
		t.Fatalf("history holds %d messages, want 1", len(h))
	}
	e.wantEventsAfterSentinel(t, 1)
}

// TestSendConcurrentSameTxn: one send retried over several connections at
// once (through the store's one-write Appender path) stores one message
// and every attempt answers it.
func TestSendConcurrentSameTxn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := e.svc.Send(context.Background(), e.users["alice"], chat.SendRequest{To: e.users["bob"].User.UserID, Text: "once", TxnID: "t1"})
			errs[i] = err
			if v != nil {
				ids[i] = v.ID
			}
		}()
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] || ids[i] == "" {
			t.Fatalf("attempt %d: id %q err %v (first %q)", i, ids[i], errs[i], ids[0])
		}
	}
	if h := e.history(t, "alice", "bob"); len(h) != 1 {
		t.Fatalf("history holds %d messages for one txn_id", len(h))
	}
	// The same txn_id towards someone else is a conflict, not a message.
	_, err := e.svc.Send(context.Background(), e.users["alice"], chat.SendRequest{To: e.users["eve"].User.UserID, Text: "other", TxnID: "t1"})
	if ce := chat.AsError(err); !errors.As(err, new(*chat.Error)) || ce.Status != 409 {
		t.Fatalf("txn_id reused for another peer: %v, want 409", err)
	}
}
