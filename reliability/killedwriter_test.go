package reliability_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/pgsource"
	"github.com/flagcache/flagcache/rediskv"
)

// A writer SIGKILLed between the source commit and its Redis update leaves
// the source at v2, Redis and every LRU at v1, and no invalidation. The
// test makes exactly that state by committing at the source directly, then
// restarts the writer (a fresh sidecar with no baseline) and keeps reading
// through every sidecar: no version may go back, and the time until every
// sidecar and Redis hold v2 is the figure.
//
// Scaled-down clocks make the windows visible in seconds: a resync every
// 500ms, LRU entries for 2s, version floors for 1s (production: 30s, 60s,
// 30s), so an LRU entry outlives the floor that protects it, as in
// production.
func TestWriterKilledBeforeRedis(t *testing.T) {
	opts := suiteOptions()
	opts.ResyncInterval = 500 * time.Millisecond
	opts.LRUTTL = 2 * time.Second
	opts.LoadTimeout = 500 * time.Millisecond
	// The version floors' old lifetime: they no longer lapse, but the
	// test still waits it out, as it did when they did.
	const floorTTL = time.Second
	window := opts.LRUTTL + floorTTL + 2*opts.ResyncInterval // every protection has lapsed once

	t.Run("survivor", func(t *testing.T) {
		t.Parallel()
		// B's periodic resync finds v2 in the change feed. Nobody reads
		// the flags meanwhile, so no read rejects Redis's v1 against the
		// floor the resync recorded and refills Redis. Once that floor has
		// lapsed, B must still serve v2: it has seen it.
		src, _ := pgtest.NewStore(t, pgsource.Options{})
		r := newRig(t, src, rigConfig{opts: opts, cacheTTL: time.Minute})
		warm(t, r)
		r.nodes[0].kill() // A, the writer
		b := r.nodes[1]
		r.nodes = r.nodes[1:]
		before := b.Stats()
		killedWrite(t, r)
		// B finds the writes by its resync or by the source's commit
		// notifications; with the latter a change may reach B by its own
		// Redis repair's invalidation instead of the feed read, so the
		// count of changes repaired may fall short by one while the
		// entries re-installed in Redis are all there.
		n := int64(len(r.ids))
		found := waitFor(t, "B to apply the unannounced writes", 10*opts.ResyncInterval, func() bool {
			st := b.Stats()
			return st.Repaired-before.Repaired >= n || st.RedisRepaired-before.RedisRepaired >= n
		})
		// Wait out the floor on purpose: it is the protection under test.
		time.Sleep(floorTTL + 100*time.Millisecond)
		var served []string
		redisStale := 0
		for _, id := range r.ids {
			var h flagcache.Hit
			var e rediskv.Entry
			waitFor(t, "a read of "+string(id)+" via B and from Redis to answer", 10*time.Second, func() bool {
				var err, rerr error
				h, err = b.GetHit(bg(t), id)
				e, _, rerr = r.cache.Get(bg(t), id)
				return err == nil && rerr == nil // a timeout under load: ask again
			})
			if h.Stored.Version != 2 {
				served = append(served, fmt.Sprintf("%s v%d from %s", id, h.Stored.Version, h.Tier))
			}
			if e.Version != 2 {
				redisStale++
			}
		}
		figure(t, "killed-writer/survivor", "injected", "commit at the source, no Redis update, no invalidation; no reads until the floor lapsed",
			"resync_found_in", found, "stale_served_after_resync", len(served), "redis_stale", redisStale)
		if len(served) > 0 {
			t.Errorf("B applied v2 from the feed, then served an older version %v later: %s", floorTTL, strings.Join(served, "; "))
		}
	})

	t.Run("peers", func(t *testing.T) {
		t.Parallel()
		// Sidecar B survives and resyncs; C is the killed writer restarted.
		src, _ := pgtest.NewStore(t, pgsource.Options{})
		r := newRig(t, src, rigConfig{opts: opts, cacheTTL: time.Minute})
		warm(t, r)
		before := r.stats()
		killed := killedWrite(t, r)
		r.nodes[0].kill() // A was the writer
		r.nodes[0] = r.startSidecar("C")
		fresh, res := observe(t, r, killed, window)
		st := r.stats()
		bound := opts.ResyncInterval + opts.LRUTTL
		figure(t, "killed-writer/peers", "injected", "commit at the source, no Redis update, no invalidation; writer restarted as C",
			"redis_fresh_in", fresh["redis"], "B_fresh_in", fresh["B"], "C_fresh_in", fresh["C"], "all_fresh_in", fresh["all"],
			"bound", bound, "backwards", len(res.violations), "repaired_by_resync", st.Repaired-before.Repaired,
			"redis_repaired", st.RedisRepaired-before.RedisRepaired, "gaps", st.Gaps-before.Gaps, "purges", st.Purges-before.Purges)
		if fresh["all"] > bound+2*time.Second { // slack for a loaded CI machine
			t.Errorf("converged %v after the kill, want within a resync interval and an LRU TTL (%v), +2s", fresh["all"], bound)
		}
	})

	t.Run("alone", func(t *testing.T) {
		t.Parallel()
		// The only sidecar was the writer: after its restart nobody has a
		// baseline older than the lost update, so only Redis's TTL ends it.
		src, _ := pgtest.NewStore(t, pgsource.Options{})
		cacheTTL := 3 * time.Second
		r := newRig(t, src, rigConfig{sidecars: 1, opts: opts, cacheTTL: cacheTTL})
		filled := warm(t, r)
		killed := killedWrite(t, r)
		r.nodes[0].kill()
		r.nodes[0] = r.startSidecar("C")
		fresh, res := observe(t, r, killed, cacheTTL+window)
		st := r.stats()
		bound := cacheTTL + opts.LRUTTL
		figure(t, "killed-writer/alone", "injected", "commit at the source, no Redis update, no invalidation; the only sidecar restarted as C",
			"redis_fresh_in", fresh["redis"], "C_fresh_in", fresh["C"], "bound", bound, "redis_ttl", cacheTTL, "redis_filled_before_kill", killed.Sub(filled),
			"backwards", len(res.violations), "repaired_by_resync", st.Repaired, "redis_repaired", st.RedisRepaired)
		if fresh["all"] > bound+2*time.Second { // slack for a loaded CI machine
			t.Errorf("converged %v after the kill, want within the Redis TTL and an LRU TTL (%v), +2s", fresh["all"], bound)
		}
	})
}

// warm reads every flag through every sidecar, so the LRUs and Redis hold
// v1, and returns when it started (Redis's entries are no older).
func warm(t *testing.T, r *rig) time.Time {
	t.Helper()
	start := time.Now()
	for _, n := range r.nodes {
		for _, id := range r.ids {
			if _, err := n.Get(bg(t), id); err != nil {
				t.Fatalf("warm %s via %s: %v", id, n.name, err)
			}
		}
	}
	r.converge(5 * time.Second) // Redis and every sidecar hold v1
	return start
}

// killedWrite commits v2 of every flag at the source only, and returns
// when it was done.
func killedWrite(t *testing.T, r *rig) time.Time {
	t.Helper()
	for _, id := range r.ids {
		if _, err := r.source.Update(bg(t), flagDef(t, id, true), 1); err != nil {
			t.Fatalf("update %s at the source: %v", id, err)
		}
	}
	return time.Now()
}

// observe reads through every sidecar for the whole window, checking that
// no version goes back, and returns when each part ("redis" and each
// sidecar by name) and then everything ("all") first held the source's
// versions, measured from since. It fails the test if that never happened
// or if a part served a wrong version again afterwards.
func observe(t *testing.T, r *rig, since time.Time, window time.Duration) (map[string]time.Duration, *loadResult) {
	t.Helper()
	l := startLoad(t, r, loadConfig{readers: 4, pace: time.Millisecond})
	fresh := map[string]time.Duration{}
	parts := []string{"redis", "all"}
	for _, n := range r.nodes {
		parts = append(parts, n.name)
	}
	var last []finding
	for time.Since(since) < window {
		last = r.stale()
		at := time.Since(since)
		for _, p := range parts {
			stale, unknown := false, false
			for _, f := range last {
				if p == "all" || f.part == p {
					stale = stale || !f.failed
					unknown = unknown || f.failed
				}
			}
			_, was := fresh[p]
			switch {
			case !stale && !unknown && !was:
				fresh[p] = at
			case stale && was && fresh[p] >= 0:
				t.Errorf("%s stale again at %v after being fresh at %v: %s", p, at.Round(time.Millisecond), fresh[p].Round(time.Millisecond), join(last))
				fresh[p] = -1
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	res := l.stop()
	for i, v := range res.violations {
		if i == 10 {
			break
		}
		t.Errorf("violation: %s", v)
	}
	if _, ok := fresh["all"]; !ok {
		t.Errorf("not converged %v after the fault: %s", window, join(last))
	}
	return fresh, res
}
