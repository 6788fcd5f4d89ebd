package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/boltsource"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/config"
	"github.com/flagcache/flagcache/memstore"
)

// buildStore returns the store the API serves and the function that closes
// it. It may add readiness checks and a Notifier to opts.
//
// TIERED HOOK: this is where the tiered store (LRU → Redis → source) plugs
// in. Today it serves the bare source; with tiered it becomes
//
//	store := tiered.New(source, tiered.Options{LRUSize: cfg.Cache.LRUSize, ...,
//		Redis: redisClient(cfg.Redis), MeterProvider: opts.MeterProvider})
//	opts.Notifier = store            // invalidations wake watch streams
//	opts.ReadyChecks = append(opts.ReadyChecks, httpapi.ReadyCheck{Name: "redis", Check: ...})
//	return store, func() error { return errors.Join(store.Close(), closeSource()) }, nil
func buildStore(ctx context.Context, cfg config.Config, log *slog.Logger, opts *httpapi.Options) (flagcache.Store, func() error, error) {
	source, closeSource, err := openSource(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("source %s: %w", cfg.Source.Kind, err)
	}
	return source, closeSource, nil
}

// openSource opens the source of truth named by source.kind.
func openSource(ctx context.Context, cfg config.Config) (flagcache.Store, func() error, error) {
	switch cfg.Source.Kind {
	case "embedded":
		dir := cfg.Source.DataDir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("source.data_dir: %w", err)
		}
		path := filepath.Join(dir, "flagcache.db")
		s, err := boltsource.Open(path, boltsource.Options{Retention: cfg.Source.ChangeRetention})
		if errors.Is(err, boltsource.ErrLocked) {
			return nil, nil, fmt.Errorf("%s is in use by another flagcache process: %w", path, err)
		}
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "memory":
		return memstore.New(memstore.Options{Retention: cfg.Source.ChangeRetention}), func() error { return nil }, nil
	case "postgres":
		// TODO(pgsource): pgsource.Open(ctx, string(cfg.Postgres.DSN), pgsource.Options{MaxConns: cfg.Postgres.MaxConns, Retention: ...})
		return nil, nil, errors.New("the postgres source is not wired into this build yet (pgsource is in progress)")
	case "redis":
		// TODO(rediskv): rediskv.New(redisClient(cfg.Redis), rediskv.Options{Prefix: cfg.Redis.Prefix, Retention: ...})
		return nil, nil, errors.New("the redis source is not wired into this build yet (rediskv is in progress)")
	}
	return nil, nil, fmt.Errorf("unknown source.kind %q", cfg.Source.Kind)
}
