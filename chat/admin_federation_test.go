package chat

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

type fakeFedNode struct {
	keys    *vault.SigningKeys
	dests   []store.OutboxStats
	retried []string
}

func (f *fakeFedNode) Destinations(context.Context) ([]store.OutboxStats, error) { return f.dests, nil }
func (f *fakeFedNode) Retry(dest string)                                         { f.retried = append(f.retried, dest) }
func (f *fakeFedNode) SigningKeys() *vault.SigningKeys                           { return f.keys }
func (f *fakeFedNode) SetSigningKeys(k *vault.SigningKeys)                       { f.keys = k }

func newFakeFedNode(t *testing.T) *fakeFedNode {
	k, err := vault.GenerateSigningKey("")
	if err != nil {
		t.Fatal(err)
	}
	return &fakeFedNode{keys: vault.NewSigningKeys(k), dests: []store.OutboxStats{{Destination: "b.test", Depth: 2}}}
}

func TestFederationAdminRotatePersistsThenApplies(t *testing.T) {
	t.Parallel()
	n := newFakeFedNode(t)
	first := n.keys.Active().ID()
	path := filepath.Join(t.TempDir(), "signing.key")
	a := &FederationAdmin{Node: n, KeyFile: path}
	r, err := a.RotateSigningKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Active == first || len(r.Old) != 1 || r.Old[0] != first || n.keys.Active().ID() != r.Active {
		t.Fatalf("rotation %+v, node key %s, first %s", r, n.keys.Active().ID(), first)
	}
	saved, err := vault.LoadSigningKeysFile(path)
	if err != nil || saved.Active().ID() != r.Active || len(saved.Old()) != 1 || saved.Old()[0].ExpiredTS == 0 {
		t.Fatalf("saved %v, %v", saved, err)
	}
}

// A key file that cannot be written (a mounted secret) is refused with a
// 409 that says what to do, and the node keeps signing with its key.
func TestFederationAdminRotateReadOnlyKeyFile(t *testing.T) {
	t.Parallel()
	n := newFakeFedNode(t)
	first := n.keys.Active().ID()
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &FederationAdmin{Node: n, KeyFile: filepath.Join(notDir, "signing.key")}
	_, err := a.RotateSigningKey(context.Background())
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict || ce.Code != CodeConflict {
		t.Fatalf("err %v", err)
	}
	if n.keys.Active().ID() != first {
		t.Fatal("the node's key changed although it was not persisted")
	}
	if _, err := (&FederationAdmin{Node: n}).RotateSigningKey(context.Background()); !errors.As(err, &ce) || ce.Status != http.StatusConflict {
		t.Fatalf("no key file: %v", err)
	}
}

func TestFederationAdminRetryUnknownServer(t *testing.T) {
	t.Parallel()
	n := newFakeFedNode(t)
	a := &FederationAdmin{Node: n, Peers: map[string]string{"c.test": "http://c"}}
	for _, dest := range []string{"b.test", "c.test"} {
		if _, err := a.Retry(context.Background(), dest); err != nil {
			t.Fatalf("retry %s: %v", dest, err)
		}
	}
	var ce *Error
	if _, err := a.Retry(context.Background(), "nope.test"); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Fatalf("unknown server: %v", err)
	}
	if len(n.retried) != 2 {
		t.Fatalf("retried %v", n.retried)
	}
	ds, err := a.Destinations(context.Background())
	if err != nil || len(ds) != 2 || ds[0].Destination != "b.test" || ds[1].URL != "http://c" {
		t.Fatalf("destinations %+v, %v", ds, err)
	}
}
