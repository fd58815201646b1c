package federation

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Discovery limits (docs/FEDERATION.md, "Discovery").
const (
	MaxWellKnownBytes  = 64 << 10
	MaxWellKnownHops   = 3 // redirects followed
	wellKnownPath      = "/.well-known/crypttalk/server"
	wellKnownCacheTTL  = 24 * time.Hour
	wellKnownFailFirst = time.Minute
	wellKnownFailMax   = time.Hour
	maxDiscoveryCache  = 10000
)

var (
	// ErrRefusedAddress: a discovered server resolves only to private,
	// loopback, link-local, CGNAT or otherwise non-public addresses.
	ErrRefusedAddress = errors.New("address not allowed for federation")
	// ErrServerNotAllowed: the server is on the deny list or off the allow list.
	ErrServerNotAllowed = errors.New("server not allowed by federation.allow_servers / deny_servers")
)

// refusedPrefixes are ranges never dialled for a discovered server, on top
// of what netip.Addr's predicates (loopback, private, link-local,
// multicast, unspecified) refuse.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// PublicAddr reports whether a discovered server may be dialled at ip.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range refusedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// HTTPOptions are the network hooks of the federation client; zero values
// are the real network. Tests replace them to reach httptest servers
// under public-looking names.
type HTTPOptions struct {
	// LookupIP resolves a host name (default net.DefaultResolver).
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects to an address already resolved and checked ("ip:port").
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS is the client TLS configuration (default: system roots).
	TLS *tls.Config
	// Timeout bounds one request, body included (default 30s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o HTTPOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// ServerList matches server names against allow and deny lists; an entry
// "*.example.com" matches every subdomain of example.com (not example.com).
type ServerList struct {
	Allow, Deny []string
}

func matchServer(pattern, server string) bool {
	host := server
	if h, _, err := net.SplitHostPort(server); err == nil {
		host = h
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(strings.ToLower(host), "."+strings.ToLower(rest))
	}
	return strings.EqualFold(pattern, server) || strings.EqualFold(pattern, host)
}

// Allowed reports whether server may be federated with: not denied, and
// allowed when an allow list is set.
func (l ServerList) Allowed(server string) bool {
	for _, p := range l.Deny {
		if matchServer(p, server) {
			return false
		}
	}
	if len(l.Allow) == 0 {
		return true
	}
	for _, p := range l.Allow {
		if matchServer(p, server) {
			return true
		}
	}
	return false
}

// Target is where requests to a server go: BaseURL ("https://host:port")
// and whether its addresses are checked (Guarded: found by discovery).
type Target struct {
	BaseURL string
	Guarded bool
}

type discoEntry struct {
	target   Target
	err      error // a refusal, answered until until
	until    time.Time
	failures int
}

// Resolver turns a server name into a Target: the static peers first,
// then the server's /.well-known/crypttalk/server, then the name itself
// on port 443. Answers are cached; failures of the well-known fetch back
// off (1 minute doubling to 1 hour), the fallback serving meanwhile.
type Resolver struct {
	Static map[string]string // server name -> base URL (federation.peers)
	List   ServerList
	HTTP   HTTPOptions

	once    sync.Once
	guarded *http.Client // dials checked addresses only
	trusted *http.Client // for static peers: addresses named in config
	mu      sync.Mutex
	cache   map[string]*discoEntry
}

func (r *Resolver) init() {
	r.once.Do(func() {
		r.cache = map[string]*discoEntry{}
		r.guarded = r.newClient(true)
		r.trusted = r.newClient(false)
	})
}

func (r *Resolver) timeout() time.Duration {
	if r.HTTP.Timeout > 0 {
		return r.HTTP.Timeout
	}
	return 30 * time.Second
}

func (r *Resolver) newClient(guard bool) *http.Client {
	dial := r.HTTP.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	dc := dial
	if guard {
		dc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ip, err := r.pin(ctx, addr)
			if err != nil {
				return nil, err
			}
			return dial(ctx, network, ip)
		}
	}
	var tc *tls.Config
	if r.HTTP.TLS != nil {
		tc = r.HTTP.TLS.Clone()
	}
	tr := &http.Transport{
		DialContext:            dc,
		TLSClientConfig:        tc,
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  r.timeout(),
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   r.timeout(),
		// Federation requests are signed for one URI: a redirect would
		// need a new signature, so it is an error, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// pin resolves the host of addr once and returns "ip:port" of the first
// public address: the address checked is the address dialled, so a DNS
// answer that changes between check and connect (rebinding) cannot reach
// an internal one.
func (r *Resolver) pin(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if r.HTTP.LookupIP != nil {
		ips, err = r.HTTP.LookupIP(ctx, host)
		if err != nil {
			return "", err
		}
	} else {
		ias, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return "", err
		}
		ips = ias
	}
	for _, ip := range ips {
		if PublicAddr(ip) {
			return net.JoinHostPort(ip.Unmap().String(), port), nil
		}
	}
	return "", fmt.Errorf("federation: %s resolves to no public address: %w", host, ErrRefusedAddress)
}

// Client is the HTTP client for requests to target.
func (r *Resolver) Client(t Target) *http.Client {
	r.init()
	if t.Guarded {
		return r.guarded
	}
	return r.trusted
}

// Resolve finds where requests to server go.
func (r *Resolver) Resolve(ctx context.Context, server string) (Target, error) {
	r.init()
	if !r.List.Allowed(server) {
		return Target{}, fmt.Errorf("federation: %s: %w", server, ErrServerNotAllowed)
	}
	if u, ok := r.Static[server]; ok {
		return Target{BaseURL: strings.TrimRight(u, "/")}, nil
	}
	if err := checkServerName(server); err != nil {
		return Target{}, err
	}
	now := r.HTTP.now()
	r.mu.Lock()
	e, ok := r.cache[server]
	r.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.target, e.err
	}
	t, err := r.wellKnown(ctx, server)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxDiscoveryCache {
		for k := range r.cache { // any entry: the cache only saves fetches
			delete(r.cache, k)
			break
		}
	}
	if err != nil {
		if errors.Is(err, ErrRefusedAddress) || errors.Is(err, errBadDelegation) {
			// A delegation to a refused address is an answer, not an
			// outage: the server is not reachable, and no fallback
			// sidesteps what it said.
			r.cache[server] = &discoEntry{err: err, until: now.Add(wellKnownFailFirst)}
			return Target{}, err
		}
		n := 1
		if ok {
			n = e.failures + 1
		}
		back := wellKnownFailFirst << min(n-1, 6)
		if back > wellKnownFailMax {
			back = wellKnownFailMax
		}
		t = Target{BaseURL: "https://" + withPort(server), Guarded: true}
		r.cache[server] = &discoEntry{target: t, until: now.Add(back), failures: n}
		return t, nil
	}
	r.cache[server] = &discoEntry{target: t, until: now.Add(wellKnownCacheTTL)}
	return t, nil
}

var errBadDelegation = errors.New("bad well-known delegation")

// wellKnown asks https://<server>/.well-known/crypttalk/server.
func (r *Resolver) wellKnown(ctx context.Context, server string) (Target, error) {
	if hasPort(server) || isIPLiteral(server) {
		// As Matrix: an explicit port or an IP literal is the address.
		return r.checkTarget(ctx, Target{BaseURL: "https://" + withPort(server), Guarded: true})
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+server+wellKnownPath, nil)
	if err != nil {
		return Target{}, err
	}
	c := *r.guarded
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > MaxWellKnownHops {
			return errors.New("too many redirects")
		}
		if req.URL.Scheme != "https" {
			return errors.New("redirect away from https")
		}
		return nil
	}
	resp, err := c.Do(req)
	if err != nil {
		return Target{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxWellKnownBytes+1))
	if err != nil {
		return Target{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Target{}, fmt.Errorf("well-known: status %d", resp.StatusCode)
	}
	if len(body) > MaxWellKnownBytes {
		return Target{}, fmt.Errorf("well-known: body over %d bytes", MaxWellKnownBytes)
	}
	var wk struct {
		Server string `json:"server"`
	}
	if err := json.Unmarshal(body, &wk); err != nil || wk.Server == "" {
		return Target{}, fmt.Errorf("well-known: want {\"server\": \"host:port\"}")
	}
	if checkServerName(wk.Server) != nil {
		return Target{}, fmt.Errorf("well-known: %q: %w", wk.Server, errBadDelegation)
	}
	return r.checkTarget(ctx, Target{BaseURL: "https://" + withPort(wk.Server), Guarded: true})
}

// checkTarget refuses a target whose host resolves to no public address
// now, so that the refusal is reported at discovery, not at each send.
func (r *Resolver) checkTarget(ctx context.Context, t Target) (Target, error) {
	u, err := url.Parse(t.BaseURL)
	if err != nil {
		return Target{}, err
	}
	if _, err := r.pin(ctx, u.Host); err != nil {
		return Target{}, err
	}
	return t, nil
}

func hasPort(s string) bool {
	_, p, err := net.SplitHostPort(s)
	return err == nil && p != ""
}

func isIPLiteral(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

func withPort(s string) string {
	if hasPort(s) {
		return s
	}
	if strings.HasPrefix(s, "[") {
		return s + ":443"
	}
	if ip, err := netip.ParseAddr(s); err == nil && ip.Is6() {
		return "[" + s + "]:443"
	}
	return s + ":443"
}

// checkServerName accepts "host" or "host:port" where host is a DNS name,
// an IPv4 address or a bracketed IPv6 address.
func checkServerName(s string) error {
	if s == "" || len(s) > maxIDLen {
		return fmt.Errorf("federation: server name %q: empty or too long: %w", s, errBadDelegation)
	}
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host = h
		if p == "" || len(p) > 5 || strings.Trim(p, "0123456789") != "" {
			return fmt.Errorf("federation: server name %q: bad port: %w", s, errBadDelegation)
		}
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	}
	if strings.HasPrefix(host, "[") {
		if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && ip.Is6() {
			return nil
		}
		return fmt.Errorf("federation: server name %q: bad IPv6 literal: %w", s, errBadDelegation)
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || strings.Trim(strings.ToLower(label), "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return fmt.Errorf("federation: server name %q: not a DNS name or address: %w", s, errBadDelegation)
		}
	}
	return nil
}
