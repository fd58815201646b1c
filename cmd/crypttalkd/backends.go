package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/crypttalk/crypttalk/config"
	"github.com/crypttalk/crypttalk/pubsub"
	"github.com/crypttalk/crypttalk/pubsub/local"
	redisbus "github.com/crypttalk/crypttalk/pubsub/redis"
	"github.com/crypttalk/crypttalk/store"
	"github.com/crypttalk/crypttalk/store/bolt"
	"github.com/crypttalk/crypttalk/store/mongo"
	"github.com/crypttalk/crypttalk/vault"
)

func openStore(ctx context.Context, cfg *config.Config, log *slog.Logger) (store.Store, error) {
	if cfg.Store.MongoURL != "" {
		st, err := mongo.Open(ctx, cfg.Store.MongoURL, mongo.Options{OpTimeout: cfg.Store.OpTimeout})
		if err != nil {
			return nil, fmt.Errorf("open MongoDB store: %w", err)
		}
		log.Info("store: MongoDB")
		return st, nil
	}
	if err := os.MkdirAll(cfg.Store.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := bolt.Open(cfg.Store.DataDir, bolt.Options{})
	if err != nil {
		return nil, fmt.Errorf("open embedded store in %s: %w", cfg.Store.DataDir, err)
	}
	log.Info("store: embedded", "data_dir", cfg.Store.DataDir)
	return st, nil
}

// openKeyring takes the master keys from config; only the embedded default
// may generate them into the data dir (config validation refuses a
// MongoDB node without keys).
func openKeyring(cfg *config.Config, log *slog.Logger) (*vault.Keyring, error) {
	if cfg.Keys.MasterKeys != "" {
		ring, err := vault.ParseKeyring(cfg.Keys.MasterKeys, cfg.Keys.ActiveMasterKey)
		if err != nil {
			return nil, fmt.Errorf("CRYPTTALK_MASTER_KEYS: %w", err)
		}
		return ring, nil
	}
	ring, created, err := vault.LoadOrCreateKeyring(cfg.Store.DataDir)
	if err != nil {
		return nil, fmt.Errorf("master key in data dir: %w", err)
	}
	if created {
		log.Warn("generated a master key into the data dir; for production set CRYPTTALK_MASTER_KEYS outside it (see docs/SECURITY.md)", "data_dir", cfg.Store.DataDir)
	}
	return ring, nil
}

type busParts struct {
	bus         pubsub.Bus
	limiter     pubsub.Limiter
	locker      pubsub.Locker
	onReconnect func(func())
}

func openBus(ctx context.Context, cfg *config.Config, log *slog.Logger) (busParts, error) {
	if cfg.Bus.RedisURL == "" {
		b := local.New()
		return busParts{bus: b, limiter: b.Limiter(), locker: b.Locker()}, nil
	}
	b, err := redisbus.New(ctx, cfg.Bus.RedisURL, redisbus.Options{Prefix: cfg.Bus.Prefix, PresenceTTL: cfg.Bus.PresenceTTL, Logger: log})
	if err != nil {
		return busParts{}, fmt.Errorf("connect to Redis: %w", err)
	}
	log.Info("bus: Redis")
	return busParts{bus: b, limiter: b.Limiter(), locker: b.Locker(), onReconnect: b.OnReconnect}, nil
}
