package tiered_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/memstore"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/tiered"
)

// Redis moves backwards behind the sidecars' backs — restarted from an
// older snapshot, or an entry evicted and re-filled by a slow reader that
// read the old version — long after the write: a sidecar that applied the
// write never serves the older version, from Redis or from its LRU, and
// however long ago it learnt of the write.
func TestRedisMovedBackwards(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rewind func(t *testing.T, m *miniredis.Miniredis, cache *rediskv.Cache, key, old string, v1 *flagcache.Stored)
	}{
		{"snapshot-restored", func(t *testing.T, m *miniredis.Miniredis, _ *rediskv.Cache, key, old string, _ *flagcache.Stored) {
			if err := m.Set(key, old); err != nil {
				t.Fatal(err)
			}
		}},
		{"evicted-slow-fill", func(t *testing.T, m *miniredis.Miniredis, cache *rediskv.Cache, key, _ string, v1 *flagcache.Stored) {
			// A start-up replay of the feed into Redis may put v2 back
			// in between: evict again until the slow fill lands.
			eventually(t, "the slow fill of v1 to land", func() bool {
				m.Del(key)
				ok, err := cache.PutIfNewer(ctx(t), rediskv.Entry{ID: "f", Version: 1, Flag: v1})
				return err == nil && ok
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := memstore.New(memstore.Options{})
			m, c := miniClient(t)
			opts := tiered.Options{ResyncInterval: 10 * time.Millisecond}
			a := newNode(t, src, nodeConfig{client: c, prefix: "back", opts: opts})
			b := newNode(t, src, nodeConfig{client: c, prefix: "back", opts: opts})
			const key = "back:cache:f"
			v1, old := writeTwice(t, a, m, key)
			eventually(t, "B to hear version 2", func() bool { return b.Stats().InvalidationsReceived >= 2 })

			tc.rewind(t, m, a.cache, key, old, v1)
			// Long after: every delay-based protection has lapsed, and
			// resyncs keep succeeding meanwhile.
			resyncs := b.Stats().Resyncs
			tiered.AdvanceClock(b.Store, time.Hour)
			eventually(t, "B to resync", func() bool { return b.Stats().Resyncs > resyncs+1 })
			if got, err := b.GetMany(ctx(t), []flagcache.ID{"f"}); err != nil || got["f"] == nil || got["f"].Version != 2 {
				t.Fatalf("a batch through B: %v, %v; want version 2", got["f"], err)
			}
			for i := range 3 {
				h, err := b.GetHit(ctx(t), "f")
				if err != nil || h.Stored.Version != 2 {
					t.Fatalf("read %d through B: %+v from %s, %v; want version 2", i, h.Stored, h.Tier, err)
				}
			}
			// B read the source instead, and put Redis right again.
			if e, ok, err := a.cache.Get(ctx(t), "f"); err != nil || !ok || e.Version != 2 {
				t.Errorf("Redis after B's read: %+v, %v, %v; want version 2", e, ok, err)
			}
		})
	}
}

// A sidecar started after Redis moved backwards (it heard nothing) reads
// the whole change feed for its baseline: the old Redis copy is refused.
func TestRedisBehindAtStart(t *testing.T) {
	src := memstore.New(memstore.Options{})
	m, c := miniClient(t)
	a := newNode(t, src, nodeConfig{client: c, prefix: "behind"})
	const key = "behind:cache:f"
	_, old := writeTwice(t, a, m, key)
	a.Close()
	if err := m.Set(key, old); err != nil {
		t.Fatal(err)
	}
	b := newNode(t, src, nodeConfig{client: c, prefix: "behind", opts: tiered.Options{ResyncInterval: -1}})
	if got, err := b.Get(ctx(t), "f"); err != nil || got.Version != 2 {
		t.Fatalf("new sidecar serves %+v, %v; want version 2", got, err)
	}
}

// writeTwice creates flag f through n and updates it, returning version 1
// and the Redis value of key that held it.
func writeTwice(t *testing.T, n *node, m *miniredis.Miniredis, key string) (*flagcache.Stored, string) {
	t.Helper()
	def := mustFlag(t, "f")
	v1, err := n.Create(ctx(t), def)
	if err != nil {
		t.Fatal(err)
	}
	old, err := m.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Update(ctx(t), def, 1); err != nil {
		t.Fatal(err)
	}
	return v1, old
}
