package rediskv_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/internal/testenv"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/storetest"
)

// TestCluster runs the conformance suite and the cache through a
// ClusterClient on a private Redis Cluster (3 primaries, 3 replicas): the
// store's keys share one slot, so its scripts and MULTI run, and the
// cache's keys spread over the nodes.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	client := redistest.StartCluster(t).Client()
	cleanup := func(t *testing.T, prefix string) {
		t.Cleanup(func() {
			err := client.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
				deleteKeys(t, node, prefix)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) flagcache.Store {
			prefix := testenv.UniqueName("rediskv-cluster-")
			cleanup(t, prefix)
			return rediskv.New(client, rediskv.Options{Prefix: prefix})
		})
	})
	t.Run("cache", func(t *testing.T) {
		prefix := testenv.UniqueName("rediskv-cluster-")
		cleanup(t, prefix)
		c := rediskv.NewCache(client, rediskv.CacheOptions{Prefix: prefix})
		var ids []flagcache.ID
		for _, id := range []flagcache.ID{"a", "b", "c", "d", "e", "f", "g", "h"} {
			mustPut(t, c, flagAt(t, id, 2), true)
			mustPut(t, c, flagAt(t, id, 1), false)
			ids = append(ids, id)
		}
		got, err := c.GetMany(context.Background(), ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Errorf("GetMany: got %d entries, want %d", len(got), len(ids))
		}
		var nodes atomic.Int32 // ForEachMaster visits the nodes concurrently
		client.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
			if len(keysOf(t, node, prefix+":*")) > 0 {
				nodes.Add(1)
			}
			return nil
		})
		if nodes := nodes.Load(); nodes < 2 {
			t.Errorf("cache keys on %d node(s), want them spread over several", nodes)
		}
	})
}

// TestSentinel runs the conformance suite through a failover client on a
// private Sentinel set-up (1 primary, 1 replica, 3 sentinels).
func TestSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel set-up")
	}
	client := redistest.StartSentinel(t).Client()
	storetest.Run(t, func(t *testing.T) flagcache.Store {
		return rediskv.New(client, rediskv.Options{Prefix: testenv.UniqueName("rediskv-sentinel-")})
	})
}
