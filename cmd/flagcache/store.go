package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/config"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/tiered"
)

// buildStore returns the store the API serves and the function that closes
// it: the source of truth behind the tiered store (in-process LRU, then the
// Redis cache when redis.addrs is set), with invalidations between sidecars
// over Redis pub/sub. cache.lru_size = 0 serves the bare source. It adds
// the Redis readiness check to opts.
func buildStore(ctx context.Context, cfg config.Config, log *slog.Logger, opts *httpapi.Options) (flagcache.Store, func() error, error) {
	source, closeSource, err := openSource(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", cfg.Source.Kind, err)
	}
	if cfg.Cache.LRUSize == 0 {
		return source, closeSource, nil
	}
	topts := tiered.Options{
		CacheTimeout: cfg.Redis.Timeout,
		LRUSize:      cfg.Cache.LRUSize,
		LRUTTL:       cfg.Cache.LRUTTL,
		NegativeTTL:  cfg.Cache.NegativeTTL,
		// A restart while the source and Redis are down serves the flags
		// held before it, marked stale.
		SnapshotPath:     cfg.Cache.SnapshotPath,
		SnapshotInterval: cfg.Cache.SnapshotInterval,
		SnapshotMaxBytes: cfg.Cache.SnapshotMaxBytes,
		MeterProvider:    opts.MeterProvider,
		TracerProvider:   opts.TracerProvider,
		Logger:           log,
	}
	// 0 in the config turns the collection cache off; in tiered, -1.
	topts.CollectionBytes = cmp.Or(cfg.Cache.CollectionsMaxBytes, -1)
	topts.CollectionEntries = cmp.Or(cfg.Cache.CollectionsMaxEntries, -1)
	var client redis.UniversalClient
	if len(cfg.Redis.Addrs) > 0 {
		client = redisClient(cfg.Redis)
		topts.Redis = tiered.RedisOptions{
			Client:  client,
			Prefix:  cfg.Redis.Prefix + ":cache",
			TTL:     cfg.Redis.TTL,
			Channel: cfg.Redis.InvalidationChannel,
			Sharded: cfg.Redis.ShardedPubSub,
			NoCache: cfg.Source.Kind == "redis", // a Redis source needs no Redis cache
		}
		opts.ReadyChecks = append(opts.ReadyChecks, httpapi.ReadyCheck{Name: "redis", Check: func(ctx context.Context) error {
			return client.Ping(ctx).Err()
		}})
	}
	store := tiered.New(source, topts)
	// Not ready while the store cannot follow its source's change feed:
	// it would serve what it cached without news of writes.
	opts.ReadyChecks = append(opts.ReadyChecks, httpapi.ReadyCheck{Name: "sync", Required: true, Check: func(context.Context) error {
		return store.SyncError()
	}})
	return store, func() error {
		err := errors.Join(store.Close(), closeSource())
		if client != nil {
			err = errors.Join(err, client.Close())
		}
		return err
	}, nil
}

// openSource opens the source of truth named by source.kind. Network
// sources do not fail when their server is down: /readyz reports it and
// calls answer 503 until it is back.
func openSource(ctx context.Context, cfg config.Config) (flagcache.Store, func() error, error) {
	retention := cfg.Source.ChangeRetention
	keep := flagcache.HistoryRetention{MaxAge: cfg.Source.HistoryMaxAge, MaxVersions: cfg.Source.HistoryMaxVersions}
	switch cfg.Source.Kind {
	case "embedded":
		dir := cfg.Source.DataDir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("source.data_dir: %w", err)
		}
		path := filepath.Join(dir, "flagcache.db")
		s, err := boltsource.Open(path, boltsource.Options{Retention: retention, History: keep})
		if errors.Is(err, boltsource.ErrLocked) {
			return nil, nil, fmt.Errorf("%s is in use by another flagcache process: %w", path, err)
		}
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "memory":
		return memstore.New(memstore.Options{Retention: retention, History: keep}), func() error { return nil }, nil
	case "postgres":
		s, err := openPostgres(ctx, cfg.Postgres, retention, keep)
		if err != nil {
			return nil, nil, err
		}
		return s, func() error { s.Close(); return nil }, nil
	case "redis":
		client := redisClient(cfg.Redis)
		return rediskv.New(client, rediskv.Options{Prefix: cfg.Redis.Prefix, Retention: retention, History: keep}), client.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown source.kind %q", cfg.Source.Kind)
}

func openPostgres(ctx context.Context, cfg config.Postgres, retention time.Duration, keep flagcache.HistoryRetention) (*pgsource.Store, error) {
	return pgsource.Open(ctx, string(cfg.DSN), pgsource.Options{
		History:   keep,
		Retention: retention,
		Schema:    cfg.Schema,
		MaxConns:  int32(cfg.MaxConns),
	})
}

// redisClient returns the client for cfg: one node, Sentinel (failover to
// the master named master_name) or Cluster. Timeouts are short: a cache
// that is slow is skipped, not waited for.
func redisClient(cfg config.Redis) redis.UniversalClient {
	opts := &redis.UniversalOptions{
		Addrs:    cfg.Addrs,
		Username: cfg.Username,
		Password: string(cfg.Password),
		DB:       cfg.DB,
		// A slow cache is skipped, not waited for (docs/architecture.md):
		// every call is bounded by redis.timeout, there are no retries
		// (tiered falls back to the source and its breaker stops calling
		// a dead Redis), and a dial is tried once rather than go-redis's
		// default five times 100 ms apart.
		DialTimeout:           cfg.Timeout,
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		PoolTimeout:           cfg.Timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
	}
	switch cfg.Mode {
	case "sentinel":
		opts.MasterName = cfg.MasterName
	case "cluster":
		opts.IsClusterMode = true
	}
	if cfg.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(opts)
}
