// Package config is Crypt-Talk's configuration: one Config value with
// defaults, loaded from a YAML file, the environment and flags (in that
// order of precedence, flags last), validated with every problem reported
// at once.
package config

import (
	"time"
)

// Config is the whole configuration of a node.
type Config struct {
	Server     Server     `mapstructure:"server"`
	Store      Store      `mapstructure:"store"`
	Bus        Bus        `mapstructure:"bus"`
	Keys       Keys       `mapstructure:"keys"`
	Limits     Limits     `mapstructure:"limits"`
	RateLimit  RateLimit  `mapstructure:"ratelimit"`
	Log        Log        `mapstructure:"log"`
	Federation Federation `mapstructure:"federation"`
}

// Server is the HTTP side.
type Server struct {
	Listen          string        `mapstructure:"listen"`
	AdminListen     string        `mapstructure:"admin_listen"`
	ServerName      string        `mapstructure:"server_name"`
	PublicBaseURL   string        `mapstructure:"public_base_url"`
	TrustedProxies  []string      `mapstructure:"trusted_proxies"`
	AllowedOrigins  []string      `mapstructure:"allowed_origins"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	Demo            bool          `mapstructure:"demo"`
}

// Store selects and tunes the database.
type Store struct {
	DataDir   string        `mapstructure:"data_dir"`
	MongoURL  string        `mapstructure:"mongo_url"`
	OpTimeout time.Duration `mapstructure:"op_timeout"`
}

// Bus selects the fan-out transport.
type Bus struct {
	RedisURL    string        `mapstructure:"redis_url"`
	Prefix      string        `mapstructure:"prefix"`
	PresenceTTL time.Duration `mapstructure:"presence_ttl"`
}

// Keys holds secrets and credential settings.
type Keys struct {
	MasterKeys      string        `mapstructure:"master_keys"`
	ActiveMasterKey string        `mapstructure:"active_master_key"`
	AdminToken      string        `mapstructure:"admin_token"`
	BcryptCost      int           `mapstructure:"bcrypt_cost"`
	TokenTTL        time.Duration `mapstructure:"token_ttl"`
}

// Limits are the contract's size and time limits.
type Limits struct {
	MessageBytes     int           `mapstructure:"message_bytes"`
	FileBytes        int64         `mapstructure:"file_bytes"`
	VoiceBytes       int64         `mapstructure:"voice_bytes"`
	VoiceMaxDuration time.Duration `mapstructure:"voice_max_duration"`
	BodyBytes        int           `mapstructure:"body_bytes"`
	JSONDepth        int           `mapstructure:"json_depth"`
	WSFrameBytes     int           `mapstructure:"ws_frame_bytes"`
	WSSendQueue      int           `mapstructure:"ws_send_queue"`
	WSAuthTimeout    time.Duration `mapstructure:"ws_auth_timeout"`
	WSPingInterval   time.Duration `mapstructure:"ws_ping_interval"`
	HistoryMax       int           `mapstructure:"history_max"`
}

// RateLimit are per-window counters; a count of 0 disables a limit.
type RateLimit struct {
	RegisterPerIPCount int           `mapstructure:"register_per_ip_count"`
	RegisterWindow     time.Duration `mapstructure:"register_window"`
	LoginPerIPCount    int           `mapstructure:"login_per_ip_count"`
	LoginPerUserCount  int           `mapstructure:"login_per_user_count"`
	LoginWindow        time.Duration `mapstructure:"login_window"`
	SendPerUserCount   int           `mapstructure:"send_per_user_count"`
	SendWindow         time.Duration `mapstructure:"send_window"`
}

// Log configures log/slog.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Federation configures server-to-server traffic.
type Federation struct {
	// Peers is the static discovery map: server name -> base URL.
	Peers          map[string]string `mapstructure:"-"`
	PeersSpec      string            `mapstructure:"peers"`
	SigningKeyFile string            `mapstructure:"signing_key_file"`
}

// defaults, by key. Every key here is a known key.
var defaults = map[string]any{
	"server.listen":                   ":5000",
	"server.admin_listen":             "",
	"server.server_name":              "localhost",
	"server.public_base_url":          "",
	"server.trusted_proxies":          []string{},
	"server.allowed_origins":          []string{},
	"server.shutdown_timeout":         "10s",
	"server.demo":                     false,
	"store.data_dir":                  "./data",
	"store.mongo_url":                 "",
	"store.op_timeout":                "5s",
	"bus.redis_url":                   "",
	"bus.prefix":                      "ct:",
	"bus.presence_ttl":                "10s",
	"keys.master_keys":                "",
	"keys.active_master_key":          "",
	"keys.admin_token":                "",
	"keys.bcrypt_cost":                12,
	"keys.token_ttl":                  "720h",
	"limits.message_bytes":            16 << 10,
	"limits.file_bytes":               10 << 20,
	"limits.voice_bytes":              10 << 20,
	"limits.voice_max_duration":       "10m",
	"limits.body_bytes":               11 << 20,
	"limits.json_depth":               32,
	"limits.ws_frame_bytes":           64 << 10,
	"limits.ws_send_queue":            256,
	"limits.ws_auth_timeout":          "10s",
	"limits.ws_ping_interval":         "25s",
	"limits.history_max":              200,
	"ratelimit.register_per_ip_count": 20,
	"ratelimit.register_window":       "1h",
	"ratelimit.login_per_ip_count":    60,
	"ratelimit.login_per_user_count":  10,
	"ratelimit.login_window":          "15m",
	"ratelimit.send_per_user_count":   0,
	"ratelimit.send_window":           "1m",
	"log.level":                       "info",
	"log.format":                      "json",
	"federation.peers":                "",
	"federation.signing_key_file":     "",
}

// aliases are the contract's environment names (SPEC.md) for keys whose
// generic CRYPTTALK_SECTION_KEY name is also accepted. The alias wins.
var aliases = map[string]string{
	"server.listen":          "CRYPTTALK_LISTEN",
	"server.admin_listen":    "CRYPTTALK_ADMIN_LISTEN",
	"server.server_name":     "CRYPTTALK_SERVER_NAME",
	"store.data_dir":         "CRYPTTALK_DATA_DIR",
	"store.mongo_url":        "MONGO_URL",
	"bus.redis_url":          "REDIS_URL",
	"keys.master_keys":       "CRYPTTALK_MASTER_KEYS",
	"keys.active_master_key": "CRYPTTALK_ACTIVE_MASTER_KEY",
	"keys.admin_token":       "CRYPTTALK_ADMIN_TOKEN",
	"keys.bcrypt_cost":       "CRYPTTALK_BCRYPT_COST",
	"federation.peers":       "CRYPTTALK_FEDERATION_PEERS",
	"log.level":              "CRYPTTALK_LOG_LEVEL",
}

// secrets may also be read from a file named by <ENV>_FILE or <key>_file.
var secrets = []string{"keys.master_keys", "keys.admin_token"}

// Default returns the defaults as a Config.
func Default() Config {
	c, _, err := Load(LoadOptions{})
	if err != nil {
		panic(err) // the defaults are valid; a test guards it
	}
	return *c
}
