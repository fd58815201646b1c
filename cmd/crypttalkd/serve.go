package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crypttalk/crypttalk/chat"
	"github.com/crypttalk/crypttalk/config"
	"github.com/crypttalk/crypttalk/federation"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/server"
	"github.com/crypttalk/crypttalk/server/gateway"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/vault"
)

// node is everything one running homeserver holds.
type node struct {
	log    *slog.Logger
	store  store.Store
	bus    pubsub.Bus
	svc    *chat.Service
	fed    *federation.Node // nil when federation is off
	srv    *server.Server
	public net.Listener
	admin  net.Listener

	stopWork context.CancelFunc // ends the background workers
	work     sync.WaitGroup     // joined before the store closes
}

func serve(ctx context.Context, cfg *config.Config, warnings []string, stderr io.Writer) error {
	log := newLogger(cfg.Log.Level, cfg.Log.Format, stderr)
	for _, w := range warnings {
		log.Warn("config: " + w)
	}
	n, err := start(ctx, cfg, log)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- n.srv.Serve(n.public) }()
	if n.admin != nil {
		go func() { errc <- n.srv.ServeAdmin(n.admin) }()
	}
	log.Info("crypttalkd ready", "version", version, "listen", n.public.Addr().String(), "server_name", cfg.Server.ServerName)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-errc:
		log.Error("listener failed", "err", err)
	}
	n.shutdown(cfg.Server.ShutdownTimeout)
	return err
}

// start opens the store, keys and bus, then binds the listeners.
func start(ctx context.Context, cfg *config.Config, log *slog.Logger) (*node, error) {
	n := &node{log: log}
	var err error
	if n.store, err = openStore(ctx, cfg, log); err != nil {
		return nil, err
	}
	ring, err := openKeyring(cfg, log)
	if err != nil {
		n.shutdown(time.Second)
		return nil, err
	}
	b, err := openBus(ctx, cfg, log)
	if err != nil {
		n.shutdown(time.Second)
		return nil, err
	}
	n.bus = b.bus
	n.svc, err = chat.New(ctx, chatOptions(cfg), chat.Deps{Store: n.store, Bus: b.bus, Limiter: b.limiter, Keyring: ring, Logger: log})
	if err != nil {
		n.shutdown(time.Second)
		return nil, err
	}
	reg := prometheus.NewRegistry()
	if cfg.Federation.Enabled {
		if n.fed, err = newFederation(cfg, n, b, reg, log); err != nil {
			n.shutdown(time.Second)
			return nil, err
		}
	}
	sopts := serverOptions(cfg, log)
	sopts.Registry = reg
	if n.fed != nil {
		sopts.Federation = n.fed
		keyFile := cfg.Federation.SigningKeyFile
		if keyFile == "" {
			keyFile = filepath.Join(cfg.Store.DataDir, "signing.key") // vault.LoadOrCreateSigningKeys' file
		}
		sopts.FederationAdmin = &chat.FederationAdmin{Node: n.fed, Peers: cfg.Federation.Peers, KeyFile: keyFile}
	}
	n.srv, err = server.New(n.svc, sopts)
	if err != nil {
		n.shutdown(time.Second)
		return nil, err
	}
	if b.onReconnect != nil {
		b.onReconnect(n.srv.Gateway().Resync)
	}
	if cfg.Server.Demo {
		createDemoUsers(ctx, n.svc, log)
	}
	wctx, stop := context.WithCancel(ctx)
	n.stopWork = stop
	n.work.Go(func() { n.svc.RunPurge(wctx, b.locker, time.Second) })
	n.work.Go(func() { n.svc.RunJobs(wctx, b.locker, time.Second) })
	n.work.Go(func() { n.svc.RunHeartbeat(wctx, n.srv.NodeSelf(), chat.HeartbeatInterval) })
	if n.fed != nil {
		if err := n.fed.Start(wctx); err != nil {
			n.shutdown(time.Second)
			return nil, err
		}
	}
	if err := n.listen(cfg); err != nil {
		n.shutdown(time.Second)
		return nil, err
	}
	return n, nil
}

func (n *node) listen(cfg *config.Config) error {
	var err error
	if n.public, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
	}
	if cfg.Server.AdminListen != "" {
		if n.admin, err = net.Listen("tcp", cfg.Server.AdminListen); err != nil {
			return fmt.Errorf("listen on %s (admin): %w", cfg.Server.AdminListen, err)
		}
	}
	return nil
}

// shutdown stops the node in order: no new sockets (upgrades get 503),
// sockets closed with 1001 and their sessions joined, listeners closed and
// in-flight requests finished, background workers (purge) stopped and
// joined, then the bus and last the store (flushing pending writes), so
// nothing writes to a closed store.
func (n *node) shutdown(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if n.srv != nil {
		if err := n.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Warn("http shutdown", "err", err)
		}
	}
	if n.stopWork != nil {
		n.stopWork()
	}
	if n.fed != nil {
		n.fed.Stop() // senders joined before the store closes
	}
	joined := make(chan struct{})
	go func() { n.work.Wait(); close(joined) }()
	select {
	case <-joined:
	case <-ctx.Done():
		n.log.Warn("shutdown: background workers still running at the deadline; closing the store anyway")
	}
	if n.svc != nil {
		_ = n.svc.Close()
	}
	if n.bus != nil {
		_ = n.bus.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.log.Error("store close", "err", err)
		}
	}
	n.log.Info("stopped")
}

// newFederation builds the federation node and makes it chat's Outbound.
// Every node of a cluster must sign with the same key: with a shared
// store, give them one federation.signing_key_file.
func newFederation(cfg *config.Config, n *node, b busParts, reg *prometheus.Registry, log *slog.Logger) (*federation.Node, error) {
	var keys *vault.SigningKeys
	var err error
	var reload func() (*vault.SigningKeys, error)
	if path := cfg.Federation.SigningKeyFile; path != "" {
		keys, err = vault.LoadSigningKeysFile(path)
		reload = func() (*vault.SigningKeys, error) { return vault.LoadSigningKeysFile(path) }
	} else {
		var created bool
		keys, created, err = vault.LoadOrCreateSigningKeys(cfg.Store.DataDir)
		if created {
			log.Info("federation: created a signing key in the data dir", "key_id", keys.Active().ID())
		}
		if cfg.Store.MongoURL != "" {
			log.Warn("federation: the signing key is in this node's data dir; the nodes of a cluster need one shared federation.signing_key_file")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("federation signing key: %w", err)
	}
	fed, err := federation.New(federation.Options{
		ServerName: cfg.Server.ServerName, Keys: keys, Chat: n.svc, Queue: n.store,
		Locker: b.locker, Limiter: b.limiter, Bus: b.bus, Config: cfg.Federation, Log: log, Registerer: reg,
		LeaseTTL: cfg.Federation.SenderLease, ReloadKeys: reload,
	})
	if err != nil {
		return nil, err
	}
	n.svc.SetOutbound(fed)
	return fed, nil
}

func chatOptions(cfg *config.Config) chat.Options {
	return chat.Options{
		ServerName:       cfg.Server.ServerName,
		BcryptCost:       cfg.Keys.BcryptCost,
		TokenTTL:         cfg.Keys.TokenTTL,
		MessageBytes:     cfg.Limits.MessageBytes,
		HistoryMax:       cfg.Limits.HistoryMax,
		RegisterPerIP:    cfg.RateLimit.RegisterPerIPCount,
		RegisterWindow:   cfg.RateLimit.RegisterWindow,
		LoginPerIP:       cfg.RateLimit.LoginPerIPCount,
		LoginPerUser:     cfg.RateLimit.LoginPerUserCount,
		LoginWindow:      cfg.RateLimit.LoginWindow,
		SendPerUser:      cfg.RateLimit.SendPerUserCount,
		SendWindow:       cfg.RateLimit.SendWindow,
		FileBytes:        cfg.Limits.FileBytes,
		VoiceBytes:       cfg.Limits.VoiceBytes,
		VoiceMaxDuration: cfg.Limits.VoiceMaxDuration,
		UploadPerUser:    cfg.RateLimit.UploadPerUserCount,
		UploadWindow:     cfg.RateLimit.UploadWindow,
		UploadQuotaBytes: cfg.Limits.UploadQuotaBytes,
		PendingUploadTTL: cfg.Limits.PendingUploadTTL,
		VoicePlayGrace:   cfg.Limits.VoicePlayGrace,
		JobBatchPause:    cfg.Limits.JobBatchPause,
	}
}

func serverOptions(cfg *config.Config, log *slog.Logger) server.Options {
	return server.Options{
		AdminToken:     cfg.Keys.AdminToken,
		TrustedProxies: cfg.Server.TrustedProxies,
		AllowedOrigins: cfg.Server.AllowedOrigins,
		BodyBytes:      cfg.Limits.BodyBytes,
		JSONBodyBytes:  cfg.Limits.JSONBodyBytes,
		AdminListener:  cfg.Server.AdminListen != "",
		Listen:         cfg.Server.Listen,
		AdminListen:    cfg.Server.AdminListen,
		JSONDepth:      cfg.Limits.JSONDepth,
		WSFrameBytes:   int64(cfg.Limits.WSFrameBytes),
		WSSendQueue:    cfg.Limits.WSSendQueue,
		WSAuthTimeout:  cfg.Limits.WSAuthTimeout,
		WSPingInterval: cfg.Limits.WSPingInterval,
		Version:        version,
		Logger:         log,
		HeaderTimeout:  cfg.Limits.HeaderTimeout,
		WSLimits: gateway.Limits{
			FrameRate: float64(cfg.Limits.WSFrameRate), FrameBurst: cfg.Limits.WSFrameBurst,
			SocketsPerUser: cfg.Limits.WSSocketsPerUser, PendingPerIP: cfg.Limits.WSPendingPerIP,
		},
	}
}
