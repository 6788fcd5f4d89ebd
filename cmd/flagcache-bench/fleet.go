package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache/internal/config"
)

// fleet is the daemons a run spawns on the user's configuration, each on
// storage of the run's own, so nothing the bench writes touches the
// user's data and all of it goes at the end:
//
//	embedded  a data directory in a temporary directory
//	postgres  a schema of its own (created by `flagcache migrate`, dropped)
//	redis     a key prefix of its own (keys deleted)
//	memory    the daemon's own memory
//
// With a Redis cache, each generation of daemons gets a fresh cache key
// prefix (a new generation starts with Redis cold); all share one
// invalidation channel of the run's own.
type fleet struct {
	sp      *Spawner
	cfg     config.Config
	run     string
	tmp     string
	schema  string
	daemons []*Daemon
}

func newFleet(ctx context.Context, sp *Spawner, run string) (*fleet, error) {
	env := map[string]string{}
	for _, kv := range sp.environ(childOptions{}) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if sp.Config == "" {
		copied := *sp
		copied.Config = env["FLAGCACHE_CONFIG"] // as `flagcache serve` would
		sp = &copied
	}
	cfg, err := config.Load(sp.Config, func(k string) string { return env[k] }, nil)
	if err != nil {
		return nil, fmt.Errorf("the spawned daemons' config: %w", err)
	}
	tmp, err := os.MkdirTemp("", "flagcache-bench-")
	if err != nil {
		return nil, err
	}
	f := &fleet{sp: sp, cfg: cfg, run: run, tmp: tmp}
	if cfg.Source.Kind == "postgres" {
		f.schema = "flagcache_bench_" + run
		if err := sp.run(ctx, f.options(1), "migrate"); err != nil {
			return nil, errors.Join(err, f.cleanup(context.WithoutCancel(ctx)))
		}
	}
	return f, nil
}

// redisCache reports whether the daemons have a Redis cache tier.
func (f *fleet) redisCache() bool { return len(f.cfg.Redis.Addrs) > 0 && f.cfg.Source.Kind != "redis" }

// shareable says whether two daemons can run on one source at once; if
// not, why.
func (f *fleet) shareable() (bool, string) {
	switch {
	case f.cfg.Source.Kind != "postgres" && f.cfg.Source.Kind != "redis":
		return false, fmt.Sprintf("two daemons cannot share the %s source: spawn on a config with source.kind postgres or redis (and redis.addrs), or give --url-b", f.cfg.Source.Kind)
	case len(f.cfg.Redis.Addrs) == 0:
		return false, "invalidations need redis.addrs in the spawned daemons' config"
	}
	return true, ""
}

// restartable says whether a daemon started after another finds its data.
func (f *fleet) restartable() (bool, string) {
	if f.cfg.Source.Kind == "memory" {
		return false, "the memory source does not outlive its daemon: spawn on embedded, postgres or redis"
	}
	return true, ""
}

// options returns how to start a daemon of generation gen.
func (f *fleet) options(gen int) childOptions {
	o := childOptions{config: f.sp.Config, dataDir: f.tmp + "/data", env: map[string]string{}}
	switch {
	case f.cfg.Source.Kind == "postgres":
		o.env["FLAGCACHE_POSTGRES_SCHEMA"] = f.schema
	case f.cfg.Source.Kind == "redis":
		o.env["FLAGCACHE_REDIS_PREFIX"] = f.redisPrefix()
	}
	if f.redisCache() {
		o.env["FLAGCACHE_REDIS_PREFIX"] = f.redisPrefix() + "-g" + strconv.Itoa(gen)
	}
	if len(f.cfg.Redis.Addrs) > 0 {
		o.env["FLAGCACHE_REDIS_INVALIDATION_CHANNEL"] = f.redisPrefix() + ":invalidations"
	}
	return o
}

func (f *fleet) redisPrefix() string { return f.cfg.Redis.Prefix + ":bench-" + f.run }

// start starts a daemon of generation gen.
func (f *fleet) start(ctx context.Context, gen int) (*Daemon, error) {
	d, err := f.sp.start(ctx, f.options(gen))
	if err != nil {
		return nil, err
	}
	f.daemons = append(f.daemons, d)
	return d, nil
}

// cleanup stops the daemons and removes the run's storage.
func (f *fleet) cleanup(ctx context.Context) error {
	var errs []error
	for _, d := range f.daemons {
		errs = append(errs, d.Stop())
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if f.schema != "" {
		errs = append(errs, dropSchema(ctx, string(f.cfg.Postgres.DSN), f.schema))
	}
	if len(f.cfg.Redis.Addrs) > 0 {
		errs = append(errs, deleteKeys(ctx, f.cfg.Redis, f.redisPrefix()))
	}
	errs = append(errs, os.RemoveAll(f.tmp))
	return errors.Join(errs...)
}

func dropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("dropping schema %s: %w", schema, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("dropping schema %s: %w", schema, err)
	}
	return nil
}

// deleteKeys unlinks every key that holds prefix (the Redis store's keys
// start with the hash tag {prefix}, the cache's with prefix), on every
// master.
func deleteKeys(ctx context.Context, cfg config.Redis, prefix string) error {
	opts := &redis.UniversalOptions{Addrs: cfg.Addrs, Username: cfg.Username, Password: string(cfg.Password), DB: cfg.DB}
	switch cfg.Mode {
	case "sentinel":
		opts.MasterName = cfg.MasterName
	case "cluster":
		opts.IsClusterMode = true
	}
	rdb := redis.NewUniversalClient(opts)
	defer rdb.Close()
	sweep := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, "*"+globEscape(prefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Unlink(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return sweep(ctx, c) })
	} else {
		err = sweep(ctx, rdb)
	}
	if err != nil {
		return fmt.Errorf("deleting the Redis keys of %s: %w", prefix, err)
	}
	return nil
}

// globEscape quotes the characters SCAN's MATCH pattern gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// remoteSource says whether the spawned daemons' source is a process of
// its own (Postgres or Redis), whose data is not in the daemon's memory.
func (f *fleet) remoteSource() bool {
	return f.cfg.Source.Kind == "postgres" || f.cfg.Source.Kind == "redis"
}

// startSidecar starts a daemon on the config's source (remote: see
// remoteSource) with an LRU of lruSize whose entries outlive the run: the
// memory scenario's sidecar, measured as it is, not estimated.
func (f *fleet) startSidecar(ctx context.Context, lruSize int) (*Daemon, error) {
	o := f.options(1)
	o.env["FLAGCACHE_CACHE_LRU_SIZE"] = strconv.Itoa(lruSize)
	o.env["FLAGCACHE_CACHE_LRU_TTL"] = "24h"
	d, err := f.sp.start(ctx, o)
	if err != nil {
		return nil, err
	}
	f.daemons = append(f.daemons, d)
	return d, nil
}

// startMemory starts a daemon on the memory source with an LRU of
// lruSize (0: none) whose entries outlive the run, without Redis and
// without the user's config: the memory scenario's daemon.
func (f *fleet) startMemory(ctx context.Context, lruSize int) (*Daemon, error) {
	d, err := f.sp.start(ctx, childOptions{
		dataDir: f.tmp + "/memory",
		env: map[string]string{
			"FLAGCACHE_SOURCE_KIND":    "memory",
			"FLAGCACHE_CACHE_LRU_SIZE": strconv.Itoa(lruSize),
			"FLAGCACHE_CACHE_LRU_TTL":  "24h",
		},
		unset: []string{"FLAGCACHE_REDIS_ADDRS", "FLAGCACHE_CONFIG"},
	})
	if err != nil {
		return nil, err
	}
	f.daemons = append(f.daemons, d)
	return d, nil
}
