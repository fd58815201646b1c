package federation

import (
	"context"
	"sync"
	"time"
)

// Key fetcher bounds.
const (
	// MinKeyRefetch is the least time between two fetches of one server's
	// key document, however many unknown key ids its requests name.
	MinKeyRefetch    = 30 * time.Second
	maxKeyServers    = 10000
	maxKeysPerServer = 32
)

// KeyFetcher is the KeySource of other servers' keys: it fetches GET
// /_crypttalk/key/v1/server through the resolver, checks the document's
// self-signature, and caches it until min(valid_until_ts, 7 days after the
// fetch). Keys seen once are kept (old ones with their expired_ts, current
// ones with their cache bound), so a signature made while a key was valid
// still checks after the document moved on. An unknown key id, or a
// document past its bound, causes a refetch, at most one per server every
// MinKeyRefetch; concurrent callers share one fetch.
type KeyFetcher struct {
	Client *Client
	Now    func() time.Time

	mu      sync.Mutex
	servers map[string]*keyEntry
}

type keyEntry struct {
	keys      map[string]VerifyKey
	until     time.Time // when the document must be fetched again
	lastFetch time.Time
	fetching  chan struct{} // closed when the running fetch ends
}

func (f *KeyFetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// VerifyKey implements KeySource.
func (f *KeyFetcher) VerifyKey(ctx context.Context, server, keyID string) (VerifyKey, error) {
	for attempt := 0; ; attempt++ {
		f.mu.Lock()
		if f.servers == nil {
			f.servers = map[string]*keyEntry{}
		}
		e := f.servers[server]
		if e == nil {
			if len(f.servers) >= maxKeyServers {
				f.evictLocked()
			}
			e = &keyEntry{keys: map[string]VerifyKey{}}
			f.servers[server] = e
		}
		k, known := e.keys[keyID]
		now := f.now()
		stale := !now.Before(e.until)
		if known && !stale {
			f.mu.Unlock()
			return k, nil
		}
		if e.fetching != nil {
			wait := e.fetching
			f.mu.Unlock()
			select {
			case <-wait:
				continue // the fetch ended: look again
			case <-ctx.Done():
				return VerifyKey{}, unauthorized(ErrUnknownKey, "no key "+keyID+" known for "+server)
			}
		}
		if attempt > 0 || (!e.lastFetch.IsZero() && now.Sub(e.lastFetch) < MinKeyRefetch) {
			f.mu.Unlock()
			if known {
				return k, nil // stale: its ValidUntilTS lets the caller judge
			}
			return VerifyKey{}, unauthorized(ErrUnknownKey, "no key "+keyID+" known for "+server)
		}
		done := make(chan struct{})
		e.fetching, e.lastFetch = done, now
		f.mu.Unlock()

		doc, err := f.Client.FetchKeys(ctx, server)
		f.mu.Lock()
		if err == nil {
			fetched := f.now()
			for id, vk := range doc.Keys(fetched) {
				e.keys[id] = vk
			}
			e.until = doc.CacheUntil(fetched)
			for id := range e.keys {
				if len(e.keys) <= maxKeysPerServer {
					break
				}
				if _, current := doc.VerifyKeys[id]; !current {
					delete(e.keys, id)
				}
			}
		}
		e.fetching = nil
		close(done)
		f.mu.Unlock()
	}
}

func (f *KeyFetcher) evictLocked() {
	for k, e := range f.servers {
		if e.fetching == nil {
			delete(f.servers, k)
			return
		}
	}
}
