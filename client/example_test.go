package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/client"
	"github.com/flagcache/flagcache/httpapi"
	"github.com/flagcache/flagcache/memstore"
)

// exampleDaemon stands in for `flagcache serve`: the API over a memstore
// on 127.0.0.1.
func exampleDaemon() (*httptest.Server, func()) {
	h, err := httpapi.NewHandler(memstore.New(memstore.Options{}), httpapi.Options{})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(h)
	return srv, func() { h.Close(); srv.Close() }
}

func Example() {
	daemon, stop := exampleDaemon()
	defer stop()
	ctx := context.Background()

	c, err := client.New(daemon.URL) // e.g. "http://127.0.0.1:8080"
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", false)
	if _, err := c.Create(ctx, def); err != nil {
		log.Fatal(err)
	}
	flag, err := c.Get(ctx, "new-checkout")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(flag.Definition.Name, flag.Version, flag.ETag)

	_, err = c.Get(ctx, "old-checkout")
	fmt.Println(errors.Is(err, flagcache.ErrNotFound))
	// Output:
	// New checkout 1 "v1"
	// true
}

// A read-modify-write loop: Update with the version read is a
// compare-and-set, and a lost race reports the version that won.
func ExampleClient_Update() {
	daemon, stop := exampleDaemon()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(daemon.URL)
	defer c.Close()
	def, _ := flagcache.NewBoolean("dark-mode", "Dark mode", false)
	c.Create(ctx, def)
	other := def.Clone()
	other.Description = "changed by someone else"
	c.Update(ctx, other, 1)

	def.Status = flagcache.StatusActive
	_, err := c.Update(ctx, def, 1)
	var conflict *flagcache.VersionConflictError
	if errors.As(err, &conflict) {
		fmt.Printf("lost the race: expected v%d, now v%d\n", conflict.Expected, conflict.Actual)
		cur, _ := c.Get(ctx, "dark-mode")
		next := cur.Definition.Clone()
		next.Status = flagcache.StatusActive
		won, err := c.Update(ctx, next, cur.Version)
		fmt.Println(won.Version, won.Definition.Description, err)
	}
	// Output:
	// lost the race: expected v1, now v2
	// 3 changed by someone else <nil>
}

// With a local cache, reads are answered in process once the watch stream
// is open; the stream keeps the cache coherent with every writer.
func ExampleWithLocalCache() {
	daemon, stop := exampleDaemon()
	defer stop()
	ctx := context.Background()
	c, err := client.New(daemon.URL, client.WithLocalCache(10_000))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for !c.Stats().Connected { // an app would not wait: reads go to the daemon meanwhile
		time.Sleep(time.Millisecond)
	}

	def, _ := flagcache.NewBoolean("new-checkout", "New checkout", true)
	c.Create(ctx, def)
	hit, err := c.GetHit(ctx, "new-checkout")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(hit.Tier, hit.Stored.Version)
	// Output: local 1
}

// Watch announces each write; an app reads the flags it cares about.
func ExampleClient_Watch() {
	daemon, stop := exampleDaemon()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _ := client.New(daemon.URL)
	defer c.Close()

	events, err := c.Watch(ctx, client.FromNow)
	if err != nil {
		log.Fatal(err)
	}
	def, _ := flagcache.NewBoolean("beta", "Beta", false)
	c.Create(ctx, def)
	show(<-events)
	c.Delete(ctx, "beta", 1)
	show(<-events)
	// Output:
	// upsert beta 1 1
	// delete beta 2 2
}

func show(ev client.Event) {
	if ev.Op == client.OpResync {
		return // events were lost: re-read every flag
	}
	fmt.Println(ev.Op, ev.ID, ev.Version, ev.Revision)
}

// A client for a daemon that wants a token, with its own timeout and
// read retries.
func ExampleNew() {
	c, err := client.New("http://127.0.0.1:8080",
		client.WithToken("s3cret"),
		client.WithTimeout(2*time.Second),
		client.WithRetries(3))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("ready")
	// Output: ready
}
