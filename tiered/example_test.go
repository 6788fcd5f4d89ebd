package tiered_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/tiered"
)

// Two sidecars on one source and one Redis: Options.Redis is all the
// wiring. Each store builds its cache tier and publisher and subscribes
// to the other's invalidations itself.
func Example() {
	m, _ := miniredis.Run() // or any Redis: redis.NewUniversalClient works too
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()
	source := memstore.New(memstore.Options{})
	opts := tiered.Options{Redis: tiered.RedisOptions{Client: client, Prefix: "example:cache", Channel: "example:inv"}}
	a := tiered.New(source, opts)
	defer a.Close()
	b := tiered.New(source, opts)
	defer b.Close()
	ctx := context.Background()

	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	a.Create(ctx, def) // source, then Redis, then an invalidation
	for range 2 {
		h, _ := b.GetHit(ctx, "new-checkout")
		fmt.Println("b read version", h.Stored.Version, "from", h.Tier)
	}
	// Output:
	// b read version 1 from redis
	// b read version 1 from lru
}
