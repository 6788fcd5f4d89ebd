package reliability_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/rediskv"
	"github.com/flagcache/flagcache/tiered"
)

// full reports whether the full figures were asked for
// (FLAGCACHE_FAULTS=full, as `make test-faults` sets); otherwise every
// scenario runs its short version.
func full() bool { return os.Getenv("FLAGCACHE_FAULTS") == "full" && !testing.Short() }

// scaled returns short, or long when the full figures were asked for.
func scaled[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

// figure logs a scenario's figures as one line: "FIGURE <scenario> | k=v ...".
func figure(t *testing.T, scenario string, kv ...any) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "FIGURE %s |", scenario)
	for i := 0; i+1 < len(kv); i += 2 {
		v := kv[i+1]
		if d, ok := v.(time.Duration); ok {
			v = roundDuration(d)
		}
		fmt.Fprintf(&b, " %v=%v", kv[i], v)
	}
	t.Log(b.String())
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

// The options every sidecar of the suite starts from: production defaults
// except for a resync every second (so a write nobody announced is found
// within a test's patience) and a faster breaker probe.
func suiteOptions() tiered.Options {
	return tiered.Options{
		CacheTimeout:    100 * time.Millisecond, // the default, named for the bounds
		ResyncInterval:  time.Second,
		LoadTimeout:     2 * time.Second,
		BreakerCooldown: 200 * time.Millisecond,
		Logger:          slog.New(slog.DiscardHandler), // outages log a line per call
	}
}

// sidecar is one tiered.Store with its own Redis connections.
type sidecar struct {
	*tiered.Store
	name   string
	client *redis.Client
	once   sync.Once
}

// kill stops the sidecar (its LRU, subscription and connections go).
func (n *sidecar) kill() {
	n.once.Do(func() {
		n.Close()
		n.client.Close()
	})
}

// rig is the system under test: sidecars on one source and one private
// redis-server, and the flags the clients work on.
type rig struct {
	t      *testing.T
	source flagcache.Store // the source of truth, read directly for the truth
	redis  *redistest.Server
	cache  *rediskv.Cache // reads Redis directly, as no sidecar would
	nodes  []*sidecar
	ids    []flagcache.ID
	cfg    rigConfig
}

type rigConfig struct {
	sidecars int            // default 2
	keys     int            // default 16
	persist  bool           // Redis keeps its data across restarts
	opts     tiered.Options // default suiteOptions()
	cacheTTL time.Duration  // Redis entry TTL; default rediskv's (10 min)
	health   time.Duration  // subscriber health ping; default 200ms
}

const prefix = "rel"

// newRig starts a private Redis, creates cfg.keys flags at version 1 in
// source, and starts the sidecars, each subscribed to invalidations.
func newRig(t *testing.T, source flagcache.Store, cfg rigConfig) *rig {
	t.Helper()
	if cfg.sidecars == 0 {
		cfg.sidecars = 2
	}
	if cfg.keys == 0 {
		cfg.keys = 16
	}
	if cfg.health == 0 {
		cfg.health = 200 * time.Millisecond
	}
	if cfg.opts == (tiered.Options{}) {
		cfg.opts = suiteOptions()
	}
	r := &rig{t: t, source: source, cfg: cfg}
	r.redis = redistest.Start(t, redistest.Options{Persist: cfg.persist})
	r.cache = r.newCache(r.redis.Client())
	for i := range cfg.keys {
		id := flagcache.ID(fmt.Sprintf("flag-%02d", i))
		if _, err := source.Create(bg(t), flagDef(t, id, false)); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		r.ids = append(r.ids, id)
	}
	for i := range cfg.sidecars {
		r.nodes = append(r.nodes, r.startSidecar(string(rune('A'+i))))
	}
	return r
}

func (r *rig) newCache(c redis.UniversalClient) *rediskv.Cache {
	return rediskv.NewCache(c, rediskv.CacheOptions{Prefix: prefix + ":cache", TTL: r.cfg.cacheTTL})
}

// startSidecar starts one more sidecar on the rig's source and Redis,
// stopped when the test ends.
func (r *rig) startSidecar(name string) *sidecar {
	r.t.Helper()
	client := redis.NewClient(redistest.FastOptions(r.redis.Addr))
	opts := r.cfg.opts
	opts.Redis = tiered.RedisOptions{
		Client: client, Prefix: prefix + ":cache", TTL: r.cfg.cacheTTL,
		Channel: prefix + ":inv", HealthInterval: r.cfg.health,
	}
	opts.Origin = name
	n := &sidecar{Store: tiered.New(r.source, opts), name: name, client: client}
	r.t.Cleanup(n.kill)
	if !n.Stats().Subscribed {
		r.t.Fatalf("sidecar %s: not subscribed to the invalidations", name)
	}
	return n
}

// finding is one part — "redis", a sidecar by name, or "source" — not
// known to hold the source's version of one id.
type finding struct {
	part, msg string
	failed    bool // the check failed (a timeout under load): neither known stale nor fresh
}

func (f finding) String() string { return f.part + " " + f.msg }

// stale lists what does not hold the source's version of every id: a
// sidecar serving another version, or Redis holding another entry, and
// the checks that failed. An id missing from Redis is not stale: the next
// read fills it.
func (r *rig) stale() []finding {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []finding
	for _, id := range r.ids {
		want, err := r.source.Get(ctx, id)
		if err != nil {
			return append(out, finding{"source", fmt.Sprintf("%s: %v", id, err), true})
		}
		if e, ok, err := r.cache.Get(ctx, id); err != nil {
			out = append(out, finding{"redis", fmt.Sprintf("%s: %v", id, err), true})
		} else if ok && e.Version != want.Version {
			out = append(out, finding{"redis", fmt.Sprintf("%s: v%d, source v%d", id, e.Version, want.Version), false})
		}
		for _, n := range r.nodes {
			h, err := n.GetHit(ctx, id)
			switch {
			case err != nil:
				out = append(out, finding{n.name, fmt.Sprintf("%s: %v", id, err), true})
			case h.Stored.Version != want.Version:
				out = append(out, finding{n.name, fmt.Sprintf("%s: v%d from %s, source v%d", id, h.Stored.Version, h.Tier, want.Version), false})
			}
		}
	}
	return out
}

func join(fs []finding) string {
	var b strings.Builder
	for i, f := range fs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}

// redisVersions returns the version Redis holds of every id (0: none).
func (r *rig) redisVersions() map[flagcache.ID]int64 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[flagcache.ID]int64{}
	for _, id := range r.ids {
		e, ok, err := r.cache.Get(ctx, id)
		for tries := 0; err != nil && tries < 10; tries++ {
			// A 100 ms read can time out on a loaded machine: ask again.
			e, ok, err = r.cache.Get(ctx, id)
		}
		if err != nil {
			r.t.Fatalf("redis %s: %v", id, err)
		}
		if ok {
			out[id] = e.Version
		}
	}
	return out
}

// converge polls until every sidecar serves, and Redis holds, the source's
// version of every id, and returns how long that took. It fails the test
// if that takes longer than bound.
func (r *rig) converge(bound time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	for {
		stale := r.stale()
		if len(stale) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > bound {
			r.t.Errorf("still stale %v after the faults ended (bound %v): %s", time.Since(start).Round(time.Millisecond), bound, join(stale))
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stats sums the sidecars' counters.
func (r *rig) stats() tiered.Stats {
	var sum tiered.Stats
	for _, n := range r.nodes {
		sum = addStats(sum, n.Stats())
	}
	return sum
}

// addStats returns the counters of sum and s added.
func addStats(sum, s tiered.Stats) tiered.Stats {
	sum.LRUHits += s.LRUHits
	sum.LRUMisses += s.LRUMisses
	sum.RedisHits += s.RedisHits
	sum.RedisMisses += s.RedisMisses
	sum.SourceLoads += s.SourceLoads
	sum.Shared += s.Shared
	sum.InvalidationsSent += s.InvalidationsSent
	sum.InvalidationsReceived += s.InvalidationsReceived
	sum.Gaps += s.Gaps
	sum.Repaired += s.Repaired
	sum.Purges += s.Purges
	sum.StaleServed += s.StaleServed
	sum.RedisErrors += s.RedisErrors
	sum.RedisRepaired += s.RedisRepaired
	sum.LRULen += s.LRULen
	sum.Notifications += s.Notifications
	sum.ReadsCut += s.ReadsCut
	sum.RepairFailures += s.RepairFailures
	return sum
}

// statsFigures are the counters every figure line ends with.
func statsFigures(s tiered.Stats) []any {
	return []any{"gaps", s.Gaps, "repaired", s.Repaired, "purges", s.Purges,
		"redis_errors", s.RedisErrors, "redis_repaired", s.RedisRepaired, "stale_served", s.StaleServed,
		"inv_sent", s.InvalidationsSent, "inv_received", s.InvalidationsReceived}
}

func flagDef(tb testing.TB, id flagcache.ID, on bool) *flagcache.Definition {
	tb.Helper()
	d, err := flagcache.NewBoolean(id, string(id), on)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test after bound.
func waitFor(t *testing.T, what string, bound time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > bound {
			t.Fatalf("timed out after %v waiting for %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}
