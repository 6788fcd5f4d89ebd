package rediskv_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/rediskv"
)

// The benchmarks run against the real Redis (testenv.RedisAddr()): on
// miniredis they would measure miniredis. See docs/benchmarks.md.

func BenchmarkCacheGet(b *testing.B) {
	srv := connectRedis(b)
	c := rediskv.NewCache(srv.client, rediskv.CacheOptions{Prefix: srv.prefix})
	ctx := context.Background()
	mustPut(b, c, benchEntry(b, 1), true)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := c.Get(ctx, "bench"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	// The same GET without decoding: the round trip alone.
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := srv.client.Get(ctx, srv.prefix+":bench").Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(50 / max(runtime.GOMAXPROCS(0), 1)) // about 50 clients, as redis-benchmark -c 50
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, ok, err := c.Get(ctx, "bench"); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	})
}

func BenchmarkCachePutIfNewer(b *testing.B) {
	srv := connectRedis(b)
	c := rediskv.NewCache(srv.client, rediskv.CacheOptions{Prefix: srv.prefix})
	ctx := context.Background()
	def := benchDefinition(b)
	version := int64(0) // rises across runs of the sub-benchmark
	b.Run("installed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			version++
			e := rediskv.Entry{ID: "bench", Version: version, Flag: flagcache.NewStored(def, version, version)}
			if ok, err := c.PutIfNewer(ctx, e); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("stale", func(b *testing.B) {
		b.ReportAllocs()
		stale := benchEntry(b, 1)
		for b.Loop() {
			if ok, err := c.PutIfNewer(ctx, stale); err != nil || ok {
				b.Fatal(ok, err)
			}
		}
	})
}

func BenchmarkStoreUpdate(b *testing.B) {
	srv := connectRedis(b)
	s := rediskv.New(srv.client, rediskv.Options{Prefix: srv.prefix})
	ctx := context.Background()
	created := mustCreate(b, s, benchDefinition(b))
	def := created.Definition
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Update(ctx, def, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStoreGet(b *testing.B) {
	srv := connectRedis(b)
	s := rediskv.New(srv.client, rediskv.Options{Prefix: srv.prefix})
	ctx := context.Background()
	mustCreate(b, s, benchDefinition(b))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDefinition is a flag of a realistic size (about 500 bytes of JSON).
func benchDefinition(tb testing.TB) *flagcache.Definition {
	def := mustFlag(tb, "bench", "Benchmark flag")
	def.Description = "A flag of a typical size for the benchmarks."
	def.Status = flagcache.StatusActive
	def.Metadata.Tags = []string{"checkout", "payments"}
	def.Metadata.Owner = "team-payments"
	def.Environments = map[string]flagcache.Environment{
		"production": {Enabled: true}, "staging": {Enabled: false}, "dev": {Enabled: true},
	}
	return def
}

func benchEntry(tb testing.TB, version int64) rediskv.Entry {
	return rediskv.Entry{ID: "bench", Version: version, Flag: flagcache.NewStored(benchDefinition(tb), version, version)}
}
