// Package redis is the pubsub.Bus that lets several nodes of one homeserver
// share fan-out, presence, rate limits and leases through Redis.
//
// Layout in Redis (every name starts with Options.Prefix, "ct:" by default):
//
//	<p>topic:<topic>         pub/sub channel of a topic
//	<p>pres:nodes            sorted set: node id -> heartbeat expiry (ms)
//	<p>pres:node:<node id>   set of users connected to that node (TTL'd)
//	<p>rl:<key>              GCRA rate limit: theoretical arrival time (ms)
//	<p>lease:<name>          lease, value = holder node id
//	<p>nodes                 hash: node id -> JSON of its latest heartbeat (registry.go)
//
// Payloads are opaque sealed events; Redis never sees plaintext.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
)

// Errors returned by this package; ErrClosed and ErrInvalid are the values
// shared with pubsub/local.
var (
	ErrClosed  = local.ErrClosed
	ErrInvalid = local.ErrInvalid
)

// Timeouts applied when the Redis URL does not set its own. They are short
// on purpose: with Redis down, Publish and Subscribe must fail within a
// couple of seconds so that requests do not pile up behind a dead server.
const (
	dialTimeout = time.Second
	ioTimeout   = 2 * time.Second
)

// Options configures a Bus. The zero value is usable.
type Options struct {
	// Prefix starts every key and channel name, so that several
	// deployments or tests can share one Redis. Default "ct:".
	Prefix string
	// NodeID identifies this node in presence and leases. Default: random.
	// Two live nodes must never share one.
	NodeID string
	// PresenceTTL is how long a node's users stay online after its last
	// heartbeat; heartbeats run every PresenceTTL/3. Default 10s, so a
	// node killed with kill -9 takes its users offline within 10s.
	PresenceTTL time.Duration
	// Logger receives reconnects and background errors. Default
	// slog.Default().
	Logger *slog.Logger

	// healthEvery is how long the subscriber waits for traffic before it
	// pings the connection to detect a dead peer; tests shorten it.
	healthEvery time.Duration
}

func (o *Options) setDefaults() error {
	if o.Prefix == "" {
		o.Prefix = "ct:"
	}
	if o.NodeID == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("random node id: %w", err)
		}
		o.NodeID = hex.EncodeToString(b[:])
	}
	if o.PresenceTTL <= 0 {
		o.PresenceTTL = 10 * time.Second
	}
	if o.PresenceTTL < 30*time.Millisecond {
		return fmt.Errorf("%w: presence TTL %s is too short", ErrInvalid, o.PresenceTTL)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.healthEvery <= 0 {
		o.healthEvery = 5 * time.Second
	}
	return nil
}

// Bus is a pubsub.Bus on Redis. It also exposes a Limiter and a Locker
// sharing its connection pool.
type Bus struct {
	opts   Options
	log    *slog.Logger
	client *goredis.Client
	fan    *local.Fanout
	keys   keys

	ctx    context.Context // cancelled by Close; stops the goroutines
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	subs     subscriber
	presence *presence
	limits   limitState
}

var _ pubsub.Bus = (*Bus)(nil)

// New connects to the Redis at url (redis:// or rediss://, see
// go-redis ParseURL for the query options) and starts the subscriber and
// heartbeat goroutines. It fails if Redis does not answer.
func New(ctx context.Context, url string, opts Options) (*Bus, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	ropts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: Redis URL: %w", ErrInvalid, err)
	}
	applyTimeouts(ropts)
	client := goredis.NewClient(ropts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("ping Redis at %s: %w", ropts.Addr, err)
	}
	b := &Bus{
		opts:   opts,
		log:    opts.Logger.With("component", "pubsub/redis", "node", opts.NodeID),
		client: client,
		fan:    local.NewFanout(),
		keys:   newKeys(opts.Prefix, opts.NodeID),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.subs.init(b)
	b.presence = newPresence(b)
	ps, err := b.subs.connect(ctx)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("subscribe to Redis at %s: %w", ropts.Addr, err)
	}
	b.wg.Add(3)
	go b.subs.run(ps)
	go b.subs.unsubscriber()
	go b.presence.run()
	return b, nil
}

// applyTimeouts sets the package's short timeouts wherever the URL left the
// go-redis default, and limits retries so a dead Redis fails fast.
func applyTimeouts(o *goredis.Options) {
	if o.DialTimeout == 0 {
		o.DialTimeout = dialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = ioTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = ioTimeout
	}
	if o.PoolTimeout == 0 {
		o.PoolTimeout = ioTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 1
	}
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
	}
	o.ContextTimeoutEnabled = true
}

// keys names everything this node touches in Redis.
type keys struct {
	topicPrefix string // + topic = channel
	nodes       string // sorted set of live nodes
	nodePrefix  string // + node id = that node's user set
	self        string // this node's user set
	limitPrefix string
	leasePrefix string
}

func newKeys(prefix, nodeID string) keys {
	return keys{
		topicPrefix: prefix + "topic:",
		nodes:       prefix + "pres:nodes",
		nodePrefix:  prefix + "pres:node:",
		self:        prefix + "pres:node:" + nodeID,
		limitPrefix: prefix + "rl:",
		leasePrefix: prefix + "lease:",
	}
}

// Publish implements pubsub.Bus. It returns an error within a few seconds
// when Redis is unreachable; the event is then lost for live delivery.
func (b *Bus) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := local.CheckTopic(topic); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	if err := b.client.Publish(ctx, b.keys.topicPrefix+topic, payload).Err(); err != nil {
		return fmt.Errorf("publish to Redis: %w", err)
	}
	return nil
}

// Presence implements pubsub.Bus.
func (b *Bus) Presence() pubsub.Presence { return b.presence }

// Limiter returns the Redis rate limiter, shared by every node on this
// Redis and prefix.
func (b *Bus) Limiter() pubsub.Limiter { return limiter{b: b} }

// Locker returns leases held in Redis under this node's id.
func (b *Bus) Locker() pubsub.Locker { return locker{b: b} }

// NodeID is this node's id in presence and leases.
func (b *Bus) NodeID() string { return b.opts.NodeID }

// OnReconnect registers f to run after the subscriber connection was lost
// and re-established, when events may have been missed: callers tell their
// clients to resync from the store. Hooks run on a goroutine of their own,
// one after the other.
func (b *Bus) OnReconnect(f func()) { b.subs.onReconnect(f) }

// Ping implements pubsub.Bus: Redis must answer and the subscriber
// connection must be up, otherwise this node would miss events.
func (b *Bus) Ping(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping Redis: %w", err)
	}
	if !b.subs.up() {
		return ErrUnavailable
	}
	return nil
}

// Close implements pubsub.Bus: this node's users go offline at once, the
// goroutines stop and the connections close. Leases it holds expire on
// their own. Close is idempotent and must not be called from a handler.
func (b *Bus) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.cancel()
	b.subs.close()
	b.wg.Wait()
	b.presence.leave() // after the heartbeat stopped, so it cannot re-add us
	b.fan.Close()
	if err := b.client.Close(); err != nil {
		return fmt.Errorf("close Redis client: %w", err)
	}
	return nil
}

// usable reports ErrClosed after Close, else the context's error.
func (b *Bus) usable(ctx context.Context) error {
	if b.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}
