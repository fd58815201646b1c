package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
)

// Validate reports every invalid value at once, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s (%s): %s", key, EnvName(key), fmt.Sprintf(format, a...)))
	}
	checkAddr(bad, "server.listen", c.Server.Listen, false)
	checkAddr(bad, "server.admin_listen", c.Server.AdminListen, true)
	if !serverNameRE.MatchString(c.Server.ServerName) {
		bad("server.server_name", "%q is not a host name (optionally with :port)", c.Server.ServerName)
	}
	if c.Store.MongoURL == "" && c.Store.DataDir == "" {
		bad("store.data_dir", "must be set when MONGO_URL is not")
	}
	if c.Store.MongoURL != "" && !strings.HasPrefix(c.Store.MongoURL, "mongodb://") && !strings.HasPrefix(c.Store.MongoURL, "mongodb+srv://") {
		bad("store.mongo_url", "must start with mongodb:// or mongodb+srv://")
	}
	if c.Bus.RedisURL != "" && !strings.HasPrefix(c.Bus.RedisURL, "redis://") && !strings.HasPrefix(c.Bus.RedisURL, "rediss://") {
		bad("bus.redis_url", "must start with redis:// or rediss://")
	}
	if c.Keys.MasterKeys != "" {
		if err := checkMasterKeys(c.Keys.MasterKeys); err != nil {
			bad("keys.master_keys", "%v", err)
		}
	} else if c.Store.MongoURL != "" {
		bad("keys.master_keys", "required with MONGO_URL: nodes must share keys, set CRYPTTALK_MASTER_KEYS")
	}
	if c.Keys.BcryptCost < 4 || c.Keys.BcryptCost > 31 {
		bad("keys.bcrypt_cost", "must be between 4 and 31, got %d", c.Keys.BcryptCost)
	}
	if c.Keys.AdminToken != "" && len(c.Keys.AdminToken) < 16 {
		bad("keys.admin_token", "must be at least 16 characters")
	}
	for key, d := range map[string]time.Duration{
		"server.shutdown_timeout": c.Server.ShutdownTimeout, "store.op_timeout": c.Store.OpTimeout,
		"bus.presence_ttl": c.Bus.PresenceTTL, "keys.token_ttl": c.Keys.TokenTTL,
		"limits.voice_max_duration": c.Limits.VoiceMaxDuration, "limits.ws_auth_timeout": c.Limits.WSAuthTimeout,
		"limits.ws_ping_interval": c.Limits.WSPingInterval, "ratelimit.register_window": c.RateLimit.RegisterWindow,
		"ratelimit.login_window": c.RateLimit.LoginWindow, "ratelimit.send_window": c.RateLimit.SendWindow,
	} {
		if d <= 0 {
			bad(key, "must be a positive duration such as 10s")
		}
	}
	for key, n := range map[string]int64{
		"limits.message_bytes": int64(c.Limits.MessageBytes), "limits.file_bytes": c.Limits.FileBytes,
		"limits.voice_bytes": c.Limits.VoiceBytes, "limits.body_bytes": int64(c.Limits.BodyBytes),
		"limits.json_depth": int64(c.Limits.JSONDepth), "limits.ws_frame_bytes": int64(c.Limits.WSFrameBytes),
		"limits.ws_send_queue": int64(c.Limits.WSSendQueue), "limits.history_max": int64(c.Limits.HistoryMax),
	} {
		if n <= 0 {
			bad(key, "must be positive")
		}
	}
	if int64(c.Limits.BodyBytes) < max(c.Limits.FileBytes, c.Limits.VoiceBytes) {
		bad("limits.body_bytes", "must be at least limits.file_bytes and limits.voice_bytes")
	}
	for key, n := range map[string]int{
		"ratelimit.register_per_ip_count": c.RateLimit.RegisterPerIPCount, "ratelimit.login_per_ip_count": c.RateLimit.LoginPerIPCount,
		"ratelimit.login_per_user_count": c.RateLimit.LoginPerUserCount, "ratelimit.send_per_user_count": c.RateLimit.SendPerUserCount,
	} {
		if n < 0 {
			bad(key, "must not be negative (0 turns the limit off)")
		}
	}
	if !oneOf(strings.ToLower(c.Log.Level), "debug", "info", "warn", "error") {
		bad("log.level", "must be debug, info, warn or error")
	}
	if !oneOf(c.Log.Format, "json", "text") {
		bad("log.format", "must be json or text")
	}
	for _, p := range c.Server.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("server.trusted_proxies", "%q is neither an IP nor a CIDR", p)
			}
		}
	}
	return errors.Join(errs...)
}

var serverNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,251}[a-zA-Z0-9])?(:[0-9]{1,5})?$`)

func checkAddr(bad func(string, string, ...any), key, addr string, optional bool) {
	if addr == "" && optional {
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		bad(key, "%q is not host:port (e.g. :5000 or 127.0.0.1:5000)", addr)
	}
}

func checkMasterKeys(spec string) error {
	for i, entry := range strings.Split(spec, ",") {
		version, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || !regexp.MustCompile(`^v[0-9]{1,9}$`).MatchString(version) {
			return fmt.Errorf("entry %d: want vN:<base64 of 32 bytes>", i+1)
		}
		n := -1
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if b, err := enc.DecodeString(strings.TrimSpace(b64)); err == nil {
				n = len(b)
				break
			}
		}
		if n != 32 {
			return fmt.Errorf("key %s: not base64 of 32 bytes", version)
		}
	}
	return nil
}

func oneOf(s string, list ...string) bool {
	for _, v := range list {
		if s == v {
			return true
		}
	}
	return false
}

func joinErrs(errs ...error) error { return errors.Join(errs...) }

// Redacted returns a copy safe to print: secrets replaced by "[redacted]".
func (c Config) Redacted() Config {
	for _, p := range []*string{&c.Keys.MasterKeys, &c.Keys.AdminToken} {
		if *p != "" {
			*p = "[redacted]"
		}
	}
	for _, p := range []*string{&c.Store.MongoURL, &c.Bus.RedisURL} {
		*p = redactURL(*p)
	}
	return c
}

// redactURL hides a password in a URL's user info.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return u
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":[redacted]" + rest[at:]
}
