package chat

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// FederationNode is what the operator commands need of the federation
// node; *federation.Node implements it.
type FederationNode interface {
	Destinations(ctx context.Context) ([]store.OutboxStats, error)
	Retry(dest string)
	SigningKeys() *vault.SigningKeys
	SetSigningKeys(k *vault.SigningKeys)
}

// FederationAdmin is the federation side of the admin API (ctl federation,
// ctl keys rotate-signing).
type FederationAdmin struct {
	Node FederationNode
	// Peers are the statically configured peers (server name -> URL).
	Peers map[string]string
	// KeyFile is where the signing keys persist: the data dir file or the
	// configured federation.signing_key_file.
	KeyFile string

	mu sync.Mutex // one rotation at a time
}

// FederationPeer is one destination: its outbox and whether it is a
// configured peer.
type FederationPeer struct {
	store.OutboxStats
	URL string `json:"url,omitempty"`
}

// Destinations lists every destination with an outbox or a failure record
// and every configured peer, by name.
func (a *FederationAdmin) Destinations(ctx context.Context) ([]FederationPeer, error) {
	st, err := a.Node.Destinations(ctx)
	if err != nil {
		return nil, Unavailable("the store", err)
	}
	out := make([]FederationPeer, 0, len(st)+len(a.Peers))
	seen := map[string]bool{}
	for _, s := range st {
		seen[s.Destination] = true
		out = append(out, FederationPeer{OutboxStats: s, URL: a.Peers[s.Destination]})
	}
	for name, url := range a.Peers {
		if !seen[name] {
			out = append(out, FederationPeer{OutboxStats: store.OutboxStats{Destination: name}, URL: url})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Destination < out[j].Destination })
	return out, nil
}

// Retry ends dest's backoff on every node. A server that is neither
// queued for nor configured is refused: a typo would else do nothing.
func (a *FederationAdmin) Retry(ctx context.Context, dest string) (*FederationPeer, error) {
	ds, err := a.Destinations(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ds, func(p FederationPeer) bool { return p.Destination == dest })
	if i < 0 {
		return nil, NotFound(fmt.Sprintf("no outbox or configured peer for server %q", dest))
	}
	a.Node.Retry(dest)
	return &ds[i], nil
}

// SigningRotation is the answer of a signing key rotation.
type SigningRotation struct {
	Active string   `json:"active"`
	Old    []string `json:"old"`
}

// RotateSigningKey makes a new signing key active, keeps the old one as
// an old_verify_key expired now, and persists the set before using it, so
// a failed write changes nothing.
func (a *FederationAdmin) RotateSigningKey(ctx context.Context) (*SigningRotation, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.KeyFile == "" {
		return nil, Conflict(CodeConflict, "the signing key has no file to persist to; rotate it in the configured secret and restart")
	}
	next, err := vault.GenerateSigningKey("")
	if err != nil {
		return nil, Internal(err)
	}
	keys, err := a.Node.SigningKeys().Rotate(next, time.Now())
	if err != nil {
		return nil, Internal(err)
	}
	if err := keys.WriteFile(a.KeyFile); err != nil {
		// Most often a signing_key_file mounted from a secret store, which
		// is read-only by design: the key is rotated there, not here.
		return nil, &Error{Status: http.StatusConflict, Code: CodeConflict, Cause: err,
			Msg: "cannot write the signing key file " + a.KeyFile + " (a read-only secret?): rotate the secret itself, then restart the nodes"}
	}
	a.Node.SetSigningKeys(keys)
	r := &SigningRotation{Active: keys.Active().ID()}
	for _, o := range keys.Old() {
		r.Old = append(r.Old, o.ID)
	}
	return r, nil
}
