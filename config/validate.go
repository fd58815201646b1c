package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"
)

// problems collects FieldErrors.
type problems []error

func (p *problems) add(key, format string, a ...any) {
	*p = append(*p, newFieldError(key, format, a...))
}

// Validate reports every invalid value at once: an errors.Join of
// *FieldError, each naming its key and wrapping ErrInvalid; nil when the
// configuration is usable. Load calls it; call it again after changing a
// Config in code.
func (c *Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems runs every check, section by section, in struct order.
func (c *Config) problems() []error {
	var p problems
	c.checkNumbers(&p)
	c.checkServer(&p)
	c.checkStore(&p)
	c.checkKeys(&p)
	c.checkLimits(&p)
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Log.Level)) {
		p.add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if !slices.Contains([]string{"json", "text"}, strings.ToLower(c.Log.Format)) {
		p.add("log.format", "%q: want json or text", c.Log.Format)
	}
	c.checkFederation(&p)
	return p
}

// checkNumbers applies the rules that hold for whole kinds of fields: no
// duration may be zero or negative, a limit must be positive, a rate-limit
// count may be 0 (off) but not negative. Going by kind means a new field
// is checked without being listed.
func (c *Config) checkNumbers(p *problems) {
	durationType := reflect.TypeFor[time.Duration]()
	for _, f := range fields() {
		v := c.value(f)
		section, _, _ := strings.Cut(f.key, ".")
		switch {
		case v.Type() == durationType:
			if v.Int() <= 0 {
				p.add(f.key, "%v: want a positive duration such as 10s", time.Duration(v.Int()))
			}
		case !v.CanInt():
		case section == "limits" && v.Int() <= 0:
			p.add(f.key, "%d: want a positive number", v.Int())
		case section == "ratelimit" && v.Int() < 0:
			p.add(f.key, "%d: want 0 (no limit) or a positive count", v.Int())
		}
	}
}

func (c *Config) checkServer(p *problems) {
	s := c.Server
	if err := checkListenAddr(s.Listen); err != nil {
		p.add("server.listen", "%q: %v", s.Listen, err)
	}
	if s.AdminListen != "" {
		if err := checkListenAddr(s.AdminListen); err != nil {
			p.add("server.admin_listen", "%q: %v", s.AdminListen, err)
		} else if s.AdminListen == s.Listen {
			p.add("server.admin_listen", "is the same address as server.listen; use another port or leave it empty")
		}
	}
	if err := checkServerName(s.ServerName); err != nil {
		p.add("server.server_name", "%q: %v", s.ServerName, err)
	}
	if s.PublicBaseURL != "" {
		if err := checkBaseURL(s.PublicBaseURL); err != nil {
			p.add("server.public_base_url", "%q: %v", s.PublicBaseURL, err)
		}
	}
	for _, proxy := range s.TrustedProxies {
		if net.ParseIP(proxy) == nil {
			if _, _, err := net.ParseCIDR(proxy); err != nil {
				p.add("server.trusted_proxies", "%q: want an IP address or a CIDR such as 10.0.0.0/8", proxy)
			}
		}
	}
	for _, origin := range s.AllowedOrigins {
		if err := checkOrigin(origin); err != nil {
			p.add("server.allowed_origins", "%q: %v", origin, err)
		}
	}
}

// checkStore covers the store and the bus: both say how nodes share state.
// URLs are never quoted back: they may carry passwords.
func (c *Config) checkStore(p *problems) {
	if c.Store.MongoURL == "" && strings.TrimSpace(c.Store.DataDir) == "" {
		p.add("store.data_dir", "is empty; the embedded store needs a directory when MONGO_URL is not set")
	}
	if c.Store.MongoURL != "" {
		if err := checkServiceURL(c.Store.MongoURL, "mongodb://", "mongodb+srv://"); err != nil {
			p.add("store.mongo_url", "%v", err)
		}
	}
	if c.Bus.RedisURL != "" {
		if err := checkServiceURL(c.Bus.RedisURL, "redis://", "rediss://"); err != nil {
			p.add("bus.redis_url", "%v", err)
		}
	}
	if c.Bus.Prefix == "" {
		p.add("bus.prefix", "is empty; every Redis key needs a prefix so deployments can share a Redis")
	}
}

// checkKeys never quotes a secret back, not even a malformed one.
func (c *Config) checkKeys(p *problems) {
	k := c.Keys
	versions, err := checkMasterKeys(k.MasterKeys)
	switch {
	case err != nil:
		p.add("keys.master_keys", "%v", err)
	case k.MasterKeys == "" && c.Store.MongoURL != "":
		p.add("keys.master_keys", "is required with MONGO_URL: nodes must share keys: set CRYPTTALK_MASTER_KEYS (or CRYPTTALK_MASTER_KEYS_FILE) to the same value on every node")
	}
	if k.ActiveMasterKey != "" && err == nil {
		switch {
		case k.MasterKeys == "":
			p.add("keys.active_master_key", "is set but keys.master_keys is empty")
		case !slices.Contains(versions, k.ActiveMasterKey):
			p.add("keys.active_master_key", "%s is not one of the master key versions %v", safeVersion(k.ActiveMasterKey), versions)
		}
	}
	if k.AdminToken != "" && (len(k.AdminToken) < minAdminToken || strings.ContainsAny(k.AdminToken, " \t\r\n")) {
		p.add("keys.admin_token", "want at least %d characters without spaces (try: openssl rand -hex 32)", minAdminToken)
	}
	if k.BcryptCost < 4 || k.BcryptCost > 31 {
		p.add("keys.bcrypt_cost", "%d: want 4 to 31", k.BcryptCost)
	}
}

// minAdminToken is the shortest admin token accepted: short ones can be
// guessed online.
const minAdminToken = 16

// checkLimits checks the limits against each other; checkNumbers has
// already checked each alone.
func (c *Config) checkLimits(p *problems) {
	l := c.Limits
	if need := max(l.FileBytes, l.VoiceBytes, int64(l.MessageBytes)); int64(l.BodyBytes) < need {
		p.add("limits.body_bytes", "%d is below %d: a request at the file, voice or message limit would be refused", l.BodyBytes, need)
	}
	if l.JSONBodyBytes < l.MessageBytes {
		p.add("limits.json_body_bytes", "%d is below limits.message_bytes (%d): a message at the limit could not be sent over REST", l.JSONBodyBytes, l.MessageBytes)
	}
	if l.WSFrameBytes < l.MessageBytes {
		p.add("limits.ws_frame_bytes", "%d is below limits.message_bytes (%d): a message at the limit could not be sent over WebSocket", l.WSFrameBytes, l.MessageBytes)
	}
}

func (c *Config) checkFederation(p *problems) {
	for _, name := range slices.Sorted(maps.Keys(c.Federation.Peers)) {
		if err := checkServerName(name); err != nil {
			p.add("federation.peers", "peer %q: %v", name, err)
		} else if strings.EqualFold(name, c.Server.ServerName) {
			p.add("federation.peers", "peer %q is this server's own name", name)
		}
		if err := checkBaseURL(c.Federation.Peers[name]); err != nil {
			p.add("federation.peers", "peer %q: URL %q: %v", name, redactURL(c.Federation.Peers[name]), err)
		}
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"federation.allow_servers", c.Federation.AllowServers}, {"federation.deny_servers", c.Federation.DenyServers}} {
		for _, name := range l.names {
			if err := checkServerName(strings.TrimPrefix(name, "*.")); err != nil {
				p.add(l.key, "%q: %v", name, err)
			}
		}
	}
	f := c.Federation
	if f.OriginRateCount < 1 || f.OriginRateWindow <= 0 {
		p.add("federation.origin_rate_count", "%d per %s: both must be positive", f.OriginRateCount, f.OriginRateWindow)
	}
	if f.RetryMin <= 0 || f.RetryMax < f.RetryMin {
		p.add("federation.retry_max", "retry_min %s and retry_max %s: need 0 < retry_min <= retry_max", f.RetryMin, f.RetryMax)
	}
	if f.SenderLease < time.Second {
		p.add("federation.sender_lease", "%s: must be at least 1s", f.SenderLease)
	}
}

// Warnings lists settings that work but are risky; Load returns them.
func (c *Config) Warnings() []string {
	var w []string
	if c.Keys.BcryptCost >= 4 && c.Keys.BcryptCost < 10 {
		w = append(w, fmt.Sprintf("keys.bcrypt_cost %d is below 10: password hashes are cheap to crack; use it for tests only", c.Keys.BcryptCost))
	}
	if c.Server.Demo {
		w = append(w, "server.demo is on: demo users with a published password exist; never in production")
	}
	if c.Bus.RedisURL != "" && c.Store.MongoURL == "" {
		w = append(w, "REDIS_URL is set without MONGO_URL: each node keeps its own embedded store, so nodes do not share users or messages")
	}
	return w
}
