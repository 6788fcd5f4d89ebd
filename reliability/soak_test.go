package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/pgtest"
	"github.com/flagcache/flagcache/pgsource"
)

// Slack of the leak checks. After the load, connection pools may hold a
// few more (or fewer) idle connections than after the warm-up: go-redis
// keeps up to 10 per CPU per client, pgx up to MaxConns. Once everything
// is closed, the process must be back where it started, give or take a
// goroutine still on its way out.
const (
	soakGoroutineSlack = 8
	soakFDSlack        = 8
	closedSlack        = 2
)

// TestSoak runs two sidecars on Postgres and a private Redis under a
// read/write load for minutes (FLAGCACHE_FAULTS=full; about 10 s
// otherwise), killing and restarting Redis every 20 s (3 s in the short
// version). It samples goroutines, open file descriptors and the heap
// before the rig starts, after a warm-up, at the end of the load, once the
// load has stopped and things settled, and after the rig is closed. It
// fails if goroutines or descriptors stay above the warm-up's (plus a
// small slack) after the load, or above the start's once everything is
// closed, or if a reader saw a version go backwards.
func TestSoak(t *testing.T) {
	duration := scaled(10*time.Second, 3*time.Minute)
	every, down := scaled(3*time.Second, 20*time.Second), scaled(300*time.Millisecond, time.Second)
	start := sampleResources()
	var warm, end, settled resources
	var settledIn time.Duration
	t.Run("load", func(t *testing.T) {
		src, _ := pgtest.NewStore(t, pgsource.Options{MaxConns: pgPoolSize})
		r := newRig(t, src, rigConfig{})
		warmup := startSoakLoad(r, 8)
		time.Sleep(scaled(2*time.Second, 10*time.Second))
		warmup.stop()
		warm = sampleResources()

		l := startSoakLoad(r, 8)
		began, restarts := time.Now(), 0
		for {
			left := duration - time.Since(began)
			if left <= every/2 {
				time.Sleep(max(left, 0))
				break
			}
			time.Sleep(every - down)
			r.redis.Stop()
			time.Sleep(down)
			r.redis.Restart()
			restarts++
		}
		end = sampleResources()
		res := l.stop()
		conv := r.converge(10 * time.Second)
		settledIn, settled = settle(t, "after the load", warm, soakGoroutineSlack, soakFDSlack, 15*time.Second)
		if res.backwards.Load() > 0 {
			t.Errorf("%d reads saw a version go backwards; first: %s", res.backwards.Load(), res.firstBackwards)
		}
		figure(t, "soak-load", "duration", time.Since(began), "redis_restarts", restarts, "reads", res.reads.Load(),
			"read_errors", res.readErrors.Load(), "writes_ok", res.writes.Load(), "conflicts", res.conflicts.Load(),
			"write_errors", res.writeErrors.Load(), "backwards", res.backwards.Load(), "converged_in", conv)
	})
	closedIn, closed := settle(t, "after closing the rig", start, closedSlack, closedSlack, 15*time.Second)
	figure(t, "soak", "goroutines", fmt.Sprintf("%d/%d/%d/%d/%d", start.goroutines, warm.goroutines, end.goroutines, settled.goroutines, closed.goroutines),
		"fds", fmt.Sprintf("%d/%d/%d/%d/%d", start.fds, warm.fds, end.fds, settled.fds, closed.fds),
		"heap_inuse_MiB", fmt.Sprintf("%.1f/%.1f/%.1f/%.1f/%.1f", start.heapMiB(), warm.heapMiB(), end.heapMiB(), settled.heapMiB(), closed.heapMiB()),
		"order", "start/warm/end/settled/closed", "settled_in", settledIn, "closed_in", closedIn)
}

// resources is a sample of what a leak would grow.
type resources struct {
	goroutines int
	fds        int
	heapInuse  uint64 // after a GC
}

func (r resources) heapMiB() float64 { return float64(r.heapInuse) / (1 << 20) }

func sampleResources() resources {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds := -1
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		fds = len(entries)
	}
	return resources{goroutines: runtime.NumGoroutine(), fds: fds, heapInuse: m.HeapInuse}
}

// settle polls until goroutines and descriptors are within slack of base,
// failing the test after bound, and returns how long it took and the last
// sample.
func settle(t *testing.T, when string, base resources, gSlack, fdSlack int, bound time.Duration) (time.Duration, resources) {
	t.Helper()
	began := time.Now()
	for {
		now := sampleResources()
		if now.goroutines <= base.goroutines+gSlack && now.fds <= base.fds+fdSlack {
			return time.Since(began), now
		}
		if time.Since(began) > bound {
			buf := make([]byte, 1<<20)
			t.Errorf("%s: %d goroutines and %d open files %v later, want at most %d+%d and %d+%d; goroutines:\n%s",
				when, now.goroutines, now.fds, bound, base.goroutines, gSlack, base.fds, fdSlack, buf[:runtime.Stack(buf, true)])
			return time.Since(began), now
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// soakLoad is a light read/write load that keeps counters only, so the
// heap it leaves behind is the system's: each client reads a random flag
// through a random sidecar and, one time in four, updates it with the
// version it read as the expected one.
type soakLoad struct {
	done chan struct{}
	wg   sync.WaitGroup

	reads, readErrors, writes, conflicts, writeErrors, backwards atomic.Int64
	mu                                                           sync.Mutex
	firstBackwards                                               string
}

func startSoakLoad(r *rig, clients int) *soakLoad {
	l := &soakLoad{done: make(chan struct{})}
	for c := range clients {
		l.wg.Add(1)
		go l.run(r, c)
	}
	return l
}

func (l *soakLoad) stop() *soakLoad {
	close(l.done)
	l.wg.Wait()
	return l
}

func (l *soakLoad) run(r *rig, client int) {
	defer l.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(client), uint64(time.Now().UnixNano())))
	seen := make([]map[flagcache.ID]int64, len(r.nodes))
	for i := range seen {
		seen[i] = map[flagcache.ID]int64{}
	}
	for {
		select {
		case <-l.done:
			return
		default:
		}
		id, n := r.ids[rng.IntN(len(r.ids))], rng.IntN(len(r.nodes))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		h, err := r.nodes[n].GetHit(ctx, id)
		l.reads.Add(1)
		switch {
		case err != nil:
			l.readErrors.Add(1)
		case h.Stored.Version < seen[n][id]:
			if l.backwards.Add(1) == 1 {
				l.mu.Lock()
				l.firstBackwards = fmt.Sprintf("client %d via %s: %s v%d → v%d (tier %s)", client, r.nodes[n].name, id, seen[n][id], h.Stored.Version, h.Tier)
				l.mu.Unlock()
			}
		default:
			seen[n][id] = h.Stored.Version
			if rng.IntN(4) == 0 {
				_, err := r.nodes[n].Update(ctx, flagDef(r.t, id, rng.IntN(2) == 0), h.Stored.Version)
				var conflict *flagcache.VersionConflictError
				switch {
				case err == nil:
					l.writes.Add(1)
				case errors.As(err, &conflict):
					l.conflicts.Add(1)
				default:
					l.writeErrors.Add(1)
				}
			}
		}
		cancel()
		time.Sleep(time.Millisecond)
	}
}
