package tiered_test

import (
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/storetest"
)

func TestConformance(t *testing.T) {
	t.Run("memstore/lru-only", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			return newNode(t, rawMemstore(t), nodeConfig{})
		})
	})
	t.Run("memstore/miniredis", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			_, c := miniClient(t)
			return newNode(t, rawMemstore(t), nodeConfig{client: c, prefix: "t"})
		})
	})
	t.Run("memstore/redis", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			return newNode(t, rawMemstore(t), nodeConfig{client: realClient(t), prefix: testenv.UniqueName("tiered-")})
		})
	})
}

// The production shape: Postgres as the source, the real Redis as cache
// and invalidation bus.
func TestConformancePostgresRedis(t *testing.T) {
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		src, schema := pgtest.NewStore(t, pgsource.Options{})
		storetest.SetRaw(t, storetest.Raw{Write: pgtest.RawWriter(t, schema), ValueEqual: true})
		return newNode(t, src, nodeConfig{client: realClient(t), prefix: testenv.UniqueName("tiered-pg-")})
	})
}

// rawMemstore is a memstore source whose raw-write hook the suite uses:
// rows written behind the tiered store's back, as another sidecar's source
// writer would.
func rawMemstore(t *testing.T) *memstore.Store {
	src := memstore.New(memstore.Options{})
	storetest.SetRaw(t, storetest.Raw{Write: src.WriteRaw})
	return src
}
