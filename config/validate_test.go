package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	c := Default()
	c.Server.Listen = "nonsense"
	c.Server.ServerName = "bad name!"
	c.Server.ShutdownTimeout = 0
	c.Store.MongoURL = "mongodb://db/ct" // without master keys: the cluster rule
	c.Bus.RedisURL = "http://redis"
	c.Keys.BcryptCost = 99
	c.Limits.MessageBytes = -1
	c.RateLimit.LoginPerIPCount = -1
	c.Log.Level = "loud"
	c.Log.Format = "xml"
	c.Federation.Peers = map[string]string{"b.example": "ftp://b"}
	err := c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	keys := []string{"server.listen", "server.server_name", "server.shutdown_timeout", "bus.redis_url",
		"keys.master_keys", "keys.bcrypt_cost", "limits.message_bytes", "ratelimit.login_per_ip_count",
		"log.level", "log.format", "federation.peers"}
	msg := err.Error()
	for _, key := range keys {
		if !strings.Contains(msg, "config: "+key+" (") {
			t.Errorf("%s not named:\n%s", key, msg)
		}
	}
	if !strings.Contains(msg, "nodes must share keys: set CRYPTTALK_MASTER_KEYS") {
		t.Errorf("cluster rule not explained:\n%s", msg)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != len(keys) {
		t.Fatalf("want %d separate errors, got:\n%s", len(keys), msg)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Key == "" || fe.Env == "" {
		t.Fatalf("errors are not *FieldError with key and env: %#v", fe)
	}
}

// validateCase is one change to the defaults and the key it must be
// reported on; "" means the change is valid.
type validateCase struct {
	name   string
	change func(*Config)
	key    string
}

var validateCases = func() []validateCase {
	k1, k2 := "v1:"+masterKey('a'), "v2:"+masterKey('b')
	return []validateCase{
		{"listen any address", func(c *Config) { c.Server.Listen = ":0" }, ""},
		{"listen IPv6", func(c *Config) { c.Server.Listen = "[::1]:5000" }, ""},
		{"listen host name", func(c *Config) { c.Server.Listen = "localhost:5000" }, ""},
		{"listen without port", func(c *Config) { c.Server.Listen = "127.0.0.1" }, "server.listen"},
		{"listen named port", func(c *Config) { c.Server.Listen = ":http" }, "server.listen"},
		{"listen port too big", func(c *Config) { c.Server.Listen = ":65536" }, "server.listen"},
		{"listen bad host", func(c *Config) { c.Server.Listen = "bad_host:1" }, "server.listen"},
		{"admin listen", func(c *Config) { c.Server.AdminListen = "127.0.0.1:9090" }, ""},
		{"admin listen same as public", func(c *Config) { c.Server.AdminListen = c.Server.Listen }, "server.admin_listen"},
		{"admin listen bad", func(c *Config) { c.Server.AdminListen = "9090" }, "server.admin_listen"},
		{"server name with port", func(c *Config) { c.Server.ServerName = "chat.example.org:8448" }, ""},
		{"server name IPv4", func(c *Config) { c.Server.ServerName = "10.1.2.3" }, ""},
		{"server name IPv6", func(c *Config) { c.Server.ServerName = "[2001:db8::1]:8448" }, ""},
		{"server name empty", func(c *Config) { c.Server.ServerName = "" }, "server.server_name"},
		{"server name trailing dot", func(c *Config) { c.Server.ServerName = "chat.example." }, "server.server_name"},
		{"server name port 0", func(c *Config) { c.Server.ServerName = "a.example:0" }, "server.server_name"},
		{"server name bare IPv6", func(c *Config) { c.Server.ServerName = "2001:db8::1" }, "server.server_name"},
		{"server name IPv4 in brackets", func(c *Config) { c.Server.ServerName = "[10.0.0.1]" }, "server.server_name"},
		{"server name label too long", func(c *Config) { c.Server.ServerName = strings.Repeat("a", 64) + ".example" }, "server.server_name"},
		{"server name hyphen edge", func(c *Config) { c.Server.ServerName = "-a.example" }, "server.server_name"},
		{"public base URL", func(c *Config) { c.Server.PublicBaseURL = "https://chat.example.org/ct" }, ""},
		{"public base URL relative", func(c *Config) { c.Server.PublicBaseURL = "/ct" }, "server.public_base_url"},
		{"public base URL query", func(c *Config) { c.Server.PublicBaseURL = "https://a?x=1" }, "server.public_base_url"},
		{"proxies", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "::1", "fd00::/8"} }, ""},
		{"proxy bad CIDR", func(c *Config) { c.Server.TrustedProxies = []string{"10.0.0.0/33"} }, "server.trusted_proxies"},
		{"origins", func(c *Config) { c.Server.AllowedOrigins = []string{"https://app.example", "http://localhost:3000"} }, ""},
		{"origin wildcard", func(c *Config) { c.Server.AllowedOrigins = []string{"*"} }, "server.allowed_origins"},
		{"origin with path", func(c *Config) { c.Server.AllowedOrigins = []string{"https://app.example/x"} }, "server.allowed_origins"},
		{"origin bare host", func(c *Config) { c.Server.AllowedOrigins = []string{"app.example"} }, "server.allowed_origins"},
		{"no data dir, embedded", func(c *Config) { c.Store.DataDir = " " }, "store.data_dir"},
		{"no data dir, mongo", func(c *Config) { c.Store.DataDir, c.Store.MongoURL, c.Keys.MasterKeys = "", "mongodb://db", k1 }, ""},
		{"mongo srv", func(c *Config) { c.Store.MongoURL, c.Keys.MasterKeys = "mongodb+srv://u:p@cluster.example/ct", k1 }, ""},
		{"mongo multi-host", func(c *Config) { c.Store.MongoURL, c.Keys.MasterKeys = "mongodb://a:1,b:2/ct?replicaSet=rs", k1 }, ""},
		{"mongo wrong scheme", func(c *Config) { c.Store.MongoURL, c.Keys.MasterKeys = "postgres://db", k1 }, "store.mongo_url"},
		{"mongo no host", func(c *Config) { c.Store.MongoURL, c.Keys.MasterKeys = "mongodb:///ct", k1 }, "store.mongo_url"},
		{"mongo without master keys", func(c *Config) { c.Store.MongoURL = "mongodb://db" }, "keys.master_keys"},
		{"redis", func(c *Config) { c.Bus.RedisURL = "rediss://:pw@redis:6380/0" }, ""},
		{"redis no host", func(c *Config) { c.Bus.RedisURL = "redis://" }, "bus.redis_url"},
		{"redis empty prefix", func(c *Config) { c.Bus.Prefix = "" }, "bus.prefix"},
		{"master keys", func(c *Config) { c.Keys.MasterKeys = k1 + ", " + k2 }, ""},
		{"master key unpadded", func(c *Config) { c.Keys.MasterKeys = strings.TrimRight(k1, "=") }, ""},
		{"master key url-safe base64", func(c *Config) { c.Keys.MasterKeys = "v1:" + strings.Repeat("_", 43) }, "keys.master_keys"},
		{"master key 31 bytes", func(c *Config) { c.Keys.MasterKeys = "v1:" + masterKey('a')[:40] }, "keys.master_keys"},
		{"master key without version", func(c *Config) { c.Keys.MasterKeys = masterKey('a') }, "keys.master_keys"},
		{"master key bad version", func(c *Config) { c.Keys.MasterKeys = "version1:" + masterKey('a') }, "keys.master_keys"},
		{"master key twice", func(c *Config) { c.Keys.MasterKeys = k1 + "," + k1 }, "keys.master_keys"},
		{"active key", func(c *Config) { c.Keys.MasterKeys, c.Keys.ActiveMasterKey = k1+","+k2, "v1" }, ""},
		{"active key unknown", func(c *Config) { c.Keys.MasterKeys, c.Keys.ActiveMasterKey = k1, "v2" }, "keys.active_master_key"},
		{"active key alone", func(c *Config) { c.Keys.ActiveMasterKey = "v1" }, "keys.active_master_key"},
		{"admin token", func(c *Config) { c.Keys.AdminToken = strings.Repeat("x", 16) }, ""},
		{"admin token short", func(c *Config) { c.Keys.AdminToken = strings.Repeat("x", 15) }, "keys.admin_token"},
		{"admin token newline", func(c *Config) { c.Keys.AdminToken = strings.Repeat("x", 20) + "\n" }, "keys.admin_token"},
		{"bcrypt 4", func(c *Config) { c.Keys.BcryptCost = 4 }, ""},
		{"bcrypt 31", func(c *Config) { c.Keys.BcryptCost = 31 }, ""},
		{"bcrypt 3", func(c *Config) { c.Keys.BcryptCost = 3 }, "keys.bcrypt_cost"},
		{"bcrypt 32", func(c *Config) { c.Keys.BcryptCost = 32 }, "keys.bcrypt_cost"},
		{"negative duration", func(c *Config) { c.Keys.TokenTTL = -time.Hour }, "keys.token_ttl"},
		{"zero limit", func(c *Config) { c.Limits.WSSendQueue = 0 }, "limits.ws_send_queue"},
		{"body below file", func(c *Config) { c.Limits.BodyBytes = int(c.Limits.FileBytes) - 1 }, "limits.body_bytes"},
		{"body below voice", func(c *Config) { c.Limits.VoiceBytes = int64(c.Limits.BodyBytes) + 1 }, "limits.body_bytes"},
		{"frame below message", func(c *Config) { c.Limits.WSFrameBytes = c.Limits.MessageBytes - 1 }, "limits.ws_frame_bytes"},
		{"rate limit off", func(c *Config) { c.RateLimit.SendPerUserCount = 0 }, ""},
		{"log upper case", func(c *Config) { c.Log.Level, c.Log.Format = "WARN", "Text" }, ""},
		{"peers", func(c *Config) {
			c.Federation.Peers = map[string]string{"b.example": "http://127.0.0.1:5002", "c.example:8448": "https://c.example/prefix"}
		}, ""},
		{"peer own name", func(c *Config) { c.Federation.Peers = map[string]string{"LOCALHOST": "http://127.0.0.1:1"} }, "federation.peers"},
		{"peer bad name", func(c *Config) { c.Federation.Peers = map[string]string{"b_example": "http://b"} }, "federation.peers"},
		{"peer no scheme", func(c *Config) { c.Federation.Peers = map[string]string{"b.example": "127.0.0.1:5002"} }, "federation.peers"},
		{"peer no host", func(c *Config) { c.Federation.Peers = map[string]string{"b.example": "http://"} }, "federation.peers"},
	}
}()

func TestValidateRules(t *testing.T) {
	for _, tc := range validateCases {
		c := Default()
		tc.change(&c)
		err := c.Validate()
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s: rejected: %v", tc.name, err)
		case tc.key != "" && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.key != "" && !strings.Contains(err.Error(), "config: "+tc.key+" ("):
			t.Errorf("%s: error does not name %s: %v", tc.name, tc.key, err)
		}
	}
}

func TestActiveKeyThatIsAKeyIsNotEchoed(t *testing.T) {
	c := Default()
	c.Keys.MasterKeys = "v1:" + masterKey('a')
	c.Keys.ActiveMasterKey = masterKey('q')
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), masterKey('q')) || !strings.Contains(err.Error(), "not a version name") {
		t.Fatalf("got %v", err)
	}
}

func TestWarnings(t *testing.T) {
	c := Default()
	if w := c.Warnings(); len(w) != 0 {
		t.Fatalf("defaults warn: %v", w)
	}
	c.Keys.BcryptCost = 9
	c.Server.Demo = true
	c.Bus.RedisURL = "redis://r:6379"
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"keys.bcrypt_cost 9", "server.demo", "without MONGO_URL"} {
		if !strings.Contains(w, want) {
			t.Errorf("no warning about %s:\n%s", want, w)
		}
	}
	// Load passes them on with a valid config.
	_, warnings := mustLoad(t, LoadOptions{Env: []string{"CRYPTTALK_BCRYPT_COST=4"}})
	if len(warnings) != 1 || !strings.Contains(warnings[0], "below 10") {
		t.Fatalf("warnings %v", warnings)
	}
	// A cost out of range is an error, not also a warning.
	c = Default()
	c.Keys.BcryptCost = 3
	if len(c.Warnings()) != 0 {
		t.Fatal("invalid cost also warned about")
	}
}
