package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/testenv"
)

// nemesis drives the schedule: episodes of one to three faults, each held
// for a random while and healed, then nemWindow and a sweep of every flag
// through every endpoint, then the next episode.
type nemesis struct {
	r        *nemRig
	h        *nemHistory
	rng      *rand.Rand // the schedule's only source of randomness
	injected map[string]int
	foreign  int
}

// fault is one kind of fault. inject starts it; heal ends it (for a
// one-off event, heal may do nothing, or finish the event: the lagging
// replica is promoted at heal, after lagging for the whole hold). during,
// if set, runs in the background between the two until stop is closed.
type fault struct {
	name   string
	inject func(n *nemesis)
	during func(n *nemesis, rng *rand.Rand, stop <-chan struct{})
	heal   func(n *nemesis)
}

// disabled names fault kinds switched off, with the reason (a stale read
// found and not fixed yet: see docs/reliability.md and the board). None
// is, since the client's local cache stays monotonic across watch errors
// (postgres-reset, postgres-terminate) and pgsource gives up on half-open
// pooled connections (postgres-blackhole). FLAGCACHE_NEMESIS_ALL=1 runs
// them anyway, to reproduce; FLAGCACHE_NEMESIS_KINDS=a,b runs only the
// kinds named.
var disabled = map[string]string{}

func isDisabled(kind string) bool {
	if only := os.Getenv("FLAGCACHE_NEMESIS_KINDS"); only != "" {
		return !slices.Contains(strings.Split(only, ","), kind)
	}
	_, off := disabled[kind]
	return off && os.Getenv("FLAGCACHE_NEMESIS_ALL") != "1"
}

func disabledKinds() string {
	var names []string
	for _, f := range faults {
		if k := f.name; isDisabled(k) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

var faults = []fault{
	{name: "redis-restart-old-snapshot", inject: func(n *nemesis) {
		// SIGKILL, then start from a snapshot older than the last one.
		snap := n.r.snapshots[n.rng.IntN(max(1, len(n.r.snapshots)-1))]
		n.r.primary.RestartFrom(snap)
	}},
	{name: "replica-promoted-lagging", inject: func(n *nemesis) {
		n.r.replProxy.Blackhole() // the replica stops hearing the primary
	}, heal: func(n *nemesis) {
		r := n.r
		r.primary.Stop()
		if err := r.replica.Promote(); err != nil {
			r.t.Fatalf("promote the replica: %v", err)
		}
		r.redisProxy.SetTarget(r.replica.Addr)
		r.redisProxy.Reset()
		// The old primary comes back as a replica of the new one.
		r.primary.Restart()
		r.replProxy.SetTarget(r.replica.Addr)
		r.replProxy.Heal()
		r.replProxy.Reset()
		if err := r.primary.ReplicaOf(r.replProxy.Addr); err != nil {
			r.t.Fatalf("replicaof: %v", err)
		}
		r.primary, r.replica = r.replica, r.primary
	}},
	{name: "redis-blackhole", inject: func(n *nemesis) { n.r.redisProxy.Blackhole() }, heal: func(n *nemesis) { n.r.redisProxy.Heal() }},
	{name: "redis-delay", inject: func(n *nemesis) {
		n.r.redisProxy.Delay(time.Duration(20+n.rng.IntN(280)) * time.Millisecond)
	}, heal: func(n *nemesis) { n.r.redisProxy.Heal() }},
	{name: "redis-reset", inject: func(n *nemesis) { n.r.redisProxy.Reset() }},
	{name: "pubsub-kill", inject: func(n *nemesis) { n.r.primary.Do("CLIENT", "KILL", "TYPE", "pubsub") }},
	{name: "postgres-blackhole", inject: func(n *nemesis) { n.r.pgProxy.Blackhole() }, heal: func(n *nemesis) { n.r.pgProxy.Heal() }},
	{name: "postgres-delay", inject: func(n *nemesis) {
		n.r.pgProxy.Delay(time.Duration(20+n.rng.IntN(280)) * time.Millisecond)
	}, heal: func(n *nemesis) { n.r.pgProxy.Heal() }},
	{name: "postgres-reset", inject: func(n *nemesis) { n.r.pgProxy.Reset() }},
	{name: "postgres-terminate", inject: func(n *nemesis) { n.terminate() },
		during: func(n *nemesis, rng *rand.Rand, stop <-chan struct{}) {
			for pause(stop, time.Duration(100+rng.IntN(300))*time.Millisecond) {
				n.terminate()
			}
		}},
	{name: "foreign-sql", during: func(n *nemesis, rng *rand.Rand, stop <-chan struct{}) {
		for pause(stop, time.Duration(10+rng.IntN(50))*time.Millisecond) {
			n.foreignWrite(rng)
		}
	}},
	{name: "sidecar-killed-after-commit", inject: func(n *nemesis) {
		// A commit at the source with no Redis update and no
		// invalidation, then the sidecar that made it dies and restarts.
		id := n.r.casIDs[n.rng.IntN(len(n.r.casIDs))]
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		st, err := n.r.truth.Get(ctx, id)
		cancel()
		if err == nil {
			(&nemLoad{r: n.r, h: n.h}).cas(-1, "truth", id, st.Version, n.rng.IntN(2) == 0)
		}
		n.r.killSidecar([]string{"A", "B"}[n.rng.IntN(2)])
	}},
}

// pause waits d or until stop; it reports whether to go on.
func pause(stop <-chan struct{}, d time.Duration) bool {
	select {
	case <-stop:
		return false
	case <-time.After(d):
		return true
	}
}

// run runs episodes for about d and returns how many.
func (n *nemesis) run(d time.Duration) int {
	time.Sleep(nemWindow) // a fault-free start, checked like any window
	n.sweep()
	time.Sleep(nemCheck)
	deadline := time.Now().Add(d)
	episodes := 0
	for time.Now().Before(deadline) {
		n.episode()
		episodes++
		time.Sleep(nemWindow)
		n.sweep()
		time.Sleep(nemCheck) // the load is checked meanwhile
		n.sweep()
	}
	return episodes
}

// episode picks one to three enabled faults, injects them, holds them for
// 0.3–1.5 s, and heals them in reverse order.
func (n *nemesis) episode() {
	var enabled []fault
	for _, f := range faults {
		if !isDisabled(f.name) {
			enabled = append(enabled, f)
		}
	}
	n.rng.Shuffle(len(enabled), func(i, j int) { enabled[i], enabled[j] = enabled[j], enabled[i] })
	chosen := enabled[:min(len(enabled), 1+n.rng.IntN(3))]
	hold := time.Duration(300+n.rng.IntN(1200)) * time.Millisecond
	n.r.snapshot()
	p := faultPeriod{from: n.h.now()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range chosen {
		p.kinds = append(p.kinds, f.name)
		n.injected[f.name]++
		if f.inject != nil {
			f.inject(n)
		}
		if f.during != nil {
			wg.Add(1)
			rng := rand.New(rand.NewPCG(n.rng.Uint64(), 0))
			go func() { defer wg.Done(); f.during(n, rng, stop) }()
		}
	}
	time.Sleep(hold)
	close(stop)
	wg.Wait()
	for i := len(chosen) - 1; i >= 0; i-- {
		if chosen[i].heal != nil {
			chosen[i].heal(n)
		}
	}
	p.to = n.h.now()
	n.h.period(p)
	n.r.t.Logf("nemesis: %v–%v %s", p.from.Round(time.Millisecond), p.to.Round(time.Millisecond), strings.Join(p.kinds, " + "))
}

// terminate ends every Postgres backend of the sidecars.
func (n *nemesis) terminate() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	n.r.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, n.r.app)
}

// foreignWrite updates, deletes or re-inserts one of the foreign flags
// with plain SQL, as another service would, and records the version the
// triggers gave it.
func (n *nemesis) foreignWrite(rng *rand.Rand) {
	id := n.r.foreignIDs[rng.IntN(len(n.r.foreignIDs))]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var version int64
	live := true
	err := n.r.sqlw.QueryRow(ctx, `UPDATE feature_flags SET definition = jsonb_set(definition, '{description}', to_jsonb($2::text))
		WHERE id = $1 RETURNING version`, string(id), fmt.Sprint(rng.Int())).Scan(&version)
	if err == nil && rng.IntN(4) == 0 {
		err = n.r.sqlw.QueryRow(ctx, `DELETE FROM feature_flags WHERE id = $1 RETURNING version + 1`, string(id)).Scan(&version)
		live = false
	}
	if err != nil { // not there: insert it again
		err = n.r.sqlw.QueryRow(ctx, `INSERT INTO feature_flags (id, definition) VALUES ($1::text,
			jsonb_build_object('id', $1::text, 'name', $1::text, 'kind', 'boolean', 'default_value', false,
				'variations', jsonb_build_array(jsonb_build_object('value', true), jsonb_build_object('value', false)),
				'status', 'active')) RETURNING version`, string(id)).Scan(&version)
		live = true
	}
	if err != nil {
		// A foreign write may wait on a row lock a black-holed sidecar
		// transaction still holds; pgx then closes the connection.
		n.r.t.Logf("nemesis: foreign write of %s: %v", id, err)
		if n.r.sqlw.IsClosed() {
			n.r.sqlw = mustPgConn(n.r.t, testenv.PostgresDSN(), n.r.schema)
		}
		return
	}
	n.foreign++
	n.h.source(id, n.h.now(), version, live, "foreign SQL")
}

// sweep reads every flag through every endpoint once.
func (n *nemesis) sweep() {
	var wg sync.WaitGroup
	for _, ep := range n.r.endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range append(append([]flagcache.ID{}, n.r.casIDs...), n.r.foreignIDs...) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				start := n.h.now()
				st, err := n.r.store(ep).Get(ctx, id)
				cancel()
				rd := nemRead{endpoint: ep, id: id, start: start, end: n.h.now(), sweep: true}
				switch {
				case err == nil:
					rd.version = st.Version
				case !isNotFound(err):
					rd.err = err
				}
				n.h.read(rd)
			}
		}()
	}
	wg.Wait()
}

func isNotFound(err error) bool { return errors.Is(err, flagcache.ErrNotFound) }
