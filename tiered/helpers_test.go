package tiered_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/tiered"
)

// countingSource counts the reads that reach the source, and can be taken
// down (every call then fails with ErrUnavailable, as a source that cannot
// be reached does) or paused on Get.
type countingSource struct {
	flagcache.Store
	gets     atomic.Int64
	getManys atomic.Int64
	down     atomic.Bool
}

var errInjected = flagcache.Unavailable(errSourceDown{})

type errSourceDown struct{}

func (errSourceDown) Error() string { return "source taken down by the test" }

func (c *countingSource) Get(ctx context.Context, id flagcache.ID) (*flagcache.Stored, error) {
	c.gets.Add(1)
	if c.down.Load() {
		return nil, errInjected
	}
	return c.Store.Get(ctx, id)
}

func (c *countingSource) GetMany(ctx context.Context, ids []flagcache.ID) (map[flagcache.ID]*flagcache.Stored, error) {
	c.getManys.Add(1)
	if c.down.Load() {
		return nil, errInjected
	}
	return c.Store.GetMany(ctx, ids)
}

func (c *countingSource) Update(ctx context.Context, def *flagcache.Definition, v int64) (*flagcache.Stored, error) {
	if c.down.Load() {
		return nil, errInjected
	}
	return c.Store.Update(ctx, def, v)
}

func (c *countingSource) Create(ctx context.Context, def *flagcache.Definition) (*flagcache.Stored, error) {
	if c.down.Load() {
		return nil, errInjected
	}
	return c.Store.Create(ctx, def)
}

func (c *countingSource) Changes(ctx context.Context, after int64, limit int) (*flagcache.ChangeFeed, error) {
	if c.down.Load() {
		return nil, errInjected
	}
	return c.Store.Changes(ctx, after, limit)
}

// node is one sidecar: a tiered.Store with its Redis wiring.
type node struct {
	*tiered.Store
	cache *rediskv.Cache
}

type nodeConfig struct {
	client  redis.UniversalClient // nil: no Redis tier, no invalidations
	prefix  string                // cache prefix and channel, shared by a cluster of nodes
	noCache bool                  // subscribe to invalidations but skip the Redis tier
	sharded bool                  // sharded pub/sub (SSUBSCRIBE/SPUBLISH)
	opts    tiered.Options
}

func newNode(t *testing.T, source flagcache.Store, cfg nodeConfig) *node {
	t.Helper()
	opts := cfg.opts
	n := &node{}
	if cfg.client != nil {
		n.cache = rediskv.NewCache(cfg.client, rediskv.CacheOptions{Prefix: cfg.prefix + ":cache"})
		opts.Redis = tiered.RedisOptions{
			Client: cfg.client, Prefix: cfg.prefix + ":cache", NoCache: cfg.noCache,
			Channel: cfg.prefix + ":inv", Sharded: cfg.sharded, HealthInterval: 200 * time.Millisecond,
		}
	}
	n.Store = tiered.New(source, opts)
	t.Cleanup(func() {
		n.Store.Close()
		if cfg.client != nil {
			deleteKeys(cfg.client, cfg.prefix+":cache:*")
		}
	})
	if cfg.client != nil && !n.Stats().Subscribed {
		t.Fatal("New returned before subscribing to a Redis that answers")
	}
	return n
}

func miniClient(t *testing.T) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return m, c
}

func realClient(t *testing.T) *redis.Client { return realClientB(t) }

func realClientB(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		testenv.Unreachable(t, "Redis", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustFlag(t testing.TB, id string) *flagcache.Definition {
	t.Helper()
	d, err := flagcache.NewBoolean(flagcache.ID(id), id, false)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// newBenchNode is newNode for benchmarks.
func newBenchNode(b *testing.B, source flagcache.Store, client redis.UniversalClient, prefix string, opts tiered.Options) *tiered.Store {
	opts.Redis = tiered.RedisOptions{Client: client, Prefix: prefix + ":cache", Channel: prefix + ":inv"}
	s := tiered.New(source, opts)
	b.Cleanup(func() { s.Close() })
	return s
}

// deleteKeys removes a test's cache keys from a shared Redis (on every
// primary of a cluster).
func deleteKeys(client redis.UniversalClient, pattern string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	del := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, pattern, 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		return iter.Err()
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return del(ctx, c) })
		return
	}
	del(ctx, client)
}
