package tiered_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

const benchFlags = 1000

func benchIDs(b *testing.B, s flagcache.Store) []flagcache.ID {
	b.Helper()
	ids := make([]flagcache.ID, benchFlags)
	for i := range ids {
		ids[i] = flagcache.ID(fmt.Sprintf("bench-%04d", i))
		if _, err := s.Create(context.Background(), mustFlag(b, string(ids[i]))); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// Get on an LRU hit: the serving path of a hot flag.
func BenchmarkGetLRUHit(b *testing.B) {
	src := memstore.New(memstore.Options{})
	s := tiered.New(src, tiered.Options{})
	defer s.Close()
	ids := benchIDs(b, s)
	ctx := context.Background()
	for _, id := range ids {
		if _, err := s.Get(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetHit(ctx, ids[i%benchFlags]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// Get on a Redis hit: the LRU holds one entry, so every read goes to the
// real Redis.
func BenchmarkGetRedisHit(b *testing.B) {
	client := realClientB(b)
	prefix := testenv.UniqueName("bench-")
	src := memstore.New(memstore.Options{})
	writer := newBenchNode(b, src, client, prefix, tiered.Options{})
	ids := benchIDs(b, writer)
	reader := newBenchNode(b, src, client, prefix, tiered.Options{LRUSize: 1, LRUShards: 1})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h, err := reader.GetHit(ctx, ids[i%benchFlags])
			if err != nil || h.Tier == flagcache.TierSource {
				b.Fatalf("GetHit: tier %s, %v", h.Tier, err)
			}
			i++
		}
	})
	st := reader.Stats()
	b.ReportMetric(float64(st.RedisHits)/float64(b.N), "redis-hits/op")
}

// Get on a miss of every cache: the source (memstore) read, the JSON
// encoding of the entry and the LRU fill.
func BenchmarkGetSourceMiss(b *testing.B) {
	src := memstore.New(memstore.Options{})
	s := tiered.New(src, tiered.Options{LRUSize: 1, LRUShards: 1})
	defer s.Close()
	ids := benchIDs(b, s)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Get(ctx, ids[i%benchFlags]); err != nil {
			b.Fatal(err)
		}
	}
}
