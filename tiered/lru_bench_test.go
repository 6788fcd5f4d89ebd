package tiered

import (
	"fmt"
	"testing"
	"time"

	lrulib "github.com/hashicorp/golang-lru/v2"

	"github.com/flagcache/flagcache"
)

// The sharded LRU against one shard and against golang-lru's own
// thread-safe cache (one lock), all read in parallel.
func BenchmarkLRUParallelGet(b *testing.B) {
	const n = 1000
	ids := make([]flagcache.ID, n)
	for i := range ids {
		ids[i] = flagcache.ID(fmt.Sprintf("bench-%04d", i))
	}
	e := &entry{body: []byte("{}"), version: 1, expires: 1 << 62}
	for _, tc := range []struct {
		name   string
		shards int
	}{{"sharded", 0}, {"one-shard", 1}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newLRU(10_000, tc.shards, 0, time.Minute)
			c.now = func() int64 { return 0 } // compare the locking, not the clock
			for _, id := range ids {
				c.Install(c.Begin(), id, e)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, ok := c.get(ids[i%n]); !ok {
						b.Fatal("miss")
					}
					i++
				}
			})
		})
	}
	b.Run("golang-lru", func(b *testing.B) {
		c, _ := lrulib.New[flagcache.ID, *entry](10_000)
		for _, id := range ids {
			c.Add(id, e)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := c.Get(ids[i%n]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	})
}
