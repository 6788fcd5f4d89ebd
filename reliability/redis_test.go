package reliability_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/internal/redistest"
	"github.com/flagcache/flagcache/pgsource"
)

// Redis is SIGKILLed and restarted (with its append-only file) again and
// again while clients read and write: no read or write fails, the history
// stays linearizable, and afterwards Redis and every sidecar hold the
// source's versions.
func TestRedisKilledAndRestarted(t *testing.T) {
	src, _ := pgtest.NewStore(t, pgsource.Options{MaxConns: pgPoolSize})
	r := newRig(t, src, rigConfig{persist: true})
	cycles, down := scaled(3, 10), scaled(300*time.Millisecond, time.Second)
	l := startLoad(t, r, loadConfig{clients: 8, pace: time.Millisecond})
	var outage time.Duration
	for range cycles {
		time.Sleep(down) // Redis up: the clients work
		r.redis.Stop()
		start := time.Now()
		time.Sleep(down) // the outage
		r.redis.Restart()
		outage += time.Since(start)
	}
	res := l.stop()
	figs := res.check(t, r)
	conv := r.converge(10 * time.Second)
	p50, p99, maxi, _, _ := res.latencies(0, l.since())
	if res.unknowns+res.notApplied > 0 {
		t.Errorf("%d writes failed, want 0: Redis is not on the write's critical path", res.unknowns+res.notApplied)
	}
	figure(t, "redis-restarts", append(append([]any{"injected", fmt.Sprintf("%d× SIGKILL + restart, %v down each", cycles, down), "outage", outage}, figs...),
		append([]any{"read_p50", p50, "read_p99", p99, "read_max", maxi, "converged_in", conv}, statsFigures(r.stats())...)...)...)
	failedReads(t, res)
}

// Redis is frozen with SIGSTOP: connections stay open and calls time out
// instead of failing fast. The breaker must keep the sidecars off it: while
// it is paused, each sidecar makes at most the calls that open the breaker,
// the ones already in flight, and one probe per BreakerCooldown — not one
// per read. Reads keep being served, from the LRU or the source; writes
// succeed at the source. (Latency is measured, not asserted: on a loaded
// machine a timing bound fails for reasons that are not the sidecar's.)
func TestRedisPaused(t *testing.T) {
	src, _ := pgtest.NewStore(t, pgsource.Options{MaxConns: pgPoolSize})
	opts := suiteOptions()
	opts.LRUSize, opts.LRUShards = 4, 1 // most reads miss the LRU and ask Redis
	opts.BreakerFailures = 3            // the default, named for the bound
	r := newRig(t, src, rigConfig{opts: opts, keys: 64})
	pid := redisPID(t, r.redis)
	pause := scaled(2*time.Second, 10*time.Second)
	lc := loadConfig{clients: 4, readers: 4, pace: time.Millisecond}
	l := startLoad(t, r, lc)
	time.Sleep(time.Second) // a baseline
	before := r.stats()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP redis-server %d: %v", pid, err)
	}
	// The signal is delivered asynchronously: reads count as "during"
	// once no thread of the server runs.
	waitFor(t, "redis-server to stop", 5*time.Second, func() bool { return processStopped(pid) })
	from := l.since()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	time.Sleep(pause)
	to := l.since()
	during := r.stats()
	resume()
	time.Sleep(time.Second) // after
	res := l.stop()
	figs := res.check(t, r)
	conv := r.converge(10 * time.Second)

	// Every call made while Redis is stopped fails, so the failures are
	// the calls. Per sidecar: the BreakerFailures that open the breaker,
	// one per load goroutine (and one for the sidecar's own Redis repair)
	// already waiting on Redis then, and a probe per cooldown. Without
	// the breaker every read that misses the LRU would wait out its own
	// timeout: 4× more in the short run, 10× in the full one.
	calls := during.RedisErrors - before.RedisErrors
	probes := int64(pause/opts.BreakerCooldown) + 1
	bound := int64(len(r.nodes)) * (int64(opts.BreakerFailures+lc.clients+lc.readers+1) + probes)
	b50, b99, bmax, _, _ := res.latencies(0, from)
	p50, p99, maxi, n, failed := res.latencies(from, to)
	tiers := res.tiers(from, to)
	figure(t, "redis-paused", append(append([]any{"injected", "SIGSTOP " + pause.String(), "reads_during", n, "failed_during", failed,
		"served_during", tiers, "redis_calls_during", calls, "redis_calls_bound", bound,
		"p50_during", p50, "p99_during", p99, "max_during", maxi, "p50_before", b50, "p99_before", b99, "max_before", bmax}, figs...),
		append([]any{"converged_in", conv}, statsFigures(r.stats())...)...)...)
	if failed > 0 {
		t.Errorf("%d reads failed while Redis was paused, want 0", failed)
	}
	if calls > bound {
		t.Errorf("%d Redis calls failed while Redis was paused, want ≤ %d: the breaker did not keep the sidecars off it", calls, bound)
	}
	if tiers[flagcache.TierRedis] > 0 {
		t.Errorf("%d reads started while Redis was paused were served from Redis", tiers[flagcache.TierRedis])
	}
	if n == 0 || tiers[flagcache.TierSource] == 0 {
		t.Errorf("reads while Redis was paused: %d, by tier %v; want reads served from the source", n, tiers)
	}
	if res.unknowns+res.notApplied > 0 {
		t.Errorf("%d writes failed, want 0", res.unknowns+res.notApplied)
	}
	failedReads(t, res)
}

// The sidecars' pub/sub connections are killed (CLIENT KILL TYPE pubsub)
// again and again while clients write, so invalidations are lost while
// go-redis re-subscribes. After each re-subscription the sidecars repair
// from the change feed — the periodic resync is off here, so nothing else
// could — and serve no stale value.
func TestPubSubKilled(t *testing.T) {
	src, _ := pgtest.NewStore(t, pgsource.Options{MaxConns: pgPoolSize})
	opts := suiteOptions()
	opts.ResyncInterval = -1
	r := newRig(t, src, rigConfig{opts: opts})
	kills := scaled(5, 20)
	admin := r.redis.Client()
	l := startLoad(t, r, loadConfig{clients: 8, pace: time.Millisecond})
	var convs []time.Duration
	for range kills {
		time.Sleep(200 * time.Millisecond) // writes with a live bus
		gaps := make([]int64, len(r.nodes))
		for i, n := range r.nodes {
			gaps[i] = n.Stats().Gaps
		}
		if err := admin.Do(bg(t), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
		}
		waitFor(t, "every sidecar to notice its subscription died", 10*time.Second, func() bool {
			for i, n := range r.nodes {
				if n.Stats().Gaps == gaps[i] {
					return false
				}
			}
			return true
		})
		// Writes published while the sidecars re-subscribed are lost; with
		// the writers paused, every sidecar must catch up from the feed.
		l.pause()
		convs = append(convs, r.converge(5*time.Second))
		l.resume()
	}
	res := l.stop()
	figs := res.check(t, r)
	st := r.stats()
	slices.Sort(convs)
	lost := st.InvalidationsSent*int64(len(r.nodes)) - st.InvalidationsReceived
	figure(t, "pubsub-killed", append(append([]any{"injected", fmt.Sprintf("%d× CLIENT KILL TYPE pubsub during writes", kills),
		"invalidations_lost", lost, "converged_median", convs[len(convs)/2], "converged_max", convs[len(convs)-1]}, figs...),
		statsFigures(st)...)...)
	if st.Purges != 0 {
		t.Errorf("%d LRU purges, want 0: gaps are repaired from the change feed", st.Purges)
	}
	failedReads(t, res)
}

// failedReads fails the test for every cached read that failed.
func failedReads(t *testing.T, res *loadResult) {
	t.Helper()
	var errs []string
	for _, s := range res.reads {
		if s.err != nil {
			errs = append(errs, fmt.Sprintf("at %v: %v", s.at.Round(time.Millisecond), s.err))
		}
	}
	if len(errs) > 0 {
		t.Errorf("%d of %d cached reads failed, want 0; first: %s", len(errs), len(res.reads), strings.Join(errs[:min(5, len(errs))], "; "))
	}
}

// redisPID asks the server for its process id.
// processStopped reports whether every thread of pid is stopped
// (state T in /proc/<pid>/task/*/stat).
func processStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}

func redisPID(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	info, err := srv.Client().Info(bg(t), "server").Result()
	if err != nil {
		t.Fatalf("INFO server: %v", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("process_id %q: %v", v, err)
			}
			return pid
		}
	}
	t.Fatalf("no process_id in INFO server")
	return 0
}
