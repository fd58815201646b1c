package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// checkListenAddr accepts host:port with a numeric port (0 picks a free
// one) and a host that is empty, an IP or a DNS name.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !validPort(port, 0) {
		return errors.New("want host:port such as :5000 or 127.0.0.1:5000")
	}
	if host != "" && net.ParseIP(host) == nil && !validDNSName(host) {
		return errors.New("the host is neither an IP address nor a DNS name")
	}
	return nil
}

// checkServerName follows Matrix's server name grammar: a DNS name, an
// IPv4 address or a bracketed IPv6 address, with an optional port.
func checkServerName(name string) error {
	var port string
	var hasPort bool
	if rest, ok := strings.CutPrefix(name, "["); ok {
		ip, after, closed := strings.Cut(rest, "]")
		port, hasPort = strings.CutPrefix(after, ":")
		if !closed || !strings.Contains(ip, ":") || net.ParseIP(ip) == nil || (after != "" && !hasPort) {
			return errors.New("want [IPv6 address] with an optional :port")
		}
	} else {
		var host string
		host, port, hasPort = strings.Cut(name, ":")
		if net.ParseIP(host) == nil && !validDNSName(host) {
			return errors.New("want a DNS name or IP address, optionally with :port")
		}
	}
	if hasPort && !validPort(port, 1) {
		return errors.New("the port must be 1 to 65535")
	}
	return nil
}

// validPort accepts a decimal port from low to 65535.
func validPort(port string, low int) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= low && n <= 65535 && port == strconv.Itoa(n)
}

// dnsLabel is one label of a host name (RFC 1123).
var dnsLabel = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// validDNSName accepts host names such as chat.example.org or localhost.
func validDNSName(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if !dnsLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// checkBaseURL accepts an absolute http(s) URL without credentials, query
// or fragment; a path prefix is allowed.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return errors.New("the URL has no host")
	case u.User != nil:
		return errors.New("the URL must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("the URL must not have a query or fragment")
	}
	return nil
}

// checkOrigin accepts a browser origin, scheme://host[:port]. "*" is
// refused on purpose: any page could then drive a logged-in user's socket.
func checkOrigin(origin string) error {
	if origin == "*" {
		return errors.New("wildcard origins are not allowed; list each origin")
	}
	if err := checkBaseURL(origin); err != nil {
		return err
	}
	if u, _ := url.Parse(origin); u.Path != "" {
		return errors.New("an origin has no path: want scheme://host[:port]")
	}
	return nil
}

// checkServiceURL checks the scheme of a database or Redis URL and that a
// host follows. The URL is never put in the error: it may hold a password.
func checkServiceURL(s string, schemes ...string) error {
	for _, scheme := range schemes {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				rest = rest[at+1:]
			}
			if rest == "" || rest[0] == '/' || rest[0] == '?' {
				return errors.New("the URL has no host")
			}
			return nil
		}
	}
	return fmt.Errorf("want a URL starting with %s", strings.Join(schemes, " or "))
}

// versionRE is the shape of a master key version; vault accepts the same.
var versionRE = regexp.MustCompile(`^v[0-9]{1,9}$`)

// masterKeySize is the length of a master key in bytes.
const masterKeySize = 32

// checkMasterKeys checks "v1:<base64>,v2:<base64>" the way vault parses it
// (vault is not imported: config depends on nothing of ours) and returns
// the versions. Errors name entries by position or version, never by
// content: a misplaced key must not reach a log.
func checkMasterKeys(spec string) ([]string, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var versions []string
	for i, entry := range strings.Split(spec, ",") {
		version, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok || !versionRE.MatchString(version) {
			return nil, fmt.Errorf("entry %d: want vN:<base64 of %d bytes>", i+1, masterKeySize)
		}
		for _, v := range versions {
			if v == version {
				return nil, fmt.Errorf("version %s is listed twice", version)
			}
		}
		if n, ok := decodedLen(strings.TrimSpace(b64)); !ok || n != masterKeySize {
			return nil, fmt.Errorf("key %s: want standard base64 of %d bytes", version, masterKeySize)
		}
		versions = append(versions, version)
	}
	return versions, nil
}

// decodedLen decodes standard base64, padded or not, and returns its length.
func decodedLen(s string) (int, bool) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	return len(b), err == nil
}

// safeVersion shows a version name only when it looks like one: a key
// pasted into the wrong variable must not be echoed.
func safeVersion(v string) string {
	if versionRE.MatchString(v) {
		return v
	}
	return "(not a version name)"
}
