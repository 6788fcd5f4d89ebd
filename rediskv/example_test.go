package rediskv_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/rediskv"
)

func ExampleStore() {
	m, _ := miniredis.Run() // or any Redis: redis.NewUniversalClient works too
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()
	ctx := context.Background()
	store := rediskv.New(client, rediskv.Options{Prefix: "example"})

	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	created, _ := store.Create(ctx, def)
	fmt.Println("created", created.Definition.ID, created.ETag)

	next := created.Definition.Clone()
	next.Status = flagcache.StatusActive
	updated, _ := store.Update(ctx, next, created.Version) // one EVALSHA
	fmt.Println("updated to", updated.Version, updated.Definition.Status)

	_, err := store.Update(ctx, next, created.Version)
	var conflict *flagcache.VersionConflictError
	if errors.As(err, &conflict) {
		fmt.Println("conflict: expected", conflict.Expected, "actual", conflict.Actual)
	}

	n, _ := store.Count(ctx, flagcache.Query{Status: flagcache.StatusActive})
	fmt.Println("active flags:", n)
	// Output:
	// created new-checkout "v1"
	// updated to 2 active
	// conflict: expected 1 actual 2
	// active flags: 1
}

func ExampleCache_PutIfNewer() {
	m, _ := miniredis.Run()
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()
	ctx := context.Background()
	cache := rediskv.NewCache(client, rediskv.CacheOptions{})

	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	v2 := rediskv.Entry{ID: "new-checkout", Version: 2, Flag: flagcache.NewStored(def, 2, 7)}
	v1 := rediskv.Entry{ID: "new-checkout", Version: 1, Flag: flagcache.NewStored(def, 1, 5)}

	installed, _ := cache.PutIfNewer(ctx, v2)
	fmt.Println("v2 installed:", installed)
	installed, _ = cache.PutIfNewer(ctx, v1) // a slow filler arrives late
	fmt.Println("v1 installed:", installed)

	// A delete installs a tombstone one version above the last flag.
	installed, _ = cache.PutIfNewer(ctx, rediskv.Entry{ID: "new-checkout", Version: 3, Deleted: true})
	fmt.Println("tombstone installed:", installed)

	e, ok, _ := cache.Get(ctx, "new-checkout")
	fmt.Println("cached:", ok, "version", e.Version, "deleted", e.Deleted)
	// Output:
	// v2 installed: true
	// v1 installed: false
	// tombstone installed: true
	// cached: true version 3 deleted true
}
