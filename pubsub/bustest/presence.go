package bustest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

func runPresence(t *testing.T, newBus NewBus) {
	t.Run("CountsConnections", func(t *testing.T) { testPresenceCounting(t, newBus) })
	t.Run("AcrossNodes", func(t *testing.T) { testPresenceAcrossNodes(t, newBus) })
	t.Run("UnmatchedDisconnect", func(t *testing.T) { testUnmatchedDisconnect(t, newBus) })
	t.Run("ClosedNodeGoesOffline", func(t *testing.T) { testClosedNodeOffline(t, newBus) })
	t.Run("ManyUsers", func(t *testing.T) { testManyUsers(t, newBus) })
	t.Run("ConcurrentTransitions", func(t *testing.T) { testConcurrentTransitions(t, newBus) })
	t.Run("BadInput", func(t *testing.T) { testPresenceBadInput(t, newBus) })
}

// connect calls Connect and fails the test unless it reports want.
func connect(t *testing.T, p pubsub.Presence, user string, wantWasOffline bool) {
	t.Helper()
	was, err := p.Connect(context.Background(), user)
	if err != nil || was != wantWasOffline {
		t.Fatalf("Connect(%q) = %v, %v; want wasOffline=%v", user, was, err, wantWasOffline)
	}
}

// disconnect calls Disconnect and fails the test unless it reports want.
func disconnect(t *testing.T, p pubsub.Presence, user string, wantNowOffline bool) {
	t.Helper()
	off, err := p.Disconnect(context.Background(), user)
	if err != nil || off != wantNowOffline {
		t.Fatalf("Disconnect(%q) = %v, %v; want nowOffline=%v", user, off, err, wantNowOffline)
	}
}

func online(t *testing.T, p pubsub.Presence, users ...string) map[string]bool {
	t.Helper()
	m, err := p.Online(context.Background(), users)
	if err != nil {
		t.Fatalf("Online: %v", err)
	}
	return m
}

func testPresenceCounting(t *testing.T, newBus NewBus) {
	p := newBus(t).Presence()
	connect(t, p, "u", true)
	connect(t, p, "u", false) // second device
	disconnect(t, p, "u", false)
	if m := online(t, p, "u", "v"); !m["u"] || m["v"] || len(m) != 2 {
		t.Fatalf("Online = %v, want u online, v offline", m)
	}
	disconnect(t, p, "u", true)
	if m := online(t, p, "u"); m["u"] {
		t.Fatal("u online after its last disconnect")
	}
	connect(t, p, "u", true) // and back again
}

func testPresenceAcrossNodes(t *testing.T, newBus NewBus) {
	a, b := newBus(t).Presence(), newBus(t).Presence()
	connect(t, a, "u", true)
	connect(t, b, "u", false) // already online through node a
	if m := online(t, b, "u"); !m["u"] {
		t.Fatal("node b does not see u online")
	}
	disconnect(t, a, "u", false) // still connected to node b
	if m := online(t, a, "u"); !m["u"] {
		t.Fatal("node a lost u while it is connected to node b")
	}
	disconnect(t, b, "u", true)
	if m := online(t, a, "u"); m["u"] {
		t.Fatal("u online after disconnecting from every node")
	}
}

func testUnmatchedDisconnect(t *testing.T, newBus NewBus) {
	a, b := newBus(t).Presence(), newBus(t).Presence()
	disconnect(t, a, "ghost", false) // never connected: no transition
	connect(t, a, "ghost", true)
	disconnect(t, b, "ghost", false) // b never had it: must not take it offline
	if m := online(t, a, "ghost"); !m["ghost"] {
		t.Fatal("a disconnect on another node took the user offline")
	}
	disconnect(t, a, "ghost", true)
	disconnect(t, a, "ghost", false) // one too many
	connect(t, a, "ghost", true)     // counting did not go negative
}

func testClosedNodeOffline(t *testing.T, newBus NewBus) {
	a, b := newBus(t), newBus(t)
	connect(t, a.Presence(), "leaver", true)
	connect(t, a.Presence(), "both", true)
	connect(t, b.Presence(), "both", false)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "users of a closed node to go offline", func() bool {
		return !online(t, b.Presence(), "leaver")["leaver"]
	})
	if m := online(t, b.Presence(), "both"); !m["both"] {
		t.Fatal("a user still connected to a live node went offline")
	}
}

// testManyUsers checks Online with more users than one backend round trip
// is likely to carry.
func testManyUsers(t *testing.T, newBus NewBus) {
	a, b := newBus(t).Presence(), newBus(t).Presence()
	const n = 2500
	users := make([]string, 0, n+1)
	for i := range n {
		u := fmt.Sprint("user-", i)
		users = append(users, u)
		if i%2 == 0 {
			connect(t, a, u, true)
		}
	}
	users = append(users, users[0]) // duplicates are harmless
	m := online(t, b, users...)
	if len(m) != n {
		t.Fatalf("Online returned %d entries, want %d", len(m), n)
	}
	for i := range n {
		if u := fmt.Sprint("user-", i); m[u] != (i%2 == 0) {
			t.Fatalf("Online[%s] = %v", u, m[u])
		}
	}
	if m := online(t, b); len(m) != 0 {
		t.Fatalf("Online() of nobody = %v", m)
	}
}

// testConcurrentTransitions hammers one user from two nodes: every online
// transition reported must be matched by one offline transition, and the
// user must end offline.
func testConcurrentTransitions(t *testing.T, newBus NewBus) {
	nodes := []pubsub.Presence{newBus(t).Presence(), newBus(t).Presence()}
	var ups, downs atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		p := nodes[w%2]
		wg.Go(func() {
			for range 25 {
				was, err := p.Connect(context.Background(), "hot")
				if err != nil {
					t.Error(err)
					return
				}
				off, err := p.Disconnect(context.Background(), "hot")
				if err != nil {
					t.Error(err)
					return
				}
				if was {
					ups.Add(1)
				}
				if off {
					downs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ups.Load() == 0 || ups.Load() != downs.Load() {
		t.Fatalf("%d online transitions, %d offline transitions; want equal and > 0", ups.Load(), downs.Load())
	}
	if m := online(t, nodes[0], "hot"); m["hot"] {
		t.Fatal("user online after every connection closed")
	}
}

func testPresenceBadInput(t *testing.T, newBus NewBus) {
	p := newBus(t).Presence()
	ctx := context.Background()
	if _, err := p.Connect(ctx, ""); !errors.Is(err, local.ErrInvalid) {
		t.Errorf("Connect(\"\"): %v, want ErrInvalid", err)
	}
	if _, err := p.Disconnect(ctx, ""); !errors.Is(err, local.ErrInvalid) {
		t.Errorf("Disconnect(\"\"): %v, want ErrInvalid", err)
	}
	m, err := p.Online(ctx, []string{""})
	if err != nil || m[""] {
		t.Errorf("Online([\"\"]) = %v, %v; want offline, no error", m, err)
	}
}
