// Package chat is the domain layer of Crypt-Talk: accounts, sessions,
// conversations, messages, receipts, presence, files, timers and purge.
// Every entry point (HTTP, WebSocket, federation, admin) calls the functions
// here; none of them touches the store or the bus directly.
package chat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// Options are the domain's settings, taken from config by the caller.
type Options struct {
	ServerName   string
	BcryptCost   int
	TokenTTL     time.Duration
	MessageBytes int
	HistoryMax   int
	// Rate limits; a zero count disables the limit.
	RegisterPerIP  int
	RegisterWindow time.Duration
	LoginPerIP     int
	LoginPerUser   int
	LoginWindow    time.Duration
	SendPerUser    int
	SendWindow     time.Duration
	// File limits.
	FileBytes        int64
	VoiceBytes       int64
	VoiceMaxDuration time.Duration
	// Upload abuse limits; a zero count or quota disables that limit.
	UploadPerUser    int           // uploads per user per UploadWindow
	UploadWindow     time.Duration // window of UploadPerUser
	UploadQuotaBytes int64         // plaintext bytes of files one user may store
	PendingUploadTTL time.Duration // an upload no message announced is removed after this
	VoicePlayGrace   time.Duration // a played-out voice stays readable its duration plus this
	// JobBatchPause is how long a background job (rewrap, reencrypt)
	// waits after each batch, to bound its load on the store; 0 runs flat out.
	JobBatchPause time.Duration
}

func (o *Options) setDefaults() {
	if o.ServerName == "" {
		o.ServerName = "localhost"
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = 12
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 30 * 24 * time.Hour
	}
	if o.MessageBytes == 0 {
		o.MessageBytes = 16 * 1024
	}
	if o.HistoryMax == 0 {
		o.HistoryMax = 200
	}
	if o.FileBytes == 0 {
		o.FileBytes = 10 << 20
	}
	if o.VoiceBytes == 0 {
		o.VoiceBytes = 10 << 20
	}
	if o.VoiceMaxDuration == 0 {
		o.VoiceMaxDuration = 10 * time.Minute
	}
	if o.PendingUploadTTL == 0 {
		o.PendingUploadTTL = time.Hour
	}
	if o.VoicePlayGrace == 0 {
		o.VoicePlayGrace = time.Minute
	}
}

// Metrics receives domain counters; the server wires Prometheus into it.
type Metrics interface {
	MessageStored()
}

type noMetrics struct{}

func (noMetrics) MessageStored() {}

// Service is the domain. It is safe for concurrent use.
type Service struct {
	opts    Options
	store   store.Store
	bus     pubsub.Bus
	limiter pubsub.Limiter
	ring    atomic.Pointer[vault.Keyring]
	log     *slog.Logger
	now     func() time.Time
	metrics Metrics

	keys *keyCache
	ctrl pubsub.Subscription
	fed  fedState
	dev  devState
	work workState // background workers' last states, for the heartbeat (nodes.go)

	controlMu        sync.RWMutex
	controlListeners []ControlListener
}

// Deps are the collaborators of a Service.
type Deps struct {
	Store   store.Store
	Bus     pubsub.Bus
	Limiter pubsub.Limiter // nil: no rate limits
	Keyring *vault.Keyring
	Logger  *slog.Logger
	Clock   func() time.Time // nil: time.Now
	Metrics Metrics
}

// New builds a Service and subscribes it to the cluster's control topic.
func New(ctx context.Context, opts Options, d Deps) (*Service, error) {
	if d.Store == nil || d.Bus == nil || d.Keyring == nil {
		return nil, errors.New("chat: store, bus and keyring are required")
	}
	opts.setDefaults()
	s := &Service{
		opts:    opts,
		store:   d.Store,
		bus:     d.Bus,
		limiter: d.Limiter,
		log:     d.Logger,
		now:     d.Clock,
		metrics: d.Metrics,
		keys:    newKeyCache(4096),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	s.ring.Store(d.Keyring)
	s.OnDeviceDeleted(s.e2eeDeviceDeleted) // e2ee.go: a deleted device's keys and inbox go
	if err := s.CheckMasterKeys(ctx); err != nil {
		return nil, err
	}
	sub, err := d.Bus.Subscribe(ctx, pubsub.TopicControl, s.onControl)
	if err != nil {
		return nil, err
	}
	s.ctrl = sub
	return s, nil
}

// Close stops the service's subscriptions.
func (s *Service) Close() error {
	if s.ctrl != nil {
		return s.ctrl.Close()
	}
	return nil
}

// ServerName is this homeserver's name.
func (s *Service) ServerName() string { return s.opts.ServerName }

// Options returns the service's settings.
func (s *Service) Options() Options { return s.opts }

// Keyring returns the active master keyring.
func (s *Service) Keyring() *vault.Keyring { return s.ring.Load() }

// Ready checks the store and the bus, for /readyz.
func (s *Service) Ready(ctx context.Context) map[string]error {
	return map[string]error{
		"store": s.store.Ping(ctx),
		"bus":   s.bus.Ping(ctx),
	}
}

// Bus returns the bus, for the gateway's subscriptions.
func (s *Service) Bus() pubsub.Bus { return s.bus }

func storeError(err error) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: 404, Code: CodeNotFound, Msg: "not found", Cause: err}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: 409, Code: CodeConflict, Msg: "conflict", Cause: err}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return Unavailable("the database", err)
	default:
		return Internal(err)
	}
}

// SetMetrics sets the metrics sink; call it before serving.
func (s *Service) SetMetrics(m Metrics) { s.metrics = m }
