package tiered

import (
	"context"
	"log/slog"
	"math/rand/v2"
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

// Bounds of the pause between attempts to subscribe, or to listen to the
// source's notifications, again.
const (
	retryMinBackoff = 100 * time.Millisecond
	retryMaxBackoff = 10 * time.Second
	// subscribeTimeout bounds one attempt to subscribe.
	subscribeTimeout = 5 * time.Second
)

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

// startSubscription subscribes to the invalidations: once now, so a Store
// on a Redis that answers hears every write announced after New returns,
// and otherwise in the background until it works. Once subscribed, the
// subscriber re-subscribes by itself (every re-subscription is a gap).
func (s *Store) startSubscription(ctx context.Context) {
	r := s.opts.Redis
	if r.Client == nil {
		return
	}
	first, cancel := context.WithTimeout(ctx, subscribeTimeout)
	err := s.subscribe(first)
	cancel()
	if err == nil {
		return
	}
	s.log.Warn("tiered: cannot subscribe to invalidations yet; retrying", "channel", r.Channel, "err", err)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.keepTrying(ctx, "subscribing to invalidations failed", func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
			defer cancel()
			return s.subscribe(ctx)
		})
	}()
}

// subscribe makes one attempt to subscribe.
func (s *Store) subscribe(ctx context.Context) error {
	r := s.opts.Redis
	sub, err := invalidation.Subscribe(ctx, r.Client, handler{s}, invalidation.SubscriberOptions{
		Channel: r.Channel, Sharded: r.Sharded, HealthInterval: r.HealthInterval,
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.sub = sub
	}
	s.mu.Unlock()
	if closed {
		sub.Close()
		return nil
	}
	s.subscribed.Store(true)
	// Writes committed before the subscription was confirmed were not
	// heard: catch up from the feed.
	s.kick(s.repairCh)
	return nil
}

// keepTrying calls attempt until it returns nil or ctx ends, pausing
// between failures with full jitter (so sidecars that lost the same server
// do not return in step), from retryMinBackoff doubling to
// retryMaxBackoff; an attempt that lasted longer than that (it worked a
// while) starts the pauses again from the minimum.
func (s *Store) keepTrying(ctx context.Context, what string, attempt func(context.Context) error) {
	backoff := retryMinBackoff
	for {
		started := time.Now()
		err := attempt(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		if time.Since(started) > retryMaxBackoff {
			backoff = retryMinBackoff
		}
		pause := rand.N(backoff) + time.Millisecond
		s.log.Warn("tiered: "+what+"; trying again", "err", err, "retry_in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, retryMaxBackoff)
	}
}
