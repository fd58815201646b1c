package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/config"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// Chat is what the node needs of chat; *chat.Service implements it.
type Chat interface {
	Receive(ctx context.Context, ev chat.RemoteEvent) error
	Outgoing(ctx context.Context, item store.OutboxItem) (chat.RemoteEvent, error)
	LocalProfile(ctx context.Context, userID string) (chat.ProfileView, error)
}

// Options configure a Node. ServerName, Keys, Chat and Queue are required.
type Options struct {
	ServerName string
	Keys       *vault.SigningKeys
	Chat       Chat
	Queue      store.FederationQueue
	Locker     pubsub.Locker  // one sender per destination across the cluster; nil: this node alone
	Limiter    pubsub.Limiter // per-origin inbound rate; nil: no limit
	Bus        pubsub.Bus     // optional: a Wake reaches the node holding the destination's lease at once
	// ReloadKeys reads the signing keys again (the key file), when another
	// node of the cluster rotated them; nil: rotations stay on their node.
	ReloadKeys func() (*vault.SigningKeys, error)
	Config     config.Federation
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics kept unregistered
	HTTP       HTTPOptions

	// ScanInterval is how often the outbox of every destination is looked
	// at (restarts, cluster failover, missed wakes); 0: 5s.
	ScanInterval time.Duration
	// LeaseTTL is the sender lease per destination; 0: 30s.
	LeaseTTL time.Duration
	// KeyValidity is the valid_until_ts of the served key document; 0: 24h.
	KeyValidity time.Duration
}

// Limits of the node's own work.
const (
	maxDestinations  = 10000
	maxEphemeral     = 32 // typing sends in flight
	wakeTopic        = "federation:wake"
	defaultScan      = 5 * time.Second
	defaultLeaseTTL  = 30 * time.Second
	defaultKeyValid  = 24 * time.Hour
	ephemeralTimeout = 5 * time.Second
)

// Node is this server's federation: the inbound routes, the senders of the
// outbox and the chat.Outbound that chat calls.
type Node struct {
	o        Options
	log      *slog.Logger
	client   *Client
	resolver *Resolver
	keys     *KeyFetcher
	verifier *Verifier
	list     ServerList
	m        *metrics

	ephemeral chan struct{}
	busWake   chan string

	mu      sync.Mutex
	senders map[string]*sender
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sub     pubsub.Subscription
}

var (
	_ chat.Outbound     = (*Node)(nil)
	_ chat.MediaFetcher = (*Node)(nil)
)

// New makes a node; Start runs its senders.
func New(o Options) (*Node, error) {
	if o.ServerName == "" || o.Keys == nil || o.Chat == nil || o.Queue == nil {
		return nil, errors.New("federation: ServerName, Keys, Chat and Queue are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = defaultScan
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = defaultLeaseTTL
	}
	if o.KeyValidity <= 0 {
		o.KeyValidity = defaultKeyValid
	}
	if o.Config.RetryMin <= 0 {
		o.Config.RetryMin = time.Second
	}
	if o.Config.RetryMax < o.Config.RetryMin {
		o.Config.RetryMax = max(o.Config.RetryMin, 10*time.Minute)
	}
	list := ServerList{Allow: o.Config.AllowServers, Deny: o.Config.DenyServers}
	r := &Resolver{Static: o.Config.Peers, List: list, HTTP: o.HTTP}
	c := NewClient(o.ServerName, o.Keys, r)
	kf := &KeyFetcher{Client: c, Now: o.HTTP.Now}
	n := &Node{
		o: o, log: o.Log.With("component", "federation"), client: c, resolver: r, keys: kf, list: list,
		verifier:  &Verifier{ServerName: o.ServerName, Keys: kf, Now: o.HTTP.Now},
		m:         newMetrics(o.Registerer),
		ephemeral: make(chan struct{}, maxEphemeral),
		busWake:   make(chan string, 1024),
		senders:   map[string]*sender{},
	}
	return n, nil
}

// SetSigningKeys replaces the signing keys after a rotation (already
// persisted) and tells the other nodes, which reload theirs: the served
// key document and every signature change cluster-wide within moments.
func (n *Node) SetSigningKeys(k *vault.SigningKeys) {
	n.client.SetKeys(k)
	n.broadcast(keysMessage)
}

// reloadKeys is the other nodes' side of a rotation.
func (n *Node) reloadKeys() {
	if n.o.ReloadKeys == nil {
		return
	}
	k, err := n.o.ReloadKeys()
	if err != nil {
		n.log.Error("another node rotated the signing key but this one cannot read it; it signs with the old key until restarted", "err", err)
		return
	}
	if k.Active().ID() != n.client.Keys().Active().ID() {
		n.client.SetKeys(k)
		n.log.Info("signing key reloaded after a rotation on another node", "key_id", k.Active().ID())
	}
}

// SigningKeys is the key set in use (the served key document's).
func (n *Node) SigningKeys() *vault.SigningKeys { return n.client.Keys() }

// Destinations is the outbox of every destination (ctl federation peers).
func (n *Node) Destinations(ctx context.Context) ([]store.OutboxStats, error) {
	return n.o.Queue.OutboxDestinations(ctx)
}

// Start runs the senders: one scan at once (so a restart resumes every
// destination with queued items), then one every ScanInterval.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.ctx != nil {
		n.mu.Unlock()
		return errors.New("federation: started twice")
	}
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	n.mu.Unlock()
	if n.o.Bus != nil {
		sub, err := n.o.Bus.Subscribe(ctx, wakeTopic, func(_ string, payload []byte) {
			if string(payload) == keysMessage {
				n.reloadKeys()
				return
			}
			if dest, ok := strings.CutPrefix(string(payload), retryPrefix); ok {
				n.localRetry(dest)
				return
			}
			n.localWake(string(payload))
		})
		if err != nil {
			n.cancel()
			return fmt.Errorf("federation: subscribe: %w", err)
		}
		n.sub = sub
		n.goSafe("wake publisher", n.publishWakes)
	}
	n.goSafe("outbox scan", n.scanLoop)
	return nil
}

// Stop ends every sender and waits for them.
func (n *Node) Stop() {
	n.mu.Lock()
	cancel := n.cancel
	if cancel != nil {
		// Under mu: sender() sees the cancel before it starts another
		// goroutine, so none is added once Wait runs.
		cancel()
	}
	n.mu.Unlock()
	if cancel == nil {
		return
	}
	if n.sub != nil {
		_ = n.sub.Close()
	}
	n.wg.Wait()
}

// goSafe runs fn on a goroutine joined by Stop; a panic is logged and fn
// started again (after a pause), so one bad item cannot end the sending.
func (n *Node) goSafe(what string, fn func(ctx context.Context)) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			panicked := func() (p bool) {
				defer func() {
					if v := recover(); v != nil {
						p = true
						n.log.Error("panic recovered in federation; restarting it", "where", what, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					}
				}()
				fn(n.ctx)
				return false
			}()
			if !panicked {
				return
			}
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
}

func (n *Node) scanLoop(ctx context.Context) {
	t := time.NewTicker(n.o.ScanInterval)
	defer t.Stop()
	for {
		n.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scan wakes the sender of every destination with queued items, taking
// over the failure record another node (or this one before a restart) left.
func (n *Node) scan(ctx context.Context) {
	stats, err := n.o.Queue.OutboxDestinations(ctx)
	if err != nil {
		if ctx.Err() == nil {
			n.log.WarnContext(ctx, "federation outbox scan failed", "err", err)
		}
		return
	}
	for _, st := range stats {
		n.m.queued.WithLabelValues(st.Destination).Set(float64(st.Depth))
		if st.Depth == 0 {
			continue
		}
		if s := n.sender(st.Destination); s != nil {
			s.adopt(st)
			s.poke()
		}
	}
}

// sender returns dest's sender, starting it; nil when there are too many
// destinations or the node is not started.
func (n *Node) sender(dest string) *sender {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.senders[dest]; ok {
		return s
	}
	if n.ctx == nil || n.ctx.Err() != nil || len(n.senders) >= maxDestinations || dest == n.o.ServerName || dest == "" {
		return nil
	}
	s := newSender(n, dest)
	n.senders[dest] = s
	n.goSafe("sender "+dest, s.run)
	return s
}

// Wake implements chat.Outbound: dest's outbox has new items.
func (n *Node) Wake(dest string) {
	n.localWake(dest)
	n.broadcast(dest)
}

// Control messages on the wake topic (server names hold no "!").
const (
	retryPrefix = "!retry:"
	keysMessage = "!keys" // the signing keys were rotated: reload them
)

// Retry ends dest's backoff on every node and sends now (ctl federation
// retry). The store's failure record is replaced by the next attempt's
// outcome.
func (n *Node) Retry(dest string) {
	n.localRetry(dest)
	n.broadcast(retryPrefix + dest)
}

// broadcast hands msg to the wake publisher for the other nodes; when
// its queue is full msg is dropped: the scan then finds the work.
func (n *Node) broadcast(msg string) {
	if n.o.Bus != nil {
		select {
		case n.busWake <- msg:
		default:
		}
	}
}

func (n *Node) localRetry(dest string) {
	if s := n.sender(dest); s != nil {
		s.resetBackoff()
		s.mu.Lock()
		s.adoptAfter = time.Now() // also when this node had no backoff: another node's record
		s.mu.Unlock()
		s.poke()
	}
}

func (n *Node) localWake(dest string) {
	if s := n.sender(dest); s != nil {
		s.poke()
	}
}

func (n *Node) publishWakes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case dest := <-n.busWake:
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_ = n.o.Bus.Publish(pctx, wakeTopic, []byte(dest))
			cancel()
		}
	}
}

// peerAlive is called when a peer proved itself up (it sent us an
// authenticated request): its backoff ends, as Matrix servers do.
func (n *Node) peerAlive(server string) {
	n.mu.Lock()
	s := n.senders[server]
	n.mu.Unlock()
	if s != nil && s.resetBackoff() {
		s.poke()
	}
}

// Ephemeral implements chat.Outbound: a typing event, sent once in its own
// transaction, not queued; dropped when the peer is backing off or too
// many are in flight.
func (n *Node) Ephemeral(ctx context.Context, dest string, ev chat.RemoteEvent) {
	n.mu.Lock()
	s := n.senders[dest]
	n.mu.Unlock()
	if s != nil && s.backingOff() {
		return
	}
	select {
	case n.ephemeral <- struct{}{}:
	default:
		return
	}
	defer func() { <-n.ephemeral }()
	e, err := n.sign(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, ephemeralTimeout)
	defer cancel()
	if _, err := n.client.SendTransaction(ctx, dest, randomTxnID(), []*Event{e}); err != nil {
		n.log.DebugContext(ctx, "ephemeral event not sent", "destination", dest, "err", err)
	}
}

// QueryProfile implements chat.Outbound.
func (n *Node) QueryProfile(ctx context.Context, userID string) (chat.ProfileView, error) {
	return n.client.QueryProfile(ctx, userID)
}

// FetchMedia implements chat.MediaFetcher.
func (n *Node) FetchMedia(ctx context.Context, origin, fileID string) (io.ReadCloser, error) {
	return n.client.FetchMedia(ctx, origin, fileID)
}

// sign makes the federation event of a chat event.
func (n *Node) sign(ev chat.RemoteEvent) (*Event, error) {
	if ev.Origin != "" && ev.Origin != n.o.ServerName {
		return nil, forbidden(ErrWrongOrigin, "event of "+ev.Origin+" to be signed by "+n.o.ServerName)
	}
	return SignEvent(n.client.Keys().Active(), NewEvent{Type: ev.Type, Sender: ev.Sender, Recipient: ev.Recipient,
		Time: time.UnixMilli(ev.OriginTS), Content: ev.Content})
}
