package client_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/storetest"
	"github.com/flagcache/flagcache/tiered"
)

// TestConformance runs the Store contract through the client against a
// daemon on 127.0.0.1:0, one per subtest: over a memstore source, with
// and without the local cache.
func TestConformance(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			return newClient(t, rawMemDaemon(t).URL)
		})
	})
	t.Run("memstore/local-cache", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			c := newClient(t, rawMemDaemon(t).URL, client.WithLocalCache(1000))
			eventually(t, "the watch stream", func() bool { return c.Stats().Connected })
			return c
		})
	})
}

// TestConformancePostgres puts Postgres behind the daemon.
func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		src, schema := pgtest.NewStore(t, pgsource.Options{})
		storetest.SetRaw(t, storetest.Raw{Write: pgtest.RawWriter(t, schema), ValueEqual: true})
		return newClient(t, startDaemon(t, src, httpapi.Options{}).URL)
	})
}

// rawMemDaemon is a daemon over a fresh memstore whose raw-write hook the
// suite uses. Behind the API definitions are compared as JSON values (the
// daemon re-encodes them).
func rawMemDaemon(t *testing.T) *httptest.Server {
	src := memstore.New(memstore.Options{})
	storetest.SetRaw(t, storetest.Raw{Write: src.WriteRaw, ValueEqual: true})
	return startDaemon(t, src, httpapi.Options{})
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
		src, schema := pgtest.NewStore(t, pgsource.Options{})
		storetest.SetRaw(t, storetest.Raw{Write: pgtest.RawWriter(t, schema), ValueEqual: true})
		name := testenv.UniqueName("client-test-")
		store := tiered.New(src, tiered.Options{Redis: tiered.RedisOptions{Client: rc, Prefix: name, TTL: time.Minute, Channel: name + ":inv"}})
		t.Cleanup(func() { store.Close() })
		return newClient(t, startDaemon(t, store, httpapi.Options{}).URL)
	})
}
