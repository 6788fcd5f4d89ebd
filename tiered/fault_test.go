package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/tiered"
)

// B's pub/sub connection is killed and B cannot reconnect while A writes:
// once B has re-subscribed it serves no stale value, and the repair came
// from the change feed, not a purge.
func TestPubSubKilledRepairsFromChanges(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	src := memstore.New(memstore.Options{})
	var partitioned atomic.Bool
	opts := redistest.FastOptions(srv.Addr)
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if partitioned.Load() {
			return nil, errors.New("test partition: B cannot reach redis")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	bClient := redis.NewClient(opts)
	t.Cleanup(func() { bClient.Close() })

	noResync := tiered.Options{ResyncInterval: -1}
	a := newNode(t, src, nodeConfig{client: srv.Client(), prefix: "kill", opts: noResync})
	b := newNode(t, src, nodeConfig{client: bClient, prefix: "kill", opts: noResync})

	const flags = 10
	defs := make([]*flagcache.Definition, flags)
	for i := range defs {
		defs[i] = mustFlag(t, fmt.Sprintf("k%d", i))
		if _, err := a.Create(ctx(t), defs[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range defs {
		if _, err := b.Get(ctx(t), d.ID); err != nil {
			t.Fatal(err)
		}
	}
	gapsBefore := b.Stats().Gaps

	partitioned.Store(true)
	admin := srv.Client()
	if err := admin.Do(ctx(t), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL: %v", err)
	}
	eventually(t, "B to notice its subscription died", func() bool { return b.Stats().Gaps > gapsBefore })
	for _, d := range defs {
		if _, err := a.Update(ctx(t), d, 1); err != nil {
			t.Fatal(err)
		}
	}
	partitioned.Store(false)

	eventually(t, "B to serve every flag at version 2", func() bool {
		for _, d := range defs {
			got, err := b.Get(ctx(t), d.ID)
			if err != nil || got.Version != 2 {
				return false
			}
		}
		return true
	})
	// A change is visible the moment it is applied, before the repair
	// that applied it counts it: wait for the repair to finish (no gap
	// open) before reading its counters.
	eventually(t, "B's repair to finish", func() bool { return b.Stats().Current })
	st := b.Stats()
	t.Logf("B: %d gaps detected, %d changes repaired from the feed, %d purges, %d invalidations received", st.Gaps-gapsBefore, st.Repaired, st.Purges, st.InvalidationsReceived)
	if st.Purges != 0 {
		t.Errorf("B purged its LRU %d times, want 0 (repair from Changes)", st.Purges)
	}
	if st.Repaired < flags {
		t.Errorf("B repaired %d changes from the feed, want ≥ %d", st.Repaired, flags)
	}
}

// Redis is killed mid-workload and restarted with its old data: no read or
// write fails, and afterwards no id written during the outage is stale in
// Redis.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persist: true})
	client := srv.Client()
	src := memstore.New(memstore.Options{})
	n := newNode(t, src, nodeConfig{client: client, prefix: "outage", opts: tiered.Options{
		BreakerCooldown: 20 * time.Millisecond, ResyncInterval: -1, LRUSize: 1, LRUShards: 1,
	}})
	const flags = 20
	ids := make([]flagcache.ID, flags)
	for i := range ids {
		ids[i] = flagcache.ID(fmt.Sprintf("o%d", i))
		if _, err := n.Create(ctx(t), mustFlag(t, string(ids[i]))); err != nil {
			t.Fatal(err)
		}
	}

	var readErrs, writeErrs, reads, writes atomic.Int64
	written := make(map[flagcache.ID]bool)
	var mu sync.Mutex
	workload := func(ops int) {
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), uint64(ops)))
				for range ops {
					id := ids[r.IntN(flags)]
					if w == 0 {
						cur, err := src.Get(ctx(t), id)
						if err == nil {
							_, err = n.Update(ctx(t), cur.Definition, 0)
						}
						writes.Add(1)
						if err != nil {
							writeErrs.Add(1)
							t.Errorf("write %s: %v", id, err)
						}
						mu.Lock()
						written[id] = true
						mu.Unlock()
						continue
					}
					reads.Add(1)
					if _, err := n.Get(ctx(t), id); err != nil {
						readErrs.Add(1)
						t.Errorf("read %s: %v", id, err)
					}
				}
			}()
		}
		wg.Wait()
	}

	workload(100)
	srv.Stop()
	mu.Lock()
	clear(written)
	mu.Unlock()
	outageStart := time.Now()
	workload(100)
	outage := time.Since(outageStart)
	srv.Restart()
	workload(20)

	cache := rediskv.NewCache(client, rediskv.CacheOptions{Prefix: "outage:cache"})
	eventually(t, "Redis to hold the source's version of every id written during the outage", func() bool {
		for id := range written {
			want, err := src.Get(ctx(t), id)
			if err != nil {
				return false
			}
			got, ok, err := cache.Get(ctx(t), id)
			if err != nil || !ok || got.Version != want.Version {
				return false
			}
		}
		return true
	})
	st := n.Stats()
	t.Logf("outage of %v: %d reads (%d failed), %d writes (%d failed); %d ids written during the outage, %d writes re-applied to Redis; %d Redis errors",
		outage.Round(time.Millisecond), reads.Load(), readErrs.Load(), writes.Load(), writeErrs.Load(), len(written), st.RedisRepaired, st.RedisErrors)
	if len(written) == 0 {
		t.Fatal("no write happened during the outage")
	}
}

// A write committed at the source that nobody announced nor put in Redis
// (its writer was killed in between): the periodic resync finds it in the
// feed and Redis gets it too, so the stale Redis entry cannot be served
// again once the resync's version floor lapses.
func TestUnannouncedWriteRepairsRedis(t *testing.T) {
	src := memstore.New(memstore.Options{})
	_, c := miniClient(t)
	n := newNode(t, src, nodeConfig{client: c, prefix: "unannounced", opts: tiered.Options{ResyncInterval: 20 * time.Millisecond}})
	def := mustFlag(t, "u")
	if _, err := n.Create(ctx(t), def); err != nil { // Redis and the LRU hold v1
		t.Fatal(err)
	}
	before := n.Stats().RedisRepaired
	if _, err := src.Update(ctx(t), def, 1); err != nil { // v2, at the source only
		t.Fatal(err)
	}
	// The counter moves just after Redis does: wait for both.
	eventually(t, "Redis to hold v2, counted", func() bool {
		e, ok, err := n.cache.Get(ctx(t), "u")
		return err == nil && ok && e.Version == 2 && n.Stats().RedisRepaired > before
	})
	// The start-up replay may still be counting the create it raced with
	// (it installed v1 just before the create's own write): 1 or 2.
	if got := n.Stats().RedisRepaired - before; got < 1 || got > 2 {
		t.Errorf("RedisRepaired: got %d more, want 1 (2 with the start-up replay's)", got)
	}
}

// A writer killed between its source commit and its Redis update, then
// restarted alone: its new baseline replays the feed's tail into Redis, so
// the stale Redis entry is replaced without any peer.
func TestRestartedWriterRepairsRedis(t *testing.T) {
	src := memstore.New(memstore.Options{})
	_, c := miniClient(t)
	def := mustFlag(t, "r")
	first := newNode(t, src, nodeConfig{client: c, prefix: "restart"})
	if _, err := first.Create(ctx(t), def); err != nil { // v1 in Redis
		t.Fatal(err)
	}
	if _, err := src.Update(ctx(t), def, 1); err != nil { // v2 committed; the writer "dies" before Redis
		t.Fatal(err)
	}
	first.Close()
	restarted := newNode(t, src, nodeConfig{client: c, prefix: "restart", opts: tiered.Options{ResyncInterval: -1}})
	eventually(t, "Redis to hold v2", func() bool {
		e, ok, err := restarted.cache.Get(ctx(t), "r")
		return err == nil && ok && e.Version == 2
	})
	if got, err := restarted.Get(ctx(t), "r"); err != nil || got.Version != 2 {
		t.Fatalf("restarted sidecar serves %+v, %v; want version 2", got, err)
	}
}
