package tiered

import (
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache/invalidation"
	"github.com/flagcache/flagcache/rediskv"
)

// RedisOptions are the Store's one door to Redis: the shared cache tier
// and the invalidation bus between sidecars, both on one client. New
// builds the cache, the publisher and the subscription from them.
type RedisOptions struct {
	// Client is the Redis (one node, Sentinel or Cluster); nil runs
	// LRU → source only, with no invalidations. Give it short timeouts
	// (docs/architecture.md). The Store does not close it.
	Client redis.UniversalClient
	// Prefix starts the cache keys, "<Prefix>:<id>"; default
	// "flagcache:cache".
	Prefix string
	// TTL is how long Redis keeps a cached flag or tombstone; default 10m.
	TTL time.Duration
	// Channel carries the invalidations; default invalidation.DefaultChannel.
	Channel string
	// Sharded uses Redis 7 sharded pub/sub (SSUBSCRIBE/SPUBLISH); every
	// sidecar on the channel must agree.
	Sharded bool
	// HealthInterval bounds how long a dead subscription goes unnoticed;
	// default 5s (invalidation.SubscriberOptions).
	HealthInterval time.Duration
	// NoCache keeps the invalidations but skips the cache tier, for a
	// source that is this Redis itself.
	NoCache bool
}

// openRedis builds the cache tier and the publisher from opts.
func (s *Store) openRedis(opts RedisOptions, log *slog.Logger) {
	if opts.Client == nil {
		return
	}
	if !opts.NoCache {
		s.cache = rediskv.NewCache(opts.Client, rediskv.CacheOptions{Prefix: opts.Prefix, TTL: opts.TTL, Logger: log})
	}
	if opts.Sharded {
		s.pub = invalidation.NewShardedPublisher(opts.Client, opts.Channel)
	} else {
		s.pub = invalidation.NewPublisher(opts.Client, opts.Channel)
	}
}
