package client_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/storetest"
	"github.com/flagcache/flagcache/tiered"
)

// TestConformance runs the Store contract through the client against a
// daemon on 127.0.0.1:0, one per subtest: over a memstore source, with
// and without the local cache.
func TestConformance(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			return newClient(t, memDaemon(t).URL)
		})
	})
	t.Run("memstore/local-cache", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			c := newClient(t, memDaemon(t).URL, client.WithLocalCache(1000))
			eventually(t, "the watch stream", func() bool { return c.Stats().Connected })
			return c
		})
	})
}

// TestConformancePostgres puts Postgres behind the daemon.
func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		src, _ := pgtest.NewStore(t, pgsource.Options{})
		return newClient(t, startDaemon(t, src, httpapi.Options{}).URL)
	})
}

// TestConformancePostgresRedis is the production shape behind the daemon:
// the tiered store (LRU → the real Redis → Postgres).
func TestConformancePostgresRedis(t *testing.T) {
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		rc := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
		t.Cleanup(func() { rc.Close() })
		if err := rc.Ping(ctxFor(t)).Err(); err != nil {
			testenv.Unreachable(t, "redis", err)
		}
		src, _ := pgtest.NewStore(t, pgsource.Options{})
		cache := rediskv.NewCache(rc, rediskv.CacheOptions{Prefix: testenv.UniqueName("client-test-"), TTL: time.Minute})
		store := tiered.New(src, tiered.Options{Cache: cache})
		t.Cleanup(func() { store.Close() })
		return newClient(t, startDaemon(t, store, httpapi.Options{}).URL)
	})
}
