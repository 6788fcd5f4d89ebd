package main

import (
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/flagcache/flagcache/internal/config"
)

// The Go GC lets the heap grow by GOGC percent of the live heap between
// collections. At the default of 100 that is wrong at both ends for a
// sidecar: one caching 100,000 flags holds about 125 MiB live and takes
// twice that, while a small one is collected every few MiB of request
// garbage, each cycle marking its whole heap again. So, unless the user
// set GOGC or GOMEMLIMIT (then the runtime paces as they asked), serve
// sets GOGC itself after every collection: runtime.gc_percent of the live
// heap, but at least runtime.gc_min_headroom_bytes of it
// (docs/benchmarks.md, session 5).

// gcPacing reports whether serve paces the GC: not when GOGC or
// GOMEMLIMIT is set in the environment, whose values always win.
func gcPacing(getenv func(string) string) (bool, string) {
	for _, v := range []string{"GOGC", "GOMEMLIMIT"} {
		if getenv(v) != "" {
			return false, v
		}
	}
	return true, ""
}

// gcPercentFor is the GOGC that lets a heap of live bytes grow by percent
// of it and by at least minHeadroom bytes, but by no more than
// maxGCPercentFactor × percent: the pacer sets GOGC only once a
// collection's sweep is done, from the live heap that collection left,
// so a heap growing fast (a bulk load) meets the next collection with the
// GOGC of a smaller heap.
func gcPercentFor(live int64, percent int, minHeadroom int64) int {
	if live <= 0 || minHeadroom <= 0 {
		return percent
	}
	q := minHeadroom / live // minHeadroom*100/live, without overflow
	if q >= math.MaxInt32/100 {
		return percent * maxGCPercentFactor
	}
	return min(max(percent, int(q*100+minHeadroom%live*100/live)), percent*maxGCPercentFactor)
}

const maxGCPercentFactor = 4

// gcPacer sets GOGC after every collection (from a cleanup of an object
// that each cycle frees) until stopped.
type gcPacer struct {
	percent     int
	minHeadroom int64

	mu      sync.Mutex
	stopped bool
	set     int // the GOGC set last
	was     int // GOGC before the pacer began
	sample  []metrics.Sample
}

// gcSentinel is freed by every collection: its cleanup runs the pacer.
// Big enough not to share a tiny-allocator block (whose cleanups may not
// run).
type gcSentinel struct{ _ [64]byte }

// paceGC starts pacing the GC as cfg says, unless the environment sets
// GOGC or GOMEMLIMIT (then it returns nil). Stop ends it.
func paceGC(cfg config.Runtime, getenv func(string) string, log *slog.Logger) *gcPacer {
	if ok, env := gcPacing(getenv); !ok {
		log.Info("gc: paced by the Go runtime as " + env + " says; runtime.gc_percent and gc_min_headroom_bytes are ignored")
		return nil
	}
	p := &gcPacer{percent: cfg.GCPercent, minHeadroom: cfg.GCMinHeadroomBytes,
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	p.mu.Lock()
	p.was = debug.SetGCPercent(p.percent)
	p.set = p.percent
	p.mu.Unlock()
	p.arm()
	return p
}

// stop ends the pacing and puts GOGC back as it was. A nil pacer (none
// started) does nothing.
func (p *gcPacer) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		debug.SetGCPercent(p.was)
	}
}

func (p *gcPacer) arm() {
	runtime.AddCleanup(new(gcSentinel), func(p *gcPacer) { p.afterGC() }, p)
}

// afterGC sets GOGC for the live heap the last collection left, and arms
// the next cycle's sentinel.
func (p *gcPacer) afterGC() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	metrics.Read(p.sample)
	if p.sample[0].Value.Kind() == metrics.KindUint64 {
		live := int64(min(p.sample[0].Value.Uint64(), math.MaxInt64))
		if want := gcPercentFor(live, p.percent, p.minHeadroom); want != p.set {
			debug.SetGCPercent(want)
			p.set = want
		}
	}
	p.arm()
}

// gcPercent is the GOGC the pacer set last (for tests).
func (p *gcPacer) gcPercent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.set
}
