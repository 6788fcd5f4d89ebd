package tiered

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flagcache/flagcache"
)

// A read of the source can hang on a connection a fault left dead: a black
// hole that healed leaves the connections it swallowed half-open, and a
// call on one waits out its whole deadline (LoadTimeout) while the source
// answers every new connection at once. Every write the sidecar should
// apply meanwhile waits with it — a repair, the watch streams' feed read.
//
// The guard makes that impossible for every read the Store makes of its
// source: a read waiting longer than stuckAfter makes it probe the source
// on a connection of its own (the source's Prober: only a source that
// implements it is guarded), and when a probe begun after the read
// answers in a quarter of the time the read has waited, the read is cut
// and made again — on a new connection, since the source is then told
// that its connections are suspect. Listening to the source's
// notifications again is the same evidence (syncer.watchSource).
//
// A read that is merely slow while the source answers quick probes may be
// cut too, but once at most (maxCuts), and rounds of cuts come at least
// cutRounds apart; then it runs to its own deadline. Writes are not guarded:
// cutting one would leave its outcome unknown.
type guard struct {
	probe      func(context.Context) error
	suspect    func() // the source's Prober.Suspect, or nil
	stuckAfter time.Duration
	// probeTimeout bounds one probe: one that lands on a dead connection
	// is given up in time for the next to see the heal.
	probeTimeout time.Duration
	cuts         atomic.Int64 // reads cut short, for Stats

	mu      sync.Mutex
	calls   map[*guardedCall]struct{} // reads in flight
	probing bool
	closed  bool
	lastCut time.Time // the last round of cuts
}

// guardedCall is one attempt of a guarded read.
type guardedCall struct {
	start  time.Time
	wait   time.Duration // stuck once it waited this long
	cancel context.CancelCauseFunc
	timer  *time.Timer // checks for it at wait
}

// errStuck is the cause of a guarded read's context when the guard cut
// it.
var errStuck = errors.New("tiered: a source read waited on a dead connection while the source answered others; made again")

const (
	// stuckAfter: a source read waiting longer makes the guard probe. A
	// change-feed page or a flag read answers within milliseconds.
	stuckAfter = 200 * time.Millisecond
	// maxCuts bounds how often one read is cut and made again: a read on
	// a dead connection answers once made again on a new one; one cut
	// again was slow, not stuck, and cutting it more would only throw
	// its work away again.
	maxCuts = 1
	// cutRounds is the least time between two rounds of cuts. Under a
	// source starved of CPU an expensive read can wait four times as long
	// as a trivial probe without being stuck: rounds of cuts (each
	// resetting the pool) would add to the load that made it slow.
	cutRounds = time.Second
)

// newGuard returns the guard of source's reads: nil (no guard) unless
// the source is a Prober. A source without connections (bbolt, memory)
// cannot be stuck on a dead one, and one of its reads that is merely long
// (a List of 100,000 flags) must not be cut and made again.
func newGuard(source flagcache.Store) *guard {
	p, ok := source.(Prober)
	if !ok {
		return nil
	}
	return &guard{probe: p.Probe, suspect: p.Suspect, stuckAfter: stuckAfter, probeTimeout: 2 * stuckAfter, calls: map[*guardedCall]struct{}{}}
}

// guarded runs the source read call under g (see guard).
func guarded[T any](g *guard, ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	for cuts := 0; ; cuts++ {
		cctx, cancel := context.WithCancelCause(ctx)
		c := &guardedCall{start: time.Now(), wait: g.stuckAfter, cancel: cancel}
		if cuts == maxCuts {
			c.wait = 0 // not cut again
		}
		g.begin(c)
		v, err := call(cctx)
		g.end(c)
		cut := err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errStuck)
		cancel(nil)
		if !cut {
			return v, err
		}
		g.cuts.Add(1)
	}
}

func (g *guard) begin(c *guardedCall) {
	g.mu.Lock()
	g.calls[c] = struct{}{}
	g.mu.Unlock()
	if c.wait > 0 {
		c.timer = time.AfterFunc(c.wait, g.check)
	}
}

func (g *guard) end(c *guardedCall) {
	if c.timer != nil {
		c.timer.Stop()
	}
	g.mu.Lock()
	delete(g.calls, c)
	g.mu.Unlock()
}

// stuckLocked reports whether a read in flight has waited past its
// bound. g.mu is held.
func (g *guard) stuckLocked(now time.Time) bool {
	for c := range g.calls {
		if c.wait > 0 && now.Sub(c.start) >= c.wait {
			return true
		}
	}
	return false
}

// check starts the probing if a read is stuck and no probe runs.
func (g *guard) check() {
	g.mu.Lock()
	start := !g.probing && !g.closed && g.stuckLocked(time.Now())
	if start {
		g.probing = true
	}
	g.mu.Unlock()
	if start {
		go g.probeLoop()
	}
}

// probeLoop probes while a read is stuck, a stuckAfter apart.
func (g *guard) probeLoop() {
	for {
		g.mu.Lock()
		if g.closed || !g.stuckLocked(time.Now()) {
			g.probing = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), g.probeTimeout)
		err := g.probe(ctx)
		cancel()
		if err == nil {
			g.answered(start, time.Since(start))
		}
		time.Sleep(g.stuckAfter) // a probe costs the source a connection: pace them
	}
}

// answered records that the source answered a call begun at start in
// took: every read begun before it that has waited past its bound, and
// four times as long as that answer took, is cut. A source that is only
// slow (loaded, or behind a slow network) answers a probe — a connection
// and a query — no faster than a read on a connection it has; a read
// waiting much longer than a probe took is waiting on a dead connection.
func (g *guard) answered(start time.Time, took time.Duration) {
	if g == nil {
		return
	}
	now := time.Now()
	cut := false
	g.mu.Lock()
	if now.Sub(g.lastCut) < cutRounds {
		g.mu.Unlock()
		return
	}
	for c := range g.calls {
		waited := now.Sub(c.start)
		if c.wait > 0 && c.start.Before(start) && waited >= c.wait && waited >= 4*took {
			c.cancel(errStuck)
			cut = true
		}
	}
	if cut {
		g.lastCut = now
	}
	g.mu.Unlock()
	if cut && g.suspect != nil {
		g.suspect()
	}
}

// cutCount returns how many reads were cut.
func (g *guard) cutCount() int64 {
	if g == nil {
		return 0
	}
	return g.cuts.Load()
}

// close stops the probing for good.
func (g *guard) close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Prober is implemented by sources that can tell, cheaply, whether a call
// begun now reaches them over a connection no earlier call holds
// (pgsource.Store). Probe answers that; Suspect is called when a read was
// cut because a probe answered while it waited: the connections the
// source holds are suspect (a fault may have left them all dead), and a
// pooling source should drop them, so the read made again dials anew.
type Prober interface {
	Probe(ctx context.Context) error
	Suspect()
}
