package federation

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"93.184.215.14": true, "2606:4700::1": true, "8.8.8.8": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "100.127.255.254": false, "0.0.0.0": false, "::1": false, "::": false, "fe80::1": false,
		"fc00::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false, "224.0.0.1": false, "255.255.255.255": false,
	} {
		if got := PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestServerList(t *testing.T) {
	t.Parallel()
	l := ServerList{Allow: []string{"*.friends.example", "b.example"}, Deny: []string{"bad.friends.example"}}
	for s, want := range map[string]bool{
		"b.example": true, "B.EXAMPLE": true, "b.example:8448": true, "x.friends.example": true, "a.x.friends.example": true,
		"friends.example": false, "bad.friends.example": false, "c.example": false, "evilfriends.example": false,
	} {
		if got := l.Allowed(s); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", s, got, want)
		}
	}
	if !(ServerList{}).Allowed("any.example") {
		t.Fatal("empty lists refuse")
	}
}

// tlsPeer is an https server reached as "example.com" (the name in
// httptest's certificate) at a public-looking address, with DNS and the
// dialer faked so nothing leaves the machine.
type tlsPeer struct {
	hits   atomic.Int32
	mu     sync.Mutex
	ips    []netip.Addr
	dialed []string
	r      *Resolver
}

func newTLSPeer(t *testing.T, h http.HandlerFunc) *tlsPeer {
	t.Helper()
	p := &tlsPeer{ips: []netip.Addr{netip.MustParseAddr("93.184.215.14")}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	p.r = &Resolver{HTTP: HTTPOptions{
		LookupIP: func(_ context.Context, host string) ([]netip.Addr, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if host != "example.com" {
				return nil, errors.New("no such host")
			}
			return p.ips, nil
		},
		Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
			p.mu.Lock()
			p.dialed = append(p.dialed, a)
			p.mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLS: srv.Client().Transport.(*http.Transport).TLSClientConfig,
	}}
	return p
}

func (p *tlsPeer) setIPs(ips ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ips = nil
	for _, s := range ips {
		p.ips = append(p.ips, netip.MustParseAddr(s))
	}
}

func wellKnown(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != wellKnownPath {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}
}

func TestDiscoveryWellKnown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newTLSPeer(t, wellKnown(`{"server":"example.com:8448"}`))
	p.setIPs("10.0.0.7", "93.184.215.14") // the private answer is skipped
	tg, err := p.r.Resolve(ctx, "example.com")
	if err != nil || tg.BaseURL != "https://example.com:8448" || !tg.Guarded {
		t.Fatalf("target %+v %v", tg, err)
	}
	if _, err := p.r.Resolve(ctx, "example.com"); err != nil || p.hits.Load() != 1 {
		t.Fatalf("not cached: %d fetches, %v", p.hits.Load(), err)
	}
	p.mu.Lock()
	dialed := strings.Join(p.dialed, ",")
	p.mu.Unlock()
	if dialed != "93.184.215.14:443" {
		t.Fatalf("dialled %s, want the pinned public address", dialed)
	}
	// DNS rebinding: the name now points inside; the pinned check refuses
	// the next connection instead of reaching 127.0.0.1.
	p.setIPs("127.0.0.1")
	c := p.r.Client(tg)
	c.Transport.(*http.Transport).CloseIdleConnections()
	if _, err := c.Get("https://example.com:8448/"); !errors.Is(err, ErrRefusedAddress) {
		t.Fatalf("request after rebinding: %v, want ErrRefusedAddress", err)
	}
}

// TestDiscoveryRefusesInternalTargets: a delegation to 127.0.0.1, or a
// name that resolves there, is refused, not dialled.
func TestDiscoveryRefusesInternalTargets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, target := range []string{"127.0.0.1:8448", "[::1]:8448", "169.254.169.254", "100.64.1.1:443", "10.0.0.1:80"} {
		p := newTLSPeer(t, wellKnown(`{"server":"`+target+`"}`))
		if tg, err := p.r.Resolve(ctx, "example.com"); !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("delegation to %s: %+v %v, want ErrRefusedAddress", target, tg, err)
		}
		if _, err := p.r.Resolve(ctx, "example.com"); !errors.Is(err, ErrRefusedAddress) || p.hits.Load() != 1 {
			t.Errorf("refusal of %s not cached: %v, %d fetches", target, err, p.hits.Load())
		}
	}
	p := newTLSPeer(t, wellKnown(`{"server":"example.com:8448"}`))
	p.setIPs("127.0.0.1")
	if _, err := p.r.Resolve(ctx, "example.com"); !errors.Is(err, ErrRefusedAddress) {
		t.Fatalf("name resolving to loopback: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.dialed) != 0 {
		t.Fatalf("dialled %v", p.dialed)
	}
	// Server names that are themselves internal addresses.
	r := &Resolver{}
	for _, s := range []string{"127.0.0.1:8448", "[::1]", "192.168.0.1"} {
		if _, err := r.Resolve(ctx, s); !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("server name %s: %v", s, err)
		}
	}
}

func TestDiscoveryFailuresFallBackAndBackOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, h := range map[string]http.HandlerFunc{
		"too large": wellKnown(`{"server":"example.com:1","x":"` + strings.Repeat("x", MaxWellKnownBytes) + `"}`),
		"not json":  wellKnown(`<html>`),
		"404":       http.NotFound,
		"bad name":  wellKnown(`{"server":"exa mple.com"}`),
		"redirect loop": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, wellKnownPath, http.StatusFound)
		},
	} {
		p := newTLSPeer(t, h)
		tg, err := p.r.Resolve(ctx, "example.com")
		switch name {
		case "bad name":
			if err == nil {
				t.Errorf("%s: accepted %+v", name, tg)
			}
			continue
		}
		if err != nil || tg.BaseURL != "https://example.com:443" || !tg.Guarded {
			t.Errorf("%s: %+v %v, want the fallback", name, tg, err)
		}
		hits := p.hits.Load()
		if name == "redirect loop" && hits != MaxWellKnownHops+1 {
			t.Errorf("redirects followed: %d requests", hits)
		}
		if _, err := p.r.Resolve(ctx, "example.com"); err != nil || p.hits.Load() != hits {
			t.Errorf("%s: failure not backed off (%d → %d fetches)", name, hits, p.hits.Load())
		}
	}
}

func TestDiscoveryStaticAndLists(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := &Resolver{Static: map[string]string{"b.example": "http://127.0.0.1:5002/"}, List: ServerList{Deny: []string{"bad.example"}}}
	if tg, err := r.Resolve(ctx, "b.example"); err != nil || tg.BaseURL != "http://127.0.0.1:5002" || tg.Guarded {
		t.Fatalf("static peer %+v %v (named in config: loopback allowed)", tg, err)
	}
	if _, err := r.Resolve(ctx, "bad.example"); !errors.Is(err, ErrServerNotAllowed) {
		t.Fatalf("denied: %v", err)
	}
	// An explicit port skips the well-known lookup, as in Matrix.
	p := newTLSPeer(t, wellKnown(`{"server":"x.example:1"}`))
	if tg, err := p.r.Resolve(ctx, "example.com:8448"); err != nil || tg.BaseURL != "https://example.com:8448" || p.hits.Load() != 0 {
		t.Fatalf("with port: %+v %v, %d fetches", tg, err, p.hits.Load())
	}
}
