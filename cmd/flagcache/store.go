package main

import (
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
)

// buildStore returns the store the API serves and the function that closes
// it. It may add readiness checks and a Notifier to opts.
//
// TIERED HOOK: this is where the tiered store (LRU → Redis → source) plugs
// in. Today it serves the bare source; with tiered it becomes
//
//	store := tiered.New(source, tiered.Options{LRUSize: cfg.Cache.LRUSize, ...,
//		Cache: rediskv.NewCache(redisClient(cfg.Redis), ...), MeterProvider: opts.MeterProvider})
//	opts.Notifier = ...              // invalidations wake watch streams
//	opts.ReadyChecks = append(opts.ReadyChecks, httpapi.ReadyCheck{Name: "redis", Check: ...})
//	return store, func() error { return errors.Join(store.Close(), closeSource()) }, nil
func buildStore(ctx context.Context, cfg config.Config, log *slog.Logger, opts *httpapi.Options) (flagcache.Store, func() error, error) {
	source, closeSource, err := openSource(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", cfg.Source.Kind, err)
	}
	return source, closeSource, nil
}

// openSource opens the source of truth named by source.kind. Network
// sources do not fail when their server is down: /readyz reports it and
// calls answer 503 until it is back.
func openSource(ctx context.Context, cfg config.Config) (flagcache.Store, func() error, error) {
	retention := cfg.Source.ChangeRetention
	switch cfg.Source.Kind {
	case "embedded":
		dir := cfg.Source.DataDir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("source.data_dir: %w", err)
		}
		path := filepath.Join(dir, "flagcache.db")
		s, err := boltsource.Open(path, boltsource.Options{Retention: retention})
		if errors.Is(err, boltsource.ErrLocked) {
			return nil, nil, fmt.Errorf("%s is in use by another flagcache process: %w", path, err)
		}
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "memory":
		return memstore.New(memstore.Options{Retention: retention}), func() error { return nil }, nil
	case "postgres":
		s, err := openPostgres(ctx, cfg.Postgres, retention)
		if err != nil {
			return nil, nil, err
		}
		return s, func() error { s.Close(); return nil }, nil
	case "redis":
		client := redisClient(cfg.Redis)
		return rediskv.New(client, rediskv.Options{Prefix: cfg.Redis.Prefix, Retention: retention}), client.Close, nil
	}
	return nil, nil, fmt.Errorf("unknown source.kind %q", cfg.Source.Kind)
}

func openPostgres(ctx context.Context, cfg config.Postgres, retention time.Duration) (*pgsource.Store, error) {
	return pgsource.Open(ctx, string(cfg.DSN), pgsource.Options{
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
		Addrs:        cfg.Addrs,
		Username:     cfg.Username,
		Password:     string(cfg.Password),
		DB:           cfg.DB,
		DialTimeout:  time.Second,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
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
