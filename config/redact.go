package config

import (
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strings"
)

// redacted replaces a secret when printed. It is the same whatever the
// secret's length, which is not revealed either.
const redacted = "[redacted]"

// Redacted returns a copy that is safe to print or log: master keys and the
// admin token become "[redacted]" (an unset one stays empty, so "not set"
// is still visible) and passwords inside URLs are replaced.
func (c Config) Redacted() Config {
	for _, p := range []*string{&c.Keys.MasterKeys, &c.Keys.AdminToken} {
		if *p != "" {
			*p = redacted
		}
	}
	c.Store.MongoURL = redactURL(c.Store.MongoURL)
	c.Bus.RedisURL = redactURL(c.Bus.RedisURL)
	peers := maps.Clone(c.Federation.Peers) // the copy must not write into c's map
	for name, u := range peers {
		peers[name] = redactURL(u)
	}
	c.Federation.Peers = peers
	return c
}

// String prints one "key = value" line per key, secrets redacted, so
// fmt.Print(cfg) and %v are safe.
func (c Config) String() string {
	return c.render(func(string) bool { return true }, "\n")
}

// GoString makes %#v as safe as %v.
func (c Config) GoString() string { return c.String() }

// LogValue makes slog print the redacted form, with any handler.
func (c Config) LogValue() slog.Value {
	r := c.Redacted()
	attrs := make([]slog.Attr, 0, len(fields()))
	for _, f := range fields() {
		attrs = append(attrs, slog.Any(f.key, r.value(f).Interface()))
	}
	return slog.GroupValue(attrs...)
}

// String prints the section redacted: it holds the secrets.
func (k Keys) String() string { return Config{Keys: k}.section("keys") }

// GoString makes %#v as safe as %v.
func (k Keys) GoString() string { return k.String() }

// String prints the section redacted: the Mongo URL may hold a password.
func (s Store) String() string { return Config{Store: s}.section("store") }

// GoString makes %#v as safe as %v.
func (s Store) GoString() string { return s.String() }

// String prints the section redacted: the Redis URL may hold a password.
func (b Bus) String() string { return Config{Bus: b}.section("bus") }

// GoString makes %#v as safe as %v.
func (b Bus) GoString() string { return b.String() }

// section renders one section as "{key=value ...}".
func (c Config) section(name string) string {
	return "{" + c.render(func(key string) bool { return strings.HasPrefix(key, name+".") }, " ") + "}"
}

// render prints the redacted keys that keep accepts, joined by sep.
func (c Config) render(keep func(key string) bool, sep string) string {
	r := c.Redacted()
	var lines []string
	for _, f := range fields() {
		if !keep(f.key) {
			continue
		}
		v := r.value(f)
		if v.Kind() == reflect.String || v.Kind() == reflect.Slice {
			lines = append(lines, fmt.Sprintf("%s = %q", f.key, v.Interface()))
		} else {
			lines = append(lines, fmt.Sprintf("%s = %v", f.key, v.Interface()))
		}
	}
	return strings.Join(lines, sep)
}

// redactURL hides the password of a URL's user info and the values of
// query options that look secret (MongoDB accepts
// tlsCertificateKeyFilePassword there). It works on the text, not on
// url.Parse, because multi-host MongoDB URLs and unescaped passwords do
// not parse, and those must be hidden too.
func redactURL(s string) string {
	if s == "" {
		return s
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return redacted // not a URL: no telling which part is secret
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPass := strings.Cut(rest[:at], ":"); hasPass {
			rest = user + ":" + redacted + rest[at:]
		}
	}
	base, query, hasQuery := strings.Cut(rest, "?")
	if !hasQuery {
		return scheme + "://" + rest
	}
	opts := strings.Split(query, "&")
	for i, opt := range opts {
		name, _, _ := strings.Cut(opt, "=")
		lower := strings.ToLower(name)
		for _, hint := range []string{"pass", "secret", "token", "key"} {
			if strings.Contains(lower, hint) {
				opts[i] = name + "=" + redacted
				break
			}
		}
	}
	return scheme + "://" + base + "?" + strings.Join(opts, "&")
}
