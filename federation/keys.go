package federation

import (
	"context"
	"crypto/ed25519"
	"sync"
	"time"
)

// VerifyKey is one public signing key of a server, with the time bounds
// its key document gives it.
type VerifyKey struct {
	Key ed25519.PublicKey
	// ValidUntilTS (ms) bounds a current key: signatures on events stamped
	// later are refused. It is the document's valid_until_ts capped at 7
	// days after the document was fetched (as Matrix rooms v5+). 0: no bound.
	ValidUntilTS int64
	// ExpiredTS (ms) marks a key from old_verify_keys: only signatures on
	// events stamped before it are accepted. 0 for a current key.
	ExpiredTS int64
}

// validAt reports whether the key may have signed something stamped ts.
func (k VerifyKey) validAt(ts int64) bool {
	if k.ExpiredTS != 0 {
		return ts < k.ExpiredTS
	}
	return k.ValidUntilTS == 0 || ts <= k.ValidUntilTS
}

// KeySource finds a server's verify key by key id. The federation key
// fetcher and cache implement it (issue 10, to be built); StaticKeys is a
// fixed set for tests and for keys named in config.
//
// VerifyKey returns an error wrapping ErrUnknownKey when the server has
// no such key (or it cannot be fetched); it does not judge the key's time
// bounds, which the caller checks against what was signed.
type KeySource interface {
	VerifyKey(ctx context.Context, server, keyID string) (VerifyKey, error)
}

// StaticKeys is a KeySource over a fixed, concurrency-safe map.
type StaticKeys struct {
	mu   sync.RWMutex
	keys map[string]map[string]VerifyKey // server -> key id -> key
}

// Add records one key of server.
func (s *StaticKeys) Add(server, keyID string, k VerifyKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = map[string]map[string]VerifyKey{}
	}
	if s.keys[server] == nil {
		s.keys[server] = map[string]VerifyKey{}
	}
	s.keys[server][keyID] = k
}

// AddDocument records every key of a verified key document fetched at
// fetchedAt, with the 7-day cap applied.
func (s *StaticKeys) AddDocument(doc *ServerKeys, fetchedAt time.Time) {
	for id, k := range doc.Keys(fetchedAt) {
		s.Add(doc.ServerName, id, k)
	}
}

// VerifyKey implements KeySource.
func (s *StaticKeys) VerifyKey(_ context.Context, server, keyID string) (VerifyKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[server][keyID]
	if !ok {
		return VerifyKey{}, unauthorized(ErrUnknownKey, "no key "+keyID+" known for "+server)
	}
	return k, nil
}
