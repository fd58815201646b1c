package config

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// masterKey is a valid key spec entry's base64 part, 32 bytes of b.
func masterKey(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune(b)), 32)))
}

// writeFile writes body to a fresh file and returns its path.
func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustLoad loads and fails the test on error.
func mustLoad(t *testing.T, o LoadOptions) (*Config, []string) {
	t.Helper()
	c, warnings, err := Load(o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c, warnings
}

// loadErr loads and fails the test unless it fails.
func loadErr(t *testing.T, o LoadOptions) string {
	t.Helper()
	c, _, err := Load(o)
	if err == nil {
		t.Fatalf("Load succeeded, want an error: %v", c)
	}
	return err.Error()
}

// flags returns a parsed flag set registered by BindFlags.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestDefaultIsValidAndIsWhatLoadGivesAlone(t *testing.T) {
	def := Default()
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	c, warnings := mustLoad(t, LoadOptions{})
	if !reflect.DeepEqual(*c, def) {
		t.Fatalf("Load with no sources differs from Default:\n%v\n---\n%v", c, def)
	}
	if len(warnings) != 0 {
		t.Fatalf("defaults warn: %v", warnings)
	}
	if c.Server.Listen != ":5000" || c.Store.DataDir != "./data" || c.Server.ServerName != "localhost" ||
		c.Keys.BcryptCost != 12 || c.Store.MongoURL != "" || c.Bus.RedisURL != "" {
		t.Fatalf("contract defaults changed: %v", c)
	}
}

func TestPrecedenceDefaultFileEnvFlag(t *testing.T) {
	keys := []struct {
		file, env, flag string // one line of YAML, one variable, one flag
		values          [3]string
		get             func(*Config) string
	}{
		{"server:\n  listen: %s\n", "CRYPTTALK_LISTEN", "--listen", [3]string{":6001", ":6002", ":6003"}, func(c *Config) string { return c.Server.Listen }},
		{"server:\n  server_name: %s\n", "CRYPTTALK_SERVER_NAME", "--server-name", [3]string{"file.example", "env.example", "flag.example"}, func(c *Config) string { return c.Server.ServerName }},
		{"store:\n  data_dir: %s\n", "CRYPTTALK_DATA_DIR", "--data-dir", [3]string{"/file", "/env", "/flag"}, func(c *Config) string { return c.Store.DataDir }},
		{"log:\n  level: %s\n", "CRYPTTALK_LOG_LEVEL", "--log-level", [3]string{"warn", "error", "debug"}, func(c *Config) string { return c.Log.Level }},
		{"server:\n  demo: %s\n", "CRYPTTALK_SERVER_DEMO", "--demo", [3]string{"true", "false", "true"}, func(c *Config) string { return map[bool]string{true: "true", false: "false"}[c.Server.Demo] }},
	}
	def := Default()
	for _, k := range keys {
		for layers := 0; layers <= 3; layers++ {
			var o LoadOptions
			want := k.get(&def)
			if layers >= 1 {
				o.File = writeFile(t, "c.yaml", strings.Replace(k.file, "%s", k.values[0], 1))
				want = k.values[0]
			}
			if layers >= 2 {
				o.Env = []string{k.env + "=" + k.values[1]}
				want = k.values[1]
			}
			if layers >= 3 {
				o.Flags = flags(t, k.flag+"="+k.values[2])
				want = k.values[2]
			} else {
				o.Flags = flags(t) // registered but not set: must not override
			}
			c, _ := mustLoad(t, o)
			if got := k.get(c); got != want {
				t.Errorf("%s with %d layers: got %q, want %q", k.env, layers, got, want)
			}
		}
	}
}

func TestPortAndListen(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"PORT=7000"}, ":7000"},
		{[]string{"PORT=7000", "CRYPTTALK_LISTEN=127.0.0.1:7001"}, "127.0.0.1:7001"},
		{[]string{"CRYPTTALK_LISTEN=127.0.0.1:7001", "PORT=7000"}, "127.0.0.1:7001"},
		{[]string{"PORT=7000", "CRYPTTALK_SERVER_LISTEN=:7002"}, ":7002"},
		{[]string{"CRYPTTALK_SERVER_LISTEN=:7002", "CRYPTTALK_LISTEN=:7003"}, ":7003"},
		{[]string{"CRYPTTALK_LISTEN=:7003", "CRYPTTALK_LISTEN="}, ":5000"}, // a later empty value unsets
	} {
		c, _ := mustLoad(t, LoadOptions{Env: tc.env})
		if c.Server.Listen != tc.want {
			t.Errorf("%v: listen %q, want %q", tc.env, c.Server.Listen, tc.want)
		}
	}
	// PORT is environment: it beats the file, and a flag beats it.
	file := writeFile(t, "c.yaml", "server:\n  listen: ':6000'\n")
	if c, _ := mustLoad(t, LoadOptions{File: file, Env: []string{"PORT=7000"}}); c.Server.Listen != ":7000" {
		t.Errorf("PORT lost to the file: %s", c.Server.Listen)
	}
	if c, _ := mustLoad(t, LoadOptions{Env: []string{"PORT=7000"}, Flags: flags(t, "--listen=:7004")}); c.Server.Listen != ":7004" {
		t.Errorf("--listen lost to PORT: %s", c.Server.Listen)
	}
	msg := loadErr(t, LoadOptions{Env: []string{"PORT=http"}})
	if !strings.Contains(msg, "server.listen") {
		t.Errorf("bad PORT not reported on server.listen: %s", msg)
	}
}

func TestEveryKeyHasAGenericEnvName(t *testing.T) {
	env := []string{
		"CRYPTTALK_SERVER_SHUTDOWN_TIMEOUT=3s",
		"CRYPTTALK_STORE_OP_TIMEOUT=2s",
		"CRYPTTALK_KEYS_BCRYPT_COST=11",
		"CRYPTTALK_LIMITS_FILE_BYTES=2048",
		"CRYPTTALK_LIMITS_VOICE_BYTES=1024",
		"CRYPTTALK_RATELIMIT_SEND_PER_USER_COUNT=0",
		"CRYPTTALK_SERVER_TRUSTED_PROXIES= 10.0.0.0/8 , 127.0.0.1,",
		"CRYPTTALK_SERVER_ALLOWED_ORIGINS=https://app.example/,http://localhost:3000",
	}
	c, warnings := mustLoad(t, LoadOptions{Env: env})
	if c.Server.ShutdownTimeout != 3*time.Second || c.Store.OpTimeout != 2*time.Second || c.Keys.BcryptCost != 11 ||
		c.Limits.FileBytes != 2048 || c.Limits.VoiceBytes != 1024 || c.RateLimit.SendPerUserCount != 0 {
		t.Errorf("generic names not read: %v", c)
	}
	if !reflect.DeepEqual(c.Server.TrustedProxies, []string{"10.0.0.0/8", "127.0.0.1"}) {
		t.Errorf("proxies %q", c.Server.TrustedProxies)
	}
	if !reflect.DeepEqual(c.Server.AllowedOrigins, []string{"https://app.example", "http://localhost:3000"}) {
		t.Errorf("origins %q", c.Server.AllowedOrigins)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %v", warnings)
	}
}

func TestFileListsAndDurations(t *testing.T) {
	file := writeFile(t, "c.yaml", `
server:
  trusted_proxies: [10.0.0.0/8, "::1"]
  shutdown_timeout: 1m30s
keys:
  token_ttl: 24h
`)
	c, _ := mustLoad(t, LoadOptions{File: file})
	if !reflect.DeepEqual(c.Server.TrustedProxies, []string{"10.0.0.0/8", "::1"}) || c.Server.ShutdownTimeout != 90*time.Second || c.Keys.TokenTTL != 24*time.Hour {
		t.Fatalf("file values: %v", c)
	}
	// A bare number would be nanoseconds: refused in both sources.
	msg := loadErr(t, LoadOptions{File: writeFile(t, "c.yaml", "keys:\n  token_ttl: 3600\n")})
	if !strings.Contains(msg, "keys.token_ttl") || !strings.Contains(msg, "unit") {
		t.Errorf("bare number duration: %s", msg)
	}
	msg = loadErr(t, LoadOptions{Env: []string{"CRYPTTALK_BUS_PRESENCE_TTL=10"}})
	if !strings.Contains(msg, "bus.presence_ttl") {
		t.Errorf("bare number duration from env: %s", msg)
	}
}

func TestDecodeAndValidationErrorsTogether(t *testing.T) {
	_, _, err := Load(LoadOptions{Env: []string{
		"CRYPTTALK_BCRYPT_COST=twelve",
		"CRYPTTALK_SERVER_DEMO=maybe",
		"CRYPTTALK_LIMITS_HISTORY_MAX=-5",
		"CRYPTTALK_LISTEN=nonsense",
	}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	msg := err.Error()
	for _, key := range []string{"keys.bcrypt_cost (CRYPTTALK_BCRYPT_COST)", "server.demo", "limits.history_max", "server.listen"} {
		if !strings.Contains(msg, key) {
			t.Errorf("%s not reported:\n%s", key, msg)
		}
	}
	// A value that failed to decode is reported once, not also as "4..31".
	if strings.Count(msg, "keys.bcrypt_cost") != 1 {
		t.Errorf("bcrypt_cost reported twice:\n%s", msg)
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	file := writeFile(t, "c.yaml", `
server:
  lisen: ":1"
  Listen: ":5001"
bogus: 1
keys:
  admin_token_file: `+writeFile(t, "tok", "0123456789abcdef")+`
  master_key: x
`)
	c, warnings := mustLoad(t, LoadOptions{File: file, Env: []string{"CRYPTTALK_LISTN=:1", "CRYPTTALK_SERVER_URL=http://x", "CRYPTTALK_TEST_MONGO_URL=mongodb://x", "HOME=/root"}})
	all := strings.Join(warnings, "\n")
	for _, want := range []string{`"server.lisen"`, `"bogus"`, `"keys.master_key"`, "CRYPTTALK_LISTN", file} {
		if !strings.Contains(all, want) {
			t.Errorf("no warning naming %s:\n%s", want, all)
		}
	}
	if len(warnings) != 4 {
		t.Errorf("want 4 warnings (ctl's and tests' variables are not unknown), got:\n%s", all)
	}
	if c.Server.Listen != ":5001" || c.Keys.AdminToken != "0123456789abcdef" {
		t.Errorf("known keys lost beside unknown ones: %q %q", c.Server.Listen, c.Keys.AdminToken)
	}
}

func TestBadFiles(t *testing.T) {
	for name, body := range map[string]string{
		"unclosed.yaml": "server: [unclosed\n",
		"dup.yaml":      "server:\n  listen: ':1'\n  listen: ':2'\n",
		"list.yaml":     "- server\n- store\n",
		"tabs.yaml":     "server:\n\tlisten: ':1'\n",
	} {
		p := writeFile(t, name, body)
		msg := loadErr(t, LoadOptions{File: p})
		if !strings.Contains(msg, p) {
			t.Errorf("%s: error does not name the file: %s", name, msg)
		}
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if _, _, err := Load(LoadOptions{File: missing}); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if msg := loadErr(t, LoadOptions{File: t.TempDir()}); !strings.Contains(msg, "not a regular file") {
		t.Errorf("directory as file: %s", msg)
	}
	msg := loadErr(t, LoadOptions{File: writeFile(t, "c.yaml", "server: 5\nstore: [a]\n")})
	if !strings.Contains(msg, "config: server: want a mapping") || !strings.Contains(msg, "config: store: want a mapping") {
		t.Errorf("sections that are not mappings: %s", msg)
	}
	// An empty file and empty sections are fine.
	mustLoad(t, LoadOptions{File: writeFile(t, "empty.yaml", "")})
	mustLoad(t, LoadOptions{File: writeFile(t, "sections.yaml", "server:\nstore:\n")})
}

func TestBindFlags(t *testing.T) {
	fs := flags(t)
	for _, s := range flagSpecs {
		f := fs.Lookup(s.name)
		if f == nil {
			t.Fatalf("flag --%s not registered", s.name)
		}
		if !strings.Contains(f.Usage, envName(s.key)) {
			t.Errorf("--%s usage does not name %s", s.name, envName(s.key))
		}
	}
	if fs.Lookup("listen").DefValue != ":5000" {
		t.Errorf("help shows the wrong default: %q", fs.Lookup("listen").DefValue)
	}
	// A flag set without our flags, or none at all, is fine.
	mustLoad(t, LoadOptions{Flags: pflag.NewFlagSet("other", pflag.ContinueOnError)})
}
