package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/flagcache/flagcache"
	"github.com/flagcache/flagcache/internal/linearize"
)

// loadConfig shapes a workload.
type loadConfig struct {
	clients int           // goroutines mixing source reads and read-then-CAS through a sidecar; default 8 if no readers
	ops     int           // ops per client; 0 runs until stop
	readers int           // goroutines doing cached reads only
	pace    time.Duration // pause between two ops of one goroutine; default none
	timeout time.Duration // per op; default 5s
}

// load runs clients against a rig and records what they saw: the history
// of source reads and CAS updates (for porcupine), and every cached read
// (latency, tier, stale marker) with the version it returned.
type load struct {
	r     *rig
	cfg   loadConfig
	base  time.Time
	done  chan struct{}
	gate  sync.RWMutex // pause holds it: clients wait before their next op
	wg    sync.WaitGroup
	mu    sync.Mutex // guards what goroutines merge in when they finish
	res   loadResult
	limit int // violations logged
}

// loadResult is what a load recorded.
type loadResult struct {
	history    []porcupine.Operation
	reads      []readSample
	acked      map[flagcache.ID]int64 // CAS successes acknowledged, per id
	unknown    map[flagcache.ID]int64 // CAS with an unknown outcome, per id
	casOK      int
	conflicts  int
	unknowns   int
	notApplied int // CAS failed before reaching the source (nothing sent)
	srcReads   int
	srcFailed  int
	writeFails []opSample // every failed CAS
	errSample  []string   // a few errors of unknown-outcome CAS
	violations []string   // versions going backwards
}

// opSample is when an op started (since the load's start) and how long it took.
type opSample struct{ at, took time.Duration }

// readSample is one cached read through a sidecar.
type readSample struct {
	id       flagcache.ID
	at, took time.Duration // start, since the load's start
	err      error
	stale    bool
	tier     flagcache.Tier
}

func startLoad(t *testing.T, r *rig, cfg loadConfig) *load {
	t.Helper()
	if cfg.clients == 0 && cfg.readers == 0 {
		cfg.clients = 8
	}
	if cfg.timeout == 0 {
		cfg.timeout = 5 * time.Second
	}
	l := &load{r: r, cfg: cfg, base: time.Now(), done: make(chan struct{}), limit: 20}
	l.res.acked = map[flagcache.ID]int64{}
	l.res.unknown = map[flagcache.ID]int64{}
	for c := range cfg.clients + cfg.readers {
		l.wg.Add(1)
		go l.run(c, c >= cfg.clients)
	}
	return l
}

// now is the load's clock for the history: monotonic nanoseconds.
func (l *load) now() int64 { return int64(time.Since(l.base)) }

// since returns how long the load has been running.
func (l *load) since() time.Duration { return time.Since(l.base) }

// stop ends the load (clients with an op budget finish it) and returns what
// it recorded.
func (l *load) stop() *loadResult {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	return &l.res
}

// pause stops the clients before their next op until resume; it returns
// once the ops in flight have finished.
func (l *load) pause() { l.gate.Lock() }

func (l *load) resume() { l.gate.Unlock() }

// wait waits for clients with an op budget to finish.
func (l *load) wait() *loadResult {
	l.wg.Wait()
	return l.stop()
}

// worker is one goroutine's state; it merges into the load at the end.
type worker struct {
	l      *load
	client int
	rng    *rand.Rand
	seen   []map[flagcache.ID]int64 // highest version seen, per sidecar
	res    loadResult
}

func (l *load) run(client int, readOnly bool) {
	defer l.wg.Done()
	w := &worker{l: l, client: client, rng: rand.New(rand.NewPCG(uint64(client), uint64(l.base.UnixNano())))}
	w.res.acked = map[flagcache.ID]int64{}
	w.res.unknown = map[flagcache.ID]int64{}
	for range l.r.nodes {
		w.seen = append(w.seen, map[flagcache.ID]int64{})
	}
	for op := 0; l.cfg.ops == 0 || op < l.cfg.ops; op++ {
		select {
		case <-l.done:
			if l.cfg.ops == 0 {
				w.merge()
				return
			}
		default:
		}
		w.op(readOnly)
		if l.cfg.pace > 0 {
			time.Sleep(l.cfg.pace)
		}
	}
	w.merge()
}

// op runs one op while holding the pause gate.
func (w *worker) op(readOnly bool) {
	l := w.l
	l.gate.RLock()
	defer l.gate.RUnlock()
	id := l.r.ids[w.rng.IntN(len(l.r.ids))]
	n := w.rng.IntN(len(l.r.nodes))
	switch {
	case readOnly:
		w.cachedRead(n, id)
	case w.rng.IntN(2) == 0:
		w.sourceRead(id)
	default:
		v := w.cachedRead(n, id)
		if v == 0 {
			v = max(w.seen[n][id], 1)
		}
		w.cas(n, id, v)
	}
}

func (w *worker) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), w.l.cfg.timeout)
}

// cachedRead reads id through sidecar n, checks the version did not go
// back, and returns it (0 on error).
func (w *worker) cachedRead(n int, id flagcache.ID) int64 {
	ctx, cancel := w.ctx()
	defer cancel()
	start := w.l.since()
	h, err := w.l.r.nodes[n].GetHit(ctx, id)
	s := readSample{id: id, at: start, took: w.l.since() - start, err: err, stale: h.Stale, tier: h.Tier}
	w.res.reads = append(w.res.reads, s)
	if err != nil {
		return 0
	}
	if prev := w.seen[n][id]; h.Stored.Version < prev {
		w.res.violations = append(w.res.violations, fmt.Sprintf("client %d via sidecar %s: %s went v%d → v%d (tier %s) at %v",
			w.client, w.l.r.nodes[n].name, id, prev, h.Stored.Version, h.Tier, start.Round(time.Millisecond)))
	} else {
		w.seen[n][id] = h.Stored.Version
	}
	return h.Stored.Version
}

// sourceRead reads id at the source: an op of the linearizability history.
func (w *worker) sourceRead(id flagcache.ID) {
	ctx, cancel := w.ctx()
	defer cancel()
	call := w.l.now()
	st, err := w.l.r.source.Get(ctx, id)
	ret := w.l.now()
	if err != nil { // a read that failed observed nothing
		w.res.srcFailed++
		return
	}
	w.res.srcReads++
	w.record(call, ret, linearize.Input{Kind: linearize.Read, ID: id}, linearize.Output{Outcome: linearize.OK, Version: st.Version})
}

// cas updates id through sidecar n, expecting version v.
func (w *worker) cas(n int, id flagcache.ID, v int64) {
	ctx, cancel := w.ctx()
	defer cancel()
	def := flagDef(w.l.r.t, id, w.rng.IntN(2) == 0)
	in := linearize.Input{Kind: linearize.CAS, ID: id, Expected: v}
	call := w.l.now()
	st, err := w.l.r.nodes[n].Update(ctx, def, v)
	ret := w.l.now()
	var conflict *flagcache.VersionConflictError
	switch {
	case err == nil:
		w.res.casOK++
		w.res.acked[id]++
		w.record(call, ret, in, linearize.Output{Outcome: linearize.OK, Version: st.Version})
	case errors.As(err, &conflict):
		w.res.conflicts++
		w.record(call, ret, in, linearize.Output{Outcome: linearize.Conflict, Version: conflict.Actual})
	case notSent(err):
		w.res.notApplied++
		w.res.writeFails = append(w.res.writeFails, opSample{time.Duration(call), time.Duration(ret - call)})
	case errors.Is(err, flagcache.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded):
		w.res.unknowns++
		w.res.unknown[id]++
		if len(w.res.errSample) < 2 {
			w.res.errSample = append(w.res.errSample, err.Error())
		}
		w.res.writeFails = append(w.res.writeFails, opSample{time.Duration(call), time.Duration(ret - call)})
		w.record(call, linearize.NeverReturned, in, linearize.Output{Outcome: linearize.Unknown})
	default:
		w.res.violations = append(w.res.violations, fmt.Sprintf("client %d: CAS %s at v%d: unexpected error %v", w.client, id, v, err))
	}
}

// notSent reports a write that failed before anything reached the
// server: no connection could be made. An error pgx calls safe to retry
// is not enough: the history models such a write as unknown (it may have
// applied, at any point after its call, or never), since a porcupine
// check once failed on a version no recorded CAS could have made.
func notSent(err error) bool {
	var connect *pgconn.ConnectError
	return errors.As(err, &connect)
}

func (w *worker) record(call, ret int64, in linearize.Input, out linearize.Output) {
	w.res.history = append(w.res.history, porcupine.Operation{ClientId: w.client, Input: in, Call: call, Output: out, Return: ret})
}

func (w *worker) merge() {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	r, m := &l.res, &w.res
	r.history = append(r.history, m.history...)
	r.reads = append(r.reads, m.reads...)
	for id, n := range m.acked {
		r.acked[id] += n
	}
	for id, n := range m.unknown {
		r.unknown[id] += n
	}
	r.casOK += m.casOK
	r.conflicts += m.conflicts
	r.unknowns += m.unknowns
	r.notApplied += m.notApplied
	r.srcReads += m.srcReads
	r.srcFailed += m.srcFailed
	r.writeFails = append(r.writeFails, m.writeFails...)
	r.errSample = append(r.errSample, m.errSample...)
	r.violations = append(r.violations, m.violations...)
}

// check runs the checks every scenario shares: no version went backwards,
// the history is linearizable, and the final versions account for every
// acknowledged write. It returns the figures.
func (res *loadResult) check(t *testing.T, r *rig) []any {
	t.Helper()
	for i, v := range res.violations {
		if i == 20 {
			t.Errorf("... and %d more", len(res.violations)-i)
			break
		}
		t.Errorf("violation: %s", v)
	}
	lin, took, pruned := checkLinearizable(t, res.history, scaled(30*time.Second, 120*time.Second))
	lost, doubled, applied := res.checkVersions(t, r)
	failed := 0
	for _, s := range res.reads {
		if s.err != nil {
			failed++
		}
	}
	return []any{"ops", len(res.history), "check", lin, "check_time", took,
		"cas_ok", res.casOK, "conflicts", res.conflicts, "unknown", res.unknowns, "unknown_pruned", pruned, "unknown_applied", applied,
		"not_sent", res.notApplied, "lost", lost, "doubled", doubled,
		"cached_reads", len(res.reads), "read_errors", failed, "backwards", len(res.violations)}
}

// pgPoolSize is the connection pool of every Postgres source in the suite.
const pgPoolSize = 8

// checkVersions: each flag's final version at the source must be 1 + the
// acknowledged CAS successes + the unknown-outcome CAS that applied, which
// are between 0 and the number of unknowns.
func (res *loadResult) checkVersions(t *testing.T, r *rig) (lost, doubled, applied int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range r.ids {
		st, err := r.source.Get(ctx, id)
		for tries := 0; errors.Is(err, flagcache.ErrUnavailable) && tries < pgPoolSize; tries++ {
			// A fault may have left dead connections idle in the source's
			// pool (a terminated backend): each fails the read it is
			// handed once, and the pool then dials anew.
			st, err = r.source.Get(ctx, id)
		}
		if err != nil {
			t.Errorf("final read of %s: %v", id, err)
			continue
		}
		floor := 1 + res.acked[id]
		switch {
		case st.Version < floor:
			lost += floor - st.Version
			t.Errorf("%s: final version v%d < 1 + %d acknowledged CAS: %d acknowledged writes lost", id, st.Version, res.acked[id], floor-st.Version)
		case st.Version > floor+res.unknown[id]:
			doubled += st.Version - floor - res.unknown[id]
			t.Errorf("%s: final version v%d > 1 + %d acknowledged + %d unknown: a write applied twice", id, st.Version, res.acked[id], res.unknown[id])
		default:
			applied += st.Version - floor
		}
	}
	return lost, doubled, applied
}

// latencies returns the p50, p99 and max of the cached reads started in
// [from, to), and how many there were and failed.
func (res *loadResult) latencies(from, to time.Duration) (p50, p99, maxi time.Duration, n, failed int) {
	var ds []time.Duration
	for _, s := range res.reads {
		if s.at >= from && s.at < to {
			ds = append(ds, s.took)
			if s.err != nil {
				failed++
			}
		}
	}
	p50, p99, maxi = percentiles(ds)
	return p50, p99, maxi, len(ds), failed
}

// tiers counts the cached reads started in [from, to) that succeeded, by
// the tier that served them.
func (res *loadResult) tiers(from, to time.Duration) map[flagcache.Tier]int {
	out := map[flagcache.Tier]int{}
	for _, s := range res.reads {
		if s.at >= from && s.at < to && s.err == nil {
			out[s.tier]++
		}
	}
	return out
}

// failedWrites returns the p50, p99 and max latency of the CAS that failed
// (other than by a conflict) and started in [from, to), and how many.
func (res *loadResult) failedWrites(from, to time.Duration) (p50, p99, maxi time.Duration, n int) {
	var ds []time.Duration
	for _, s := range res.writeFails {
		if s.at >= from && s.at < to {
			ds = append(ds, s.took)
		}
	}
	p50, p99, maxi = percentiles(ds)
	return p50, p99, maxi, len(ds)
}

func percentiles(ds []time.Duration) (p50, p99, maxi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}
