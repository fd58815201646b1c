package federation

import (
	"context"
	"sync"
	"time"
)

// Key fetcher bounds.
const (
	// MinKeyRefetch is the least time between two fetches of one server's
	// key document for a key id already looked for, or a stale document.
	MinKeyRefetch = 30 * time.Second
	// maxNewKeyFetches is how many key ids never looked for may each
	// fetch the document at once within one MinKeyRefetch: the first
	// signature after a rotation checks without waiting, and a server
	// naming random key ids costs its own server a few fetches, no more.
	maxNewKeyFetches = 4
	maxKeyServers    = 10000
	maxKeysPerServer = 32
)

// KeyFetcher is the KeySource of other servers' keys: it fetches GET
// /_crypttalk/key/v1/server through the resolver, checks the document's
// self-signature, and caches it until min(valid_until_ts, 7 days after the
// fetch). Keys seen once are kept (old ones with their expired_ts, current
// ones with their cache bound), so a signature made while a key was valid
// still checks after the document moved on. An unknown key id, or a
// document past its bound, causes a refetch: at once for a key id not
// looked for before (up to maxNewKeyFetches per window), else at most one
// per server every MinKeyRefetch; concurrent callers share one fetch.
type KeyFetcher struct {
	Client *Client
	Now    func() time.Time

	mu      sync.Mutex
	servers map[string]*keyEntry
}

type keyEntry struct {
	keys      map[string]VerifyKey
	until     time.Time       // when the document must be fetched again
	lastFetch time.Time       // the last fetch that opened a window
	missed    map[string]bool // key ids fetched for in this window
	fetching  chan struct{}   // closed when the running fetch ends
}

// mayFetchLocked decides whether a lookup of keyID fetches the document
// now, and books the fetch in the window. Caller holds f.mu.
func (e *keyEntry) mayFetchLocked(keyID string, known bool, now time.Time) bool {
	if e.lastFetch.IsZero() || now.Sub(e.lastFetch) >= MinKeyRefetch {
		e.lastFetch, e.missed = now, map[string]bool{keyID: true}
		return true
	}
	if known || e.missed[keyID] || len(e.missed) >= maxNewKeyFetches {
		return false
	}
	e.missed[keyID] = true
	return true
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
		if attempt > 0 || !e.mayFetchLocked(keyID, known, now) {
			f.mu.Unlock()
			if known {
				return k, nil // stale: its ValidUntilTS lets the caller judge
			}
			return VerifyKey{}, unauthorized(ErrUnknownKey, "no key "+keyID+" known for "+server)
		}
		done := make(chan struct{})
		e.fetching = done
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
