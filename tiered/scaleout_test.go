package tiered_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/storetest"
)

// tiered over Postgres with a Redis Cluster (3 primaries, 3 replicas) and
// with Sentinel (1 primary, 1 replica, 3 sentinels) as the cache and bus.
func TestConformanceScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster and a Sentinel set-up")
	}
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"cluster", func(t *testing.T) redis.UniversalClient { return redistest.StartCluster(t).Client() }},
		{"sentinel", func(t *testing.T) redis.UniversalClient { return redistest.StartSentinel(t).Client() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client(t)
			storetest.Run(t, func(t *testing.T) flagcache.Store {
				src, _ := pgtest.NewStore(t, pgsource.Options{})
				return newNode(t, src, nodeConfig{client: client, prefix: testenv.UniqueName("so-")})
			})
		})
	}
}

// A Cluster primary and the Sentinel primary are killed mid-workload: reads
// keep being served, writes keep succeeding at the source, and afterwards
// both sidecars converge with no stale value.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster and a Sentinel set-up")
	}
	for _, tc := range []struct {
		name    string
		sharded bool
		run     func(t *testing.T) (redis.UniversalClient, redis.UniversalClient, func())
	}{
		{"cluster", false, func(t *testing.T) (redis.UniversalClient, redis.UniversalClient, func()) {
			c := redistest.StartCluster(t)
			return c.Client(), c.Client(), func() { t.Logf("killed primary %s", c.KillPrimaryOf("failover:cache:f0")) }
		}},
		{"cluster-sharded-pubsub", true, func(t *testing.T) (redis.UniversalClient, redis.UniversalClient, func()) {
			c := redistest.StartCluster(t)
			// Kill the primary holding the invalidation channel's slot.
			return c.Client(), c.Client(), func() { t.Logf("killed primary %s", c.KillPrimaryOf("failover:inv")) }
		}},
		{"sentinel", false, func(t *testing.T) (redis.UniversalClient, redis.UniversalClient, func()) {
			s := redistest.StartSentinel(t)
			return s.Client(), s.Client(), s.KillPrimary
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb, kill := tc.run(t)
			src, _ := pgtest.NewStore(t, pgsource.Options{})
			a := newNode(t, src, nodeConfig{client: ca, prefix: "failover", sharded: tc.sharded})
			b := newNode(t, src, nodeConfig{client: cb, prefix: "failover", sharded: tc.sharded})
			const flags = 8
			defs := make([]*flagcache.Definition, flags)
			for i := range defs {
				defs[i] = mustFlag(t, fmt.Sprintf("f%d", i))
				if _, err := a.Create(ctx(t), defs[i]); err != nil {
					t.Fatal(err)
				}
			}
			round := func(writer *node) {
				for _, d := range defs {
					if _, err := writer.Update(ctx(t), d, 0); err != nil {
						t.Fatalf("write during failover: %v", err)
					}
					for _, n := range []*node{a, b} {
						if _, err := n.Get(ctx(t), d.ID); err != nil {
							t.Fatalf("read during failover: %v", err)
						}
					}
				}
			}
			round(a)
			killStart := time.Now()
			kill()
			failoverTook := time.Since(killStart)
			roundStart := time.Now()
			round(b)
			round(a)
			duringFailover := time.Since(roundStart)
			convergeStart := time.Now()
			eventually(t, "both sidecars to serve the source's versions", func() bool {
				for _, d := range defs {
					want, err := src.Get(ctx(t), d.ID)
					if err != nil {
						return false
					}
					for _, n := range []*node{a, b} {
						got, err := n.Get(ctx(t), d.ID)
						if err != nil || got.Version != want.Version {
							return false
						}
					}
				}
				return true
			})
			sa, sb := a.Stats(), b.Stats()
			t.Logf("FIGURE failover/%s | promotion_took=%v writes_after=%d reads_after=%d failed=0 rounds_took=%v converged_in=%v "+
				"gaps=%d repaired=%d purges=%d redis_errors=%d redis_repaired=%d",
				tc.name, failoverTook.Round(time.Millisecond), 2*flags, 4*flags, duringFailover.Round(time.Millisecond),
				time.Since(convergeStart).Round(time.Millisecond), sa.Gaps+sb.Gaps, sa.Repaired+sb.Repaired,
				sa.Purges+sb.Purges, sa.RedisErrors+sb.RedisErrors, sa.RedisRepaired+sb.RedisRepaired)
		})
	}
}
