// Package config is Crypt-Talk's configuration: one Config value built from
// defaults, a YAML file, the environment and flags (later sources win),
// validated with every problem reported at once and printable without its
// secrets. There is no package-level state: callers pass the value along.
//
// Every key "section.key" is read from the environment as
// CRYPTTALK_SECTION_KEY; the contract names of SPEC.md (CRYPTTALK_LISTEN,
// MONGO_URL, ...) are read too and win over the generic ones. The full list
// is in docs/CONFIGURATION.md, which a test keeps in step with this package.
package config

import "time"

// Config is the whole configuration of one node. The mapstructure tags are
// the key names of the YAML file and, upper-cased, of the environment.
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

// Server configures the HTTP listeners and how the node sees its clients.
type Server struct {
	// Listen is the public listener, host:port (":5000" is every address).
	Listen string `mapstructure:"listen"`
	// AdminListen is the listener of /metrics and the admin API; "" means none.
	AdminListen string `mapstructure:"admin_listen"`
	// ServerName is the name in user ids and federation, a DNS name or host:port.
	ServerName string `mapstructure:"server_name"`
	// PublicBaseURL is the URL clients reach the node at, for links; "" means
	// derive it from the request.
	PublicBaseURL string `mapstructure:"public_base_url"`
	// TrustedProxies are IPs or CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// AllowedOrigins are browser origins (scheme://host[:port]) allowed for
	// CORS and WebSocket upgrades besides the server's own host.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// Demo creates the demo users; never in production.
	Demo bool `mapstructure:"demo"`
}

// Store selects and tunes the database.
type Store struct {
	// DataDir holds the embedded database, blobs and generated keys.
	DataDir string `mapstructure:"data_dir"`
	// MongoURL selects MongoDB when set; "" means the embedded store.
	MongoURL string `mapstructure:"mongo_url"`
	// OpTimeout bounds each database call.
	OpTimeout time.Duration `mapstructure:"op_timeout"`
}

// Bus selects the fan-out and presence transport.
type Bus struct {
	// RedisURL selects Redis when set; "" means the in-process bus.
	RedisURL string `mapstructure:"redis_url"`
	// Prefix starts every Redis key and channel, so clusters can share a Redis.
	Prefix string `mapstructure:"prefix"`
	// PresenceTTL is how long a silent node's users stay online.
	PresenceTTL time.Duration `mapstructure:"presence_ttl"`
}

// Keys holds secrets and credential settings. Print a Config through
// Redacted, String or LogValue, never field by field.
type Keys struct {
	// MasterKeys is "v1:<base64 of 32 bytes>,v2:..."; "" lets the embedded
	// store generate one into the data dir.
	MasterKeys string `mapstructure:"master_keys"`
	// ActiveMasterKey names the version that wraps new keys; "" means the last.
	ActiveMasterKey string `mapstructure:"active_master_key"`
	// AdminToken is the Bearer token of the admin API; "" closes that API.
	AdminToken string `mapstructure:"admin_token"`
	// BcryptCost is the cost of password hashes.
	BcryptCost int `mapstructure:"bcrypt_cost"`
	// TokenTTL is the lifetime of an access token.
	TokenTTL time.Duration `mapstructure:"token_ttl"`
}

// Limits are the size and time limits of the contract.
type Limits struct {
	MessageBytes     int           `mapstructure:"message_bytes"`      // text of one message, UTF-8 bytes
	FileBytes        int64         `mapstructure:"file_bytes"`         // one uploaded file
	VoiceBytes       int64         `mapstructure:"voice_bytes"`        // one voice message
	VoiceMaxDuration time.Duration `mapstructure:"voice_max_duration"` // length of one voice message
	BodyBytes        int           `mapstructure:"body_bytes"`         // one HTTP request body
	JSONBodyBytes    int           `mapstructure:"json_body_bytes"`    // one JSON request body (all but uploads and avatars)
	JSONDepth        int           `mapstructure:"json_depth"`         // nesting of a JSON document
	WSFrameBytes     int           `mapstructure:"ws_frame_bytes"`     // one WebSocket frame (close 1009)
	WSSendQueue      int           `mapstructure:"ws_send_queue"`      // frames queued per socket before it is cut
	WSAuthTimeout    time.Duration `mapstructure:"ws_auth_timeout"`    // time for the auth frame
	WSPingInterval   time.Duration `mapstructure:"ws_ping_interval"`   // heartbeat period
	HistoryMax       int           `mapstructure:"history_max"`        // messages per history page

	// Abuse limits of the WebSocket gateway and the HTTP listener.
	WSFrameRate      int           `mapstructure:"ws_frame_rate"`       // client frames per second one socket may sustain (over: close 4003)
	WSFrameBurst     int           `mapstructure:"ws_frame_burst"`      // client frames one socket may send at once
	WSSocketsPerUser int           `mapstructure:"ws_sockets_per_user"` // open sockets of one user on one node (over: close 4004)
	WSPendingPerIP   int           `mapstructure:"ws_pending_per_ip"`   // unauthenticated sockets of one address (over: 429 / close 4004)
	HeaderTimeout    time.Duration `mapstructure:"header_timeout"`      // time to send a request's headers (slowloris)

	// Files kept on disk.
	PendingUploadTTL time.Duration `mapstructure:"pending_upload_ttl"` // an upload no message announced is removed after this
	VoicePlayGrace   time.Duration `mapstructure:"voice_play_grace"`   // a played-out voice stays readable its duration plus this
	UploadQuotaBytes int64         `mapstructure:"upload_quota_bytes"` // plaintext bytes of files one user may store

	// JobBatchPause is the wait of a background job (rewrap, reencrypt)
	// after each batch of 64 items: it bounds the job's load on the store.
	JobBatchPause time.Duration `mapstructure:"job_batch_pause"`
}

// RateLimit are token buckets: Count hits at once, then Count per Window
// (one every Window/Count); a count of 0 turns that limit off.
type RateLimit struct {
	RegisterPerIPCount int           `mapstructure:"register_per_ip_count"` // registrations per client IP
	RegisterWindow     time.Duration `mapstructure:"register_window"`       // window of RegisterPerIPCount
	LoginPerIPCount    int           `mapstructure:"login_per_ip_count"`    // login attempts per client IP
	LoginPerUserCount  int           `mapstructure:"login_per_user_count"`  // failed logins per (user name, client IP); wrong admin tokens per IP
	LoginWindow        time.Duration `mapstructure:"login_window"`          // window of both login counts
	SendPerUserCount   int           `mapstructure:"send_per_user_count"`   // messages sent per user
	SendWindow         time.Duration `mapstructure:"send_window"`           // window of SendPerUserCount

	UploadPerUserCount int           `mapstructure:"upload_per_user_count"` // file and voice uploads per user
	UploadWindow       time.Duration `mapstructure:"upload_window"`         // window of UploadPerUserCount
}

// Log configures log/slog.
type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn or error
	Format string `mapstructure:"format"` // json or text
}

// Federation configures server-to-server traffic.
type Federation struct {
	// Enabled runs federation: the /_crypttalk routes, the outbox senders
	// and remote user ids. Off, another server's ids are unknown users.
	Enabled bool `mapstructure:"enabled"`
	// Peers is static discovery: server name -> base URL. In the environment
	// it is written "b.example=http://127.0.0.1:5002,c.example=https://c".
	Peers map[string]string `mapstructure:"peers"`
	// SigningKeyFile is the ed25519 signing key; "" means one in the data dir.
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// AllowServers, when not empty, are the only servers federated with;
	// DenyServers are never federated with. "*.example.com" matches subdomains.
	AllowServers []string `mapstructure:"allow_servers"`
	DenyServers  []string `mapstructure:"deny_servers"`
	// OriginRateCount transactions per OriginRateWindow are accepted from one origin.
	OriginRateCount  int           `mapstructure:"origin_rate_count"`
	OriginRateWindow time.Duration `mapstructure:"origin_rate_window"`
	// RetryMin and RetryMax bound the backoff of a destination that fails.
	RetryMin time.Duration `mapstructure:"retry_min"`
	RetryMax time.Duration `mapstructure:"retry_max"`
	// SenderLease is how long a node holds the sending of one destination
	// without renewing it: after a node dies, another takes over within it.
	SenderLease time.Duration `mapstructure:"sender_lease"`
}

// Default returns the configuration of a node started with no file, no
// environment and no flags: embedded store, in-process bus, port 5000.
func Default() Config {
	return Config{
		Server: Server{
			Listen:          ":5000",
			ServerName:      "localhost",
			TrustedProxies:  []string{},
			AllowedOrigins:  []string{},
			ShutdownTimeout: 10 * time.Second,
		},
		Store: Store{DataDir: "./data", OpTimeout: 5 * time.Second},
		Bus:   Bus{Prefix: "ct:", PresenceTTL: 10 * time.Second},
		Keys:  Keys{BcryptCost: 12, TokenTTL: 720 * time.Hour},
		Limits: Limits{
			MessageBytes:     16 << 10,
			FileBytes:        10 << 20,
			VoiceBytes:       10 << 20,
			VoiceMaxDuration: 10 * time.Minute,
			BodyBytes:        11 << 20, // a maximal file plus multipart overhead
			JSONBodyBytes:    64 << 10, // a message at its limit with room for escapes; no 11 MiB logins
			JSONDepth:        32,
			WSFrameBytes:     64 << 10,
			WSSendQueue:      256,
			WSAuthTimeout:    10 * time.Second,
			WSPingInterval:   25 * time.Second,
			WSFrameRate:      20,
			WSFrameBurst:     100,
			WSSocketsPerUser: 20,
			WSPendingPerIP:   32,
			HeaderTimeout:    10 * time.Second,
			HistoryMax:       200,

			PendingUploadTTL: time.Hour,
			VoicePlayGrace:   time.Minute,
			UploadQuotaBytes: 1 << 30,
			JobBatchPause:    10 * time.Millisecond, // a breath for the store between batches; 100k keys take 16 s more
		},
		RateLimit: RateLimit{
			RegisterPerIPCount: 20,
			RegisterWindow:     time.Hour,
			LoginPerIPCount:    30,
			LoginPerUserCount:  10,
			LoginWindow:        15 * time.Minute,
			SendPerUserCount:   600, // ten a second: above any typist, below a flood
			SendWindow:         time.Minute,

			UploadPerUserCount: 60, // a photo album at once, not a disk filled
			UploadWindow:       10 * time.Minute,
		},
		Log: Log{Level: "info", Format: "json"},
		Federation: Federation{
			Enabled:          true,
			Peers:            map[string]string{},
			AllowServers:     []string{},
			DenyServers:      []string{},
			OriginRateCount:  300, // transactions of up to 50 events: 15000 events a minute per origin
			OriginRateWindow: time.Minute,
			RetryMin:         time.Second,
			RetryMax:         10 * time.Minute,
			SenderLease:      30 * time.Second,
		},
	}
}
